"""Loan terms: the vocabulary of a repayment schedule (frequency, interest method, grace,
fees, tranches) and the checks that refuse terms no schedule can honour.

`loansvc.domain.schedule` re-exports every public name here; callers import from there.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum

from loansvc.domain.dates import NO_CALENDAR, Calendar, add_months
from loansvc.domain.errors import InvalidInput
from loansvc.domain.money import Rounding, quantum

# Bounds that keep every computation finite and fast; far beyond any housing loan.
MAX_TERM = 2400
MAX_AMOUNT = Decimal("1e15")
MAX_RATE_PERCENT = Decimal(10000)


class Frequency(str, Enum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    EVERY_4_WEEKS = "every_4_weeks"
    BIWEEKLY = "biweekly"
    WEEKLY = "weekly"

    @property
    def periods_per_year(self) -> int:
        return _PERIODS_PER_YEAR[self]

    @property
    def step(self) -> tuple[int, int]:
        """(months, days) one period moves a due date; exactly one of them is non-zero."""
        return _STEPS[self]


_PERIODS_PER_YEAR = {
    Frequency.MONTHLY: 12,
    Frequency.QUARTERLY: 4,
    Frequency.EVERY_4_WEEKS: 13,
    Frequency.BIWEEKLY: 26,
    Frequency.WEEKLY: 52,
}
_STEPS = {
    Frequency.MONTHLY: (1, 0),
    Frequency.QUARTERLY: (3, 0),
    Frequency.EVERY_4_WEEKS: (0, 28),
    Frequency.BIWEEKLY: (0, 14),
    Frequency.WEEKLY: (0, 7),
}


class InterestMethod(str, Enum):
    DECLINING_BALANCE = "declining_balance"
    FLAT = "flat"


class Amortization(str, Enum):
    EQUAL_INSTALLMENTS = "equal_installments"
    EQUAL_PRINCIPAL = "equal_principal"


class InterestCalculation(str, Enum):
    PER_PERIOD = "per_period"
    DAILY = "daily"


class DayCount(str, Enum):
    ACTUAL_365 = "actual/365"
    ACTUAL_360 = "actual/360"
    ACTUAL_ACTUAL = "actual/actual"
    THIRTY_360 = "30/360"


class FeeTiming(str, Enum):
    UPFRONT = "upfront"
    PER_INSTALLMENT = "per_installment"


def _enum(cls: type[Enum], value: object, field: str) -> Enum:
    if isinstance(value, cls):
        return value
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise InvalidInput(f"{field} must be one of {allowed}", code="INVALID_ENUM", field=field) from None


def _decimal(value: object, field: str) -> Decimal:
    """Accept Decimal, int or a decimal string; a float is a programming error, never money."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float | bool):
        raise TypeError(f"{field}: amounts and rates travel as Decimal, never float")
    try:
        return Decimal(value)  # type: ignore[arg-type]
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInput(f"{field} must be a decimal number", code="INVALID_DECIMAL", field=field) from None


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)  # frozen dataclasses normalise in __post_init__


@dataclass(frozen=True)
class Fee:
    name: str
    timing: FeeTiming
    amount: Decimal | None = None
    percent: Decimal | None = None  # of the principal, rounded to the minor unit with the terms' rounding

    def __post_init__(self) -> None:
        _set(self, "timing", _enum(FeeTiming, self.timing, "fees.timing"))
        if self.amount is not None:
            _set(self, "amount", _decimal(self.amount, "fees.amount"))
        if self.percent is not None:
            _set(self, "percent", _decimal(self.percent, "fees.percent"))


@dataclass(frozen=True)
class Tranche:
    date: date
    amount: Decimal

    def __post_init__(self) -> None:
        _set(self, "amount", _decimal(self.amount, "tranches.amount"))


@dataclass(frozen=True)
class LoanTerms:
    principal: Decimal
    currency: str
    annual_rate_percent: Decimal
    term: int
    frequency: Frequency
    disbursement_date: date
    interest_method: InterestMethod = InterestMethod.DECLINING_BALANCE
    amortization: Amortization = Amortization.EQUAL_INSTALLMENTS
    interest_calculation: InterestCalculation = InterestCalculation.PER_PERIOD
    day_count: DayCount = DayCount.ACTUAL_365
    first_repayment_date: date | None = None
    grace_principal_periods: int = 0
    grace_interest_periods: int = 0
    interest_free_periods: int = 0
    installment_multiple: Decimal | None = None
    rounding: Rounding = Rounding.HALF_EVEN
    fees: tuple[Fee, ...] = ()
    tranches: tuple[Tranche, ...] = ()
    # due dates landing on a holiday or a non-working day move by the calendar's rule
    calendar: Calendar = NO_CALENDAR

    def __post_init__(self) -> None:
        # strings from a CLI or a test become enums and Decimals here, once
        _set(self, "principal", _decimal(self.principal, "principal"))
        _set(self, "annual_rate_percent", _decimal(self.annual_rate_percent, "annual_rate_percent"))
        _set(self, "frequency", _enum(Frequency, self.frequency, "frequency"))
        _set(self, "interest_method", _enum(InterestMethod, self.interest_method, "interest_method"))
        _set(self, "amortization", _enum(Amortization, self.amortization, "amortization"))
        _set(
            self,
            "interest_calculation",
            _enum(InterestCalculation, self.interest_calculation, "interest_calculation"),
        )
        _set(self, "day_count", _enum(DayCount, self.day_count, "day_count"))
        _set(self, "rounding", _enum(Rounding, self.rounding, "rounding"))
        if self.installment_multiple is not None:
            _set(self, "installment_multiple", _decimal(self.installment_multiple, "installment_multiple"))
        if not isinstance(self.fees, tuple):
            _set(self, "fees", tuple(self.fees))
        if not isinstance(self.tranches, tuple):
            _set(self, "tranches", tuple(self.tranches))


def _bad(message: str, field: str, code: str = "INVALID_TERMS") -> InvalidInput:
    return InvalidInput(message, code=code, field=field)


def _check_amount(value: Decimal, field: str, q: Decimal, *, allow_zero: bool = False) -> None:
    """A finite amount, positive (or zero), within bounds and in the currency's minor unit."""
    if not value.is_finite():
        raise _bad(f"{field} must be a finite decimal", field)
    if value < 0 or (value == 0 and not allow_zero):
        raise _bad(f"{field} must be {'>= 0' if allow_zero else '> 0'}", field)
    if value > MAX_AMOUNT:
        raise _bad(f"{field} must not exceed {MAX_AMOUNT:f}", field)
    if value != value.quantize(q):
        raise _bad(f"{field} has more decimals than the currency's minor unit ({q})", field)


def _check_count(value: int, field: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _bad(f"{field} must be a whole number >= 0", field)


def due_dates(terms: LoanTerms) -> list[date]:
    """Installment due dates, each one anchor plus k periods (never chained)."""
    months, days = terms.frequency.step
    if terms.first_repayment_date is not None:
        anchor, offset = terms.first_repayment_date, 0
    else:
        anchor, offset = terms.disbursement_date, 1
    if months:
        nominal = [add_months(anchor, months * (k + offset)) for k in range(terms.term)]
    else:
        nominal = [anchor + timedelta(days=days * (k + offset)) for k in range(terms.term)]
    if terms.calendar.rule == "same_day":
        return nominal
    return [terms.calendar.move(d) for d in nominal]


def check_terms(terms: LoanTerms) -> list[date]:
    """Refuse terms no schedule can honour (InvalidInput naming the field); return the due dates."""
    q = quantum(terms.currency)  # raises UNKNOWN_CURRENCY naming "currency"
    _check_amount(terms.principal, "principal", q)
    rate = terms.annual_rate_percent
    if not rate.is_finite() or rate < 0 or rate > MAX_RATE_PERCENT:
        raise _bad(f"annual_rate_percent must be between 0 and {MAX_RATE_PERCENT}", "annual_rate_percent")
    n = terms.term
    if not isinstance(n, int) or isinstance(n, bool) or n < 1 or n > MAX_TERM:
        raise _bad(f"term must be a whole number of repayments from 1 to {MAX_TERM}", "term")
    for field in ("grace_principal_periods", "grace_interest_periods", "interest_free_periods"):
        _check_count(getattr(terms, field), field)
    if terms.grace_principal_periods >= n:
        raise _bad(
            "principal grace must leave at least one installment to repay principal",
            "grace_principal_periods",
        )
    if terms.grace_interest_periods >= n:
        raise _bad(
            "interest grace must leave an installment to collect the deferred interest",
            "grace_interest_periods",
        )
    if terms.interest_free_periods > n:
        raise _bad("interest_free_periods cannot exceed the term", "interest_free_periods")
    multiple = terms.installment_multiple
    if multiple is not None:
        if not multiple.is_finite() or multiple <= 0 or multiple > MAX_AMOUNT:
            raise _bad("installment_multiple must be > 0", "installment_multiple")
        if multiple % q != 0:
            raise _bad(
                f"installment_multiple must be a multiple of the minor unit {q}", "installment_multiple"
            )
    disbursed = terms.disbursement_date
    first = terms.first_repayment_date
    if first is not None and first <= disbursed:
        raise _bad("first_repayment_date must be after the disbursement date", "first_repayment_date")
    try:
        dues = due_dates(terms)
    except (OverflowError, ValueError):
        raise _bad("the last installment would fall beyond the calendar", "term") from None
    _check_fees(terms, q)
    _check_tranches(terms, q, dues)
    return dues


def fee_amount(fee: Fee, principal: Decimal, q: Decimal, rounding: Rounding) -> Decimal:
    """A fee in money: its amount, or its percent of the principal rounded to the minor unit."""
    if fee.amount is not None:
        return fee.amount.quantize(q)
    return (principal * fee.percent / 100).quantize(q, rounding=rounding.decimal_mode)  # type: ignore[operator]


def _check_fees(terms: LoanTerms, q: Decimal) -> None:
    upfront = Decimal(0)
    for i, fee in enumerate(terms.fees):
        if (fee.amount is None) == (fee.percent is None):
            raise _bad("a fee has exactly one of amount and percent", f"fees[{i}]")
        if fee.amount is not None:
            _check_amount(fee.amount, f"fees[{i}].amount", q, allow_zero=True)
        elif not fee.percent.is_finite() or fee.percent < 0 or fee.percent > 100:  # type: ignore[union-attr]
            raise _bad("a fee percent must be between 0 and 100", f"fees[{i}].percent")
        if fee.timing is FeeTiming.UPFRONT:
            upfront += fee_amount(fee, terms.principal, q, terms.rounding)
    if upfront >= terms.principal:
        raise _bad("upfront fees must leave the borrower something to receive", "fees")


def _check_tranches(terms: LoanTerms, q: Decimal, dues: list[date]) -> None:
    if terms.tranches and terms.interest_method is InterestMethod.FLAT:
        raise _bad("tranches cannot be combined with flat interest", "tranches")
    per_period = terms.interest_calculation is InterestCalculation.PER_PERIOD
    for i, tranche in enumerate(terms.tranches):
        _check_amount(tranche.amount, f"tranches[{i}].amount", q)
        when = tranche.date
        field = f"tranches[{i}].date"
        if when < terms.disbursement_date:
            raise _bad("a tranche cannot be disbursed before the loan", field)
        # on the last due date it would join after the last installment: nothing would repay it
        if when >= dues[-1]:
            raise _bad("a tranche must be disbursed before the last due date", field)
        if per_period and when != terms.disbursement_date:
            k = bisect_left(dues, when)
            if dues[k] != when:
                raise _bad(
                    "with per_period interest a tranche must fall on the disbursement date or a due date",
                    field,
                    code="TRANCHE_OFF_DUE_DATE",
                )
