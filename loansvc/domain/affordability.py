"""Affordability: what a household can carry, and why (issue 4, policy kh-housing-2026.1).

Owns the cash-flow policy: monthly equivalents of incomes, expenses and debts, the surplus and
the capacity for a new installment, the largest loan that fits, DSTI, the decision with its
reasons, and the stress scenarios. Inputs, policy and result serialise to JSON-friendly dicts,
so a stored assessment replays under its recorded policy to the same answer years later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import MISSING, dataclass, fields, is_dataclass
from datetime import date
from decimal import ROUND_DOWN, Context, Decimal, InvalidOperation, localcontext
from enum import Enum
from typing import Any

from loansvc.domain.errors import InvalidInput
from loansvc.domain.money import MINOR_UNITS, quantum
from loansvc.domain.schedule import (
    MAX_AMOUNT,
    Amortization,
    DayCount,
    Fee,
    FeeTiming,
    Frequency,
    InterestCalculation,
    InterestMethod,
    LoanTerms,
    annuity_payment,
    build_schedule,
    validate_terms,
)

# Inputs are bounded (<= 1e15, <= 12 decimals), so at 100 digits no sum or product ever rounds;
# the only divisions that reach a figure are done on integers, in _round_ratio.
_EXACT = Context(prec=100)
_PRESENT = Context(prec=34)  # the unrounded public helpers: Decimal128 precision, as in schedule
_MAX_PLACES = Decimal("1e-12")
_PERCENT = Decimal("0.01")
_ZERO = Decimal(0)


class CashFrequency(str, Enum):
    DAILY = "daily"
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    EVERY_4_WEEKS = "every_4_weeks"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


# Monthly factors as exact fractions: each is a whole number of twelfths (daily: 365 / 12).
MONTHLY_FACTOR_FRACTIONS: dict[CashFrequency, tuple[int, int]] = {
    CashFrequency.DAILY: (365, 12),
    CashFrequency.WEEKLY: (52, 12),
    CashFrequency.BIWEEKLY: (26, 12),
    CashFrequency.EVERY_4_WEEKS: (13, 12),
    CashFrequency.MONTHLY: (1, 1),
    CashFrequency.QUARTERLY: (1, 3),
    CashFrequency.YEARLY: (1, 12),
}
_TWELFTHS = {f: 12 * n // d for f, (n, d) in MONTHLY_FACTOR_FRACTIONS.items()}
with localcontext(_PRESENT):  # for display; sums use the fractions and divide once
    MONTHLY_FACTORS: dict[CashFrequency, Decimal] = {
        f: Decimal(n) / Decimal(d) for f, (n, d) in MONTHLY_FACTOR_FRACTIONS.items()
    }

# The whole currency unit a maximum loan is rounded down to (1 elsewhere): riel prices go in hundreds.
LOAN_AMOUNT_STEPS: dict[str, Decimal] = {"KHR": Decimal(100)}


# ---------------------------------------------------------------- coercion, checks, snapshots


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)  # frozen dataclasses normalise in __post_init__


def _bad(message: str, field: str | None, code: str = "INVALID_INPUT") -> InvalidInput:
    return InvalidInput(message, code=code, field=field)


def _decimal(value: object, field: str) -> Decimal:
    """Decimal, int or decimal string; a float is a programming error, never money."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float | bool):
        raise TypeError(f"{field}: amounts travel as Decimal or strings, never float")
    try:
        return Decimal(value)  # type: ignore[arg-type]
    except (InvalidOperation, TypeError, ValueError):
        raise _bad(f"{field} must be a decimal number", field, "INVALID_DECIMAL") from None


def _enum(cls: type[Enum], value: object, field: str) -> Any:
    try:
        return value if isinstance(value, cls) else cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise _bad(f"{field} must be one of {allowed}", field, "INVALID_ENUM") from None


def _check_amount(value: Decimal, field: str, *, positive: bool = False) -> None:
    """Finite, not negative (or positive), within bounds, at most 12 decimals."""
    if not value.is_finite() or value > MAX_AMOUNT:
        raise _bad(f"{field} must be a finite amount up to {MAX_AMOUNT:f}", field, "INVALID_AMOUNT")
    if value < 0 or (positive and value == 0):
        raise _bad(f"{field} must be {'> 0' if positive else '>= 0'}", field, "INVALID_AMOUNT")
    with localcontext(_EXACT):
        if value != value.quantize(_MAX_PLACES):
            raise _bad(f"{field} has more than 12 decimals", field, "INVALID_AMOUNT")


def _check_int(value: object, field: str, low: int, high: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high and value > high):
        raise _bad(
            f"{field} must be a whole number {f'from {low} to {high}' if high else f'>= {low}'}", field
        )


def _check_currency(currency: object, field: str) -> None:
    if currency not in MINOR_UNITS:
        raise _bad(f"unknown currency {currency!r}", field, "UNKNOWN_CURRENCY")


@contextmanager
def _under(prefix: str, rename: dict[str, str] | None = None) -> Iterator[None]:
    """Re-raise InvalidInput with its field named from the caller's point of view."""
    try:
        yield
    except InvalidInput as e:
        name = (rename or {}).get(e.field or "", e.field)
        raise InvalidInput(e.message, code=e.code, field=f"{prefix}.{name}" if name else prefix) from None


def _json(value: Any) -> Any:
    """A dataclass as JSON-friendly values: Decimals as strings, enums as values, dates in ISO."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    if is_dataclass(value):
        return {f.name: _json(getattr(value, f.name)) for f in fields(value)}
    return value


def _make(cls: Any, d: object, prefix: str | None = None, **converted: Any) -> Any:
    """cls from a snapshot dict naming only its fields, and every field without a default."""
    with _under(prefix) if prefix else nullcontext():
        if not isinstance(d, dict):
            raise _bad(f"expected an object for {cls.__name__}", None)
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        for name in sorted(set(d) - {f.name for f in fields(cls)}):
            raise _bad(f"unknown field {name!r}", name, "UNKNOWN_FIELD")
        for name in sorted(required - set(d)):
            raise _bad(f"{name} is required", name, "MISSING_FIELD")
        return cls(**{**d, **converted})


# ---------------------------------------------------------------- currencies and monthly amounts


def _conversion(from_currency: str, to_currency: str, khr_per_usd: Decimal) -> tuple[Decimal, Decimal]:
    """(multiply, divide) taking an amount from one currency to the other."""
    if from_currency == to_currency:
        return Decimal(1), Decimal(1)
    if (from_currency, to_currency) == ("USD", "KHR"):
        return khr_per_usd, Decimal(1)
    if (from_currency, to_currency) == ("KHR", "USD"):
        return Decimal(1), khr_per_usd
    message = f"cannot convert {from_currency} to {to_currency}: only USD and KHR convert"
    raise _bad(message, "currency", "UNSUPPORTED_CONVERSION")


def to_currency(amount: Decimal, from_currency: str, to_currency: str, khr_per_usd: Decimal) -> Decimal:
    """`amount` in another currency at `khr_per_usd`, unrounded (34 digits for KHR -> USD)."""
    _check_currency(from_currency, "currency")
    _check_currency(to_currency, "currency")
    multiply, divide = _conversion(from_currency, to_currency, khr_per_usd)
    with localcontext(_PRESENT):
        return amount * multiply / divide


def monthly_amount(amount: Decimal, frequency: CashFrequency) -> Decimal:
    """The monthly equivalent, unrounded: one multiplication then one division (12 daily -> 365)."""
    numerator, denominator = MONTHLY_FACTOR_FRACTIONS[CashFrequency(frequency)]
    with localcontext(_PRESENT):
        return amount * numerator / denominator


def _round_ratio(numerator: Decimal, denominator: Decimal, step: Decimal, down: bool = False) -> Decimal:
    """numerator / denominator rounded once to a multiple of `step`, half-even (or down), on integers."""
    a, b = numerator.as_integer_ratio()
    c, d = (denominator * step).as_integer_ratio()
    whole = b * abs(c)
    units, rest = divmod(a * d * (1 if c > 0 else -1), whole)  # floor division, so rest >= 0
    if not down and (2 * rest > whole or (2 * rest == whole and units % 2)):
        units += 1
    return (Decimal(units) * step).quantize(step)


def _percent(part: Decimal, whole: Decimal) -> Decimal:
    return _round_ratio(part * 100, whole, _PERCENT)


def _monthly_installment(total: Decimal, frequency: Frequency, currency: str) -> Decimal:
    # an installment as a monthly equivalent: x periods per year / 12, rounded once to the minor
    # unit half-even (exact for monthly loans); loan_installment and max_loan_amount share it
    return _round_ratio(total * frequency.periods_per_year, Decimal(12), quantum(currency))


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class CashLine:
    label: str
    amount: Decimal
    frequency: CashFrequency
    currency: str | None = None  # None: the assessment's currency

    def __post_init__(self) -> None:
        _set(self, "amount", _decimal(self.amount, "amount"))
        _set(self, "frequency", _enum(CashFrequency, self.frequency, "frequency"))

    def to_dict(self) -> dict[str, Any]:
        return _json(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CashLine:
        return _make(cls, d)


@dataclass(frozen=True)
class DebtLine:
    lender: str
    installment: Decimal
    frequency: CashFrequency
    outstanding: Decimal
    currency: str | None = None

    def __post_init__(self) -> None:
        _set(self, "installment", _decimal(self.installment, "installment"))
        _set(self, "outstanding", _decimal(self.outstanding, "outstanding"))
        _set(self, "frequency", _enum(CashFrequency, self.frequency, "frequency"))

    def to_dict(self) -> dict[str, Any]:
        return _json(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DebtLine:
        return _make(cls, d)


@dataclass(frozen=True)
class LoanRequest:
    """The loan to simulate, in the assessment's currency; amount None asks only for the maximum."""

    amount: Decimal | None
    annual_rate_percent: Decimal
    term: int
    frequency: Frequency
    interest_method: InterestMethod = InterestMethod.DECLINING_BALANCE
    amortization: Amortization = Amortization.EQUAL_INSTALLMENTS
    grace_principal_periods: int = 0
    installment_multiple: Decimal | None = None
    fees: tuple[Fee, ...] = ()
    interest_calculation: InterestCalculation = InterestCalculation.PER_PERIOD
    day_count: DayCount = DayCount.ACTUAL_365

    def __post_init__(self) -> None:
        for name in ("amount", "annual_rate_percent", "installment_multiple"):
            if getattr(self, name) is not None:
                _set(self, name, _decimal(getattr(self, name), name))
        for name, cls in (
            ("frequency", Frequency),
            ("interest_method", InterestMethod),
            ("amortization", Amortization),
            ("interest_calculation", InterestCalculation),
            ("day_count", DayCount),
        ):
            _set(self, name, _enum(cls, getattr(self, name), name))
        _set(self, "fees", tuple(self.fees))

    def terms(self, principal: Decimal, currency: str, disbursement_date: date) -> LoanTerms:
        """The schedule engine's terms for `principal`, disbursed on `disbursement_date`."""
        return LoanTerms(
            principal=principal,
            currency=currency,
            annual_rate_percent=self.annual_rate_percent,
            term=self.term,
            frequency=self.frequency,
            disbursement_date=disbursement_date,
            interest_method=self.interest_method,
            amortization=self.amortization,
            interest_calculation=self.interest_calculation,
            day_count=self.day_count,
            grace_principal_periods=self.grace_principal_periods,
            installment_multiple=self.installment_multiple,
            fees=self.fees,
        )

    def to_dict(self) -> dict[str, Any]:
        return _json(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoanRequest:
        fees = d.get("fees", ()) if isinstance(d, dict) else ()
        return _make(cls, d, fees=tuple(_make(Fee, f, f"fees[{i}]") for i, f in enumerate(fees)))


@dataclass(frozen=True, kw_only=True)
class AssessmentInput:
    currency: str
    household_size: int
    idpoor_level: int  # 0 = not IDPoor; 1 (very poor) or 2 (poor)
    incomes: tuple[CashLine, ...]
    expenses: tuple[CashLine, ...]
    existing_debts: tuple[DebtLine, ...]  # declared by the household, at any lender
    loan: LoanRequest | None
    active_lenders: int = 0  # lenders in loansvc with an active loan to this household
    extra_debt_service: Decimal = _ZERO  # monthly installments of those loans, in `currency`
    as_of: date  # the disbursement date of simulated schedules

    def __post_init__(self) -> None:
        for name in ("incomes", "expenses", "existing_debts"):
            _set(self, name, tuple(getattr(self, name)))
        _set(self, "extra_debt_service", _decimal(self.extra_debt_service, "extra_debt_service"))
        _check_currency(self.currency, "currency")
        _check_int(self.household_size, "household_size", 1)
        _check_int(self.idpoor_level, "idpoor_level", 0, 2)
        _check_int(self.active_lenders, "active_lenders", 0)
        _check_amount(self.extra_debt_service, "extra_debt_service")
        if not isinstance(self.as_of, date):
            raise _bad("as_of must be a date", "as_of")
        if not self.incomes:
            raise _bad("declare at least one income, even of zero", "incomes", "NO_INCOMES")
        for group, amounts in (
            ("incomes", ("amount",)),
            ("expenses", ("amount",)),
            ("existing_debts", ("installment", "outstanding")),
        ):
            for i, line in enumerate(getattr(self, group)):
                for name in amounts:
                    _check_amount(getattr(line, name), f"{group}[{i}].{name}")
                if line.currency is not None:
                    field = f"{group}[{i}].currency"
                    _check_currency(line.currency, field)
                    try:
                        _conversion(line.currency, self.currency, Decimal(1))
                    except InvalidInput as e:
                        raise _bad(e.message, field, e.code) from None
        if self.loan is not None:
            probe = MAX_AMOUNT if self.loan.amount is None else self.loan.amount
            with _under("loan", {"principal": "amount"}):
                validate_terms(self.loan.terms(probe, self.currency, self.as_of))

    def to_dict(self) -> dict[str, Any]:
        return _json(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AssessmentInput:
        if not isinstance(d, dict):
            return _make(cls, d)
        converted: dict[str, Any] = {}
        for group, line_cls in (("incomes", CashLine), ("expenses", CashLine), ("existing_debts", DebtLine)):
            converted[group] = tuple(
                _make(line_cls, x, f"{group}[{i}]") for i, x in enumerate(d.get(group, ()))
            )
        if d.get("loan") is not None:
            with _under("loan"):
                converted["loan"] = LoanRequest.from_dict(d["loan"])
        if isinstance(d.get("as_of"), str):
            try:
                converted["as_of"] = date.fromisoformat(d["as_of"])
            except ValueError:
                raise _bad("as_of must be an ISO date", "as_of") from None
        return _make(cls, d, **converted)


@dataclass(frozen=True)
class Policy:
    """Every number of the policy, versioned; a version once used is never changed."""

    version: str = "kh-housing-2026.1"
    surplus_share: Decimal = Decimal("0.70")  # the installment takes at most 70 % of the surplus
    income_share: Decimal = Decimal("0.50")  # and at most 50 % of income less existing debt service
    max_dsti_percent: Decimal = Decimal("75")  # solvent up to 75 % (the sector's DSTI reading)
    max_active_lenders: int = 3  # TOO_MANY_LENDERS from this many lenders
    income_stress: Decimal = Decimal("0.80")  # income_minus_20pct
    fx_stress: Decimal = Decimal("0.90")  # fx_10pct_adverse
    rate_cap_percent: Decimal = Decimal("18")  # NBC Prakas B7-017-109 (2017)
    khr_per_usd: Decimal = Decimal("4100")

    def __post_init__(self) -> None:
        if not isinstance(self.version, str) or not self.version.strip():
            raise _bad("version must be a non-empty string", "version", "INVALID_POLICY")
        _check_int(self.max_active_lenders, "max_active_lenders", 1)
        for f in fields(self):
            if f.name not in ("version", "max_active_lenders"):
                value = _decimal(getattr(self, f.name), f.name)
                _set(self, f.name, value)
                _check_amount(value, f.name, positive=f.name != "rate_cap_percent")
                if f.name.endswith(("_share", "_stress")) and value > 1:
                    raise _bad(f"{f.name} is a share and must not exceed 1", f.name, "INVALID_POLICY")

    def to_dict(self) -> dict[str, Any]:
        return _json(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Policy:
        return _make(cls, d)


DEFAULT_POLICY = Policy()


# ---------------------------------------------------------------- result


@dataclass(frozen=True)
class Reason:
    code: str
    message: str


@dataclass(frozen=True)
class StressResult:
    scenario: str
    dsti_after_percent: Decimal | None  # None when the stressed income is zero or less
    surplus_after_loan: Decimal
    passes: bool


@dataclass(frozen=True)
class Assessment:
    policy_version: str
    currency: str
    monthly_income: Decimal
    monthly_expenses: Decimal
    monthly_debt_service: Decimal  # declared debts plus active loans in loansvc
    monthly_surplus: Decimal
    max_installment: Decimal
    max_loan_amount: Decimal | None  # None when no loan terms were given
    loan_installment: Decimal | None  # None when no loan amount was given
    dsti_before_percent: Decimal | None  # None when income is zero or less
    dsti_after_percent: Decimal | None
    decision: str  # eligible | refer | ineligible
    reasons: tuple[Reason, ...]
    stress: tuple[StressResult, ...]

    def to_dict(self) -> dict[str, Any]:
        return _json(self)


# ---------------------------------------------------------------- the largest loan that fits


_WALK_BUDGET = 10  # schedule builds walking down, level by level, before settling for an edge


def max_loan_amount(capacity: Decimal, loan: LoanRequest, currency: str, as_of: date) -> Decimal:
    """The largest amount, in whole units (1 USD, 100 KHR), whose schedule's largest installment,
    as a monthly equivalent (the figure loan_installment shows), is <= `capacity`; 0 when nothing fits.

    The result always fits and one unit more never does. The first installment after principal
    grace grows with the amount and bounds the largest one: an annuity-formula guess, one Newton
    step and a bisection find the largest amount whose first installment fits; walking down from
    there level by level (amounts sharing a level installment have a last installment that grows
    with the amount) finds the largest amount that fits. Only if that walk outlasts its budget
    (daily interest with principal grace: the last installment stays above the level) does it
    settle for the nearest such edge below, after a Newton step on the largest installment.
    """
    with _under("loan", {"principal": "amount"}):
        validate_terms(loan.terms(MAX_AMOUNT, currency, as_of))
    if capacity <= 0:
        return Decimal(0)
    step = LOAN_AMOUNT_STEPS.get(currency, Decimal(1))
    top = int(MAX_AMOUNT / step)
    seen: dict[int, tuple[Decimal, Decimal, Decimal] | None] = {}

    def probe(units: int) -> tuple[Decimal, Decimal, Decimal] | None:
        """The first installment after grace and the largest one, as monthly equivalents, and the
        first one's level (principal and interest: the same across a level's plateau)."""
        if units not in seen:
            try:
                schedule = build_schedule(loan.terms(units * step, currency, as_of))
            except InvalidInput as e:
                if e.field != "fees":
                    raise
                seen[units] = None  # the upfront fees would swallow it: too small to lend
            else:
                first = schedule.installments[loan.grace_principal_periods]
                largest = max(i.total for i in schedule.installments)
                first_monthly, largest_monthly = (
                    _monthly_installment(t, loan.frequency, currency) for t in (first.total, largest)
                )
                seen[units] = (first_monthly, largest_monthly, first.principal + first.interest)
        return seen[units]

    def level(units: int) -> Decimal | None:
        found = probe(units)
        return None if found is None else found[2]

    def under_bound(units: int) -> bool:  # monotone in units
        found = probe(units) if units > 0 else None
        return found is None or found[0] <= capacity

    def fits(units: int) -> bool:
        found = probe(units)
        return found is not None and found[1] <= capacity

    # the analytic slope: monthly installment per step of amount
    per_month = Decimal(loan.frequency.periods_per_year) / 12
    rate = loan.annual_rate_percent / 100 / loan.frequency.periods_per_year
    repaying = loan.term - loan.grace_principal_periods
    if loan.interest_method is InterestMethod.FLAT or loan.amortization is Amortization.EQUAL_PRINCIPAL:
        per_unit = 1 / Decimal(repaying) + rate
    else:
        per_unit = annuity_payment(Decimal(1), rate, repaying)
    per_installment = [f for f in loan.fees if f.timing is FeeTiming.PER_INSTALLMENT]
    per_unit += sum((f.percent / 100 for f in per_installment if f.percent is not None), _ZERO)
    fixed = sum((f.amount for f in per_installment if f.amount is not None), _ZERO) * per_month
    slope = per_unit * step * per_month

    guess = max(1, min(top, int((capacity - fixed) / slope)))
    found = probe(guess)
    if found is not None:  # one Newton step on the exact schedule
        guess += int((capacity - found[0]) / slope)
    # the largest amount whose first installment is within the capacity (a monotone bound)
    units = _edge_near(under_bound, guess, top)
    found = probe(units) if units > 0 else None
    if found is None:  # nothing, or the upfront fees swallow this amount and every smaller one
        return Decimal(0)
    if found[1] <= capacity:
        return units * step

    # walk down level by level: amounts sharing a level installment (many, with a coarse multiple)
    # have a last installment that grows with the amount and is smallest at the first of them
    budget = len(seen) + _WALK_BUDGET
    while len(seen) < budget:
        here = level(units)

        def other_level(u: int, here: Decimal | None = here) -> bool:
            return level(u) != here

        start = _edge(other_level, *_below(other_level, units)) + 1
        if fits(start):
            return _edge(fits, start, units) * step
        if start <= 1 or probe(start - 1) is None:
            return Decimal(0)
        units = start - 1
    # the last installment stays above the capacity level after level (daily interest): follow the
    # largest installment down with the annuity slope and settle for an edge, units fits, units + 1 not
    excess = probe(units)[1] - capacity  # type: ignore[index]
    return _edge_near(fits, units - int(excess / slope), units) * step


def _edge_near(holds: Callable[[int], bool], guess: int, top: int) -> int:
    """x <= top with holds(x) (or x == 0) and not holds(x + 1), galloping out from the guess."""
    guess = max(1, min(top, guess))
    if not holds(guess):
        return _edge(holds, *_below(holds, guess))
    lo, stride = guess, 1
    while lo + stride <= top and holds(lo + stride):
        lo, stride = lo + stride, stride * 2
    return _edge(holds, lo, min(lo + stride, top + 1))


def _below(holds: Callable[[int], bool], hi: int) -> tuple[int, int]:
    """Gallop down from `hi`, where `holds` fails, to a bracket (lo, hi): holds(lo) or lo == 0."""
    stride = 1
    while hi - stride >= 1 and not holds(hi - stride):
        hi, stride = hi - stride, stride * 2
    return max(0, hi - stride), hi


def _edge(holds: Callable[[int], bool], lo: int, hi: int) -> int:
    """Bisect a bracket (holds(lo) or lo == 0, not holds(hi)) to x with holds(x), not holds(x + 1)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if holds(mid) else (lo, mid)
    return lo


# ---------------------------------------------------------------- the assessment

_INELIGIBLE = ("INCOME_NOT_POSITIVE", "NO_SURPLUS", "DSTI_ABOVE_MAX", "INSTALLMENT_EXCEEDS_SURPLUS")
_MESSAGES = {
    "INCOME_NOT_POSITIVE": "The household's income comes to {income} a month. "
    "With no income there is nothing to repay a loan from.",
    "NO_SURPLUS": "Each month the household earns {income}, spends {expenses} and pays {debt} on existing "
    "debts, which leaves {left}. Nothing is left over to repay a loan.",
    "DSTI_ABOVE_MAX": "{payments} {dsti}% of the household's income of {income}; the policy allows at "
    "most {max_dsti}%.",
    "INSTALLMENT_EXCEEDS_SURPLUS": "The loan installment of {installment} a month is more than the household "
    "has left each month after expenses and existing debts ({surplus}).",
    "INSTALLMENT_ABOVE_CAPACITY": "The loan installment of {installment} a month is above the "
    "{max_installment} the household can safely pay: at most {surplus_share}% of its monthly surplus of "
    "{surplus}, and at most {income_share}% of its income less existing debt payments ({income_room}). "
    "{largest_loan}",
    "IDPOOR_REVIEW": "The household holds an IDPoor level {idpoor_level} card. The microfinance code of "
    "conduct asks for a thorough check of its repayment capacity, so a loan officer must review this loan.",
    "TOO_MANY_LENDERS": "The household already has loans with {lenders} lenders; the policy refers every "
    "household with {max_lenders} or more, to guard against over-indebtedness.",
    "STRESS_FAILS": "{failing}",
    "RATE_ABOVE_LEGAL_CAP": "The loan's interest rate of {rate}% a year is above the legal cap of "
    "{rate_cap}% a year for microfinance lending.",
}
_STRESS_MESSAGE = (
    "If {what}, bringing income to {stressed} a month, the household would have {left} after {paying}, "
    "and debt payments would take {share} (at most {max_dsti}% allowed)."
)


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def assess(inp: AssessmentInput, policy: Policy = DEFAULT_POLICY) -> Assessment:
    """Capacity, DSTI, the decision with its reasons, and the stress scenarios for one household."""
    with localcontext(_EXACT):
        return _assess(inp, policy)


def _assess(inp: AssessmentInput, policy: Policy) -> Assessment:
    cur, q, rate = inp.currency, quantum(inp.currency), policy.khr_per_usd
    den = 12 * rate  # every line's monthly value, times 12 x rate, is an exact Decimal

    def num(
        lines: tuple[CashLine, ...] | tuple[DebtLine, ...] | list[CashLine], attr: str = "amount"
    ) -> Decimal:
        total = _ZERO
        for line in lines:
            multiply, divide = _conversion(line.currency or cur, cur, rate)
            total += getattr(line, attr) * _TWELFTHS[line.frequency] * multiply * (rate / divide)
        return total

    foreign_lines = [i for i in inp.incomes if i.currency not in (None, cur)]
    home = num([i for i in inp.incomes if i.currency in (None, cur)])
    foreign = num(foreign_lines)
    income = _round_ratio(home + foreign, den, q)
    expenses = _round_ratio(num(inp.expenses), den, q)
    debt = _round_ratio(num(inp.existing_debts, "installment") + inp.extra_debt_service * den, den, q)
    surplus = income - expenses - debt
    income_room = policy.income_share * income - debt
    capacity = max(_ZERO, min(policy.surplus_share * surplus, income_room)).quantize(q, rounding=ROUND_DOWN)

    loan, max_loan, installment = inp.loan, None, None
    if loan is not None:
        max_loan = max_loan_amount(capacity, loan, cur, inp.as_of)
        if loan.amount is not None:
            with _under("loan", {"principal": "amount"}):
                schedule = build_schedule(loan.terms(loan.amount, cur, inp.as_of))
            installment = _monthly_installment(
                max(i.total for i in schedule.installments), loan.frequency, cur
            )
    paid = debt + (installment or _ZERO)  # without a loan amount: what the household already pays
    dsti_before = _percent(debt, income) if income > 0 else None
    dsti_after = _percent(paid, income) if income > 0 and installment is not None else None

    def money(amount: Decimal) -> str:
        return f"{cur} {amount:,f}"

    income_cut, fx_cut, max_dsti = (
        _plain(x)
        for x in ((1 - policy.income_stress) * 100, (1 - policy.fx_stress) * 100, policy.max_dsti_percent)
    )
    scenarios = [
        (
            f"income_minus_{income_cut}pct",
            f"all income fell by {income_cut}%",
            (home + foreign) * policy.income_stress,
        )
    ]
    if foreign_lines:
        what = f"incomes in other currencies lost {fx_cut}% of their value in {cur}"
        scenarios.append((f"fx_{fx_cut}pct_adverse", what, home + foreign * policy.fx_stress))
    stress, failing = [], []
    for name, what, stressed_num in scenarios:
        stressed = _round_ratio(stressed_num, den, q)
        after = stressed - expenses - debt - (installment or _ZERO)
        dsti = _percent(paid, stressed) if stressed > 0 else None
        passes = dsti is not None and dsti <= policy.max_dsti_percent and after >= 0
        stress.append(StressResult(name, dsti, after, passes))
        if not passes:
            failing.append(
                _STRESS_MESSAGE.format(
                    what=what,
                    stressed=money(stressed),
                    left=f"{money(after)} left" if after >= 0 else f"a shortfall of {money(-after)}",
                    paying="the loan and its other commitments"
                    if installment is not None
                    else "its commitments",
                    share="no income" if dsti is None else f"{dsti}% of income",
                    max_dsti=max_dsti,
                )
            )

    judged = dsti_after if installment is not None else dsti_before
    lenders = _active_lenders(inp)
    fired = {
        "INCOME_NOT_POSITIVE": income <= 0,
        "NO_SURPLUS": surplus <= 0,
        "DSTI_ABOVE_MAX": judged is not None and judged > policy.max_dsti_percent,
        "INSTALLMENT_EXCEEDS_SURPLUS": installment is not None and installment > surplus,
        "INSTALLMENT_ABOVE_CAPACITY": installment is not None and installment > capacity,
        "IDPOOR_REVIEW": inp.idpoor_level in (1, 2),
        "TOO_MANY_LENDERS": lenders >= policy.max_active_lenders,
        "STRESS_FAILS": bool(failing),
        "RATE_ABOVE_LEGAL_CAP": loan is not None and loan.annual_rate_percent > policy.rate_cap_percent,
    }
    figures = {
        "income": money(income),
        "expenses": money(expenses),
        "debt": money(debt),
        "surplus": money(surplus),
        "left": "nothing" if surplus == 0 else f"a shortfall of {money(-surplus)}",
        "payments": f"With this loan, debt payments of {money(paid)} a month would take"
        if installment is not None
        else f"Existing debt payments of {money(paid)} a month already take",
        "dsti": judged,
        "max_dsti": max_dsti,
        "installment": money(installment or _ZERO),
        "max_installment": money(capacity),
        "surplus_share": _plain(policy.surplus_share * 100),
        "income_share": _plain(policy.income_share * 100),
        "income_room": money(income_room.quantize(q, rounding=ROUND_DOWN)),
        "largest_loan": f"The largest loan on these terms that fits is {money(max_loan)}."
        if max_loan
        else "No loan on these terms fits.",
        "idpoor_level": inp.idpoor_level,
        "lenders": lenders,
        "max_lenders": policy.max_active_lenders,
        "failing": " ".join(failing),
        "rate": loan.annual_rate_percent if loan is not None else None,
        "rate_cap": _plain(policy.rate_cap_percent),
    }
    reasons = tuple(Reason(code, _MESSAGES[code].format(**figures)) for code, hit in fired.items() if hit)
    if any(fired[code] for code in _INELIGIBLE):
        decision = "ineligible"
    else:
        decision = "refer" if reasons else "eligible"
    return Assessment(
        policy_version=policy.version,
        currency=cur,
        monthly_income=income,
        monthly_expenses=expenses,
        monthly_debt_service=debt,
        monthly_surplus=surplus,
        max_installment=capacity,
        max_loan_amount=max_loan,
        loan_installment=installment,
        dsti_before_percent=dsti_before,
        dsti_after_percent=dsti_after,
        decision=decision,
        reasons=reasons,
        stress=tuple(stress),
    )


def _active_lenders(inp: AssessmentInput) -> int:
    """Distinct declared lenders still owed or paid, plus lenders in loansvc. An unnamed declared
    debt counts as a lender of its own; the caller must not declare a loansvc loan twice."""
    named, unnamed = set(), 0
    for debt in inp.existing_debts:
        if debt.installment > 0 or debt.outstanding > 0:
            key = debt.lender.strip().casefold()
            if key:
                named.add(key)
            else:
                unnamed += 1
    return len(named) + unnamed + inp.active_lenders
