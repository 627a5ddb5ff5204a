"""Affordability's inputs, policy and results, and their JSON snapshots (issue 4).

The household's cash lines and debts, the loan to simulate, the versioned policy and the
assessment it produces: frozen dataclasses that check and normalise what they are given, and
serialise to JSON-friendly dicts and back, so a stored assessment replays years later under its
recorded policy. Also the monthly equivalents of cash frequencies and currency conversion. The
engine that turns these into a decision is `loansvc.domain.affordability`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import MISSING, dataclass, fields, is_dataclass
from datetime import date
from decimal import Context, Decimal, InvalidOperation, localcontext
from enum import Enum
from typing import Any

from loansvc.domain.errors import InvalidInput
from loansvc.domain.money import MINOR_UNITS
from loansvc.domain.schedule import (
    MAX_AMOUNT,
    Amortization,
    DayCount,
    Fee,
    Frequency,
    InterestCalculation,
    InterestMethod,
    LoanTerms,
    validate_terms,
)

# Inputs are bounded (<= 1e15, <= 12 decimals), so at 100 digits no sum or product ever rounds;
# the only divisions that reach a figure are done on integers (the engine's _round_ratio).
_EXACT = Context(prec=100)
_PRESENT = Context(prec=34)  # the unrounded public helpers: Decimal128 precision, as in schedule
_EXTRA_PLACES = 50  # 1e15 with 50 decimals, times 12 x rate, stays inside the 100 digits
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


def _check_amount(value: Decimal, field: str, *, positive: bool = False, places: int = 12) -> None:
    """Finite, not negative (or positive), within bounds, at most `places` decimals."""
    if not value.is_finite() or value > MAX_AMOUNT:
        raise _bad(f"{field} must be a finite amount up to {MAX_AMOUNT:f}", field, "INVALID_AMOUNT")
    if value < 0 or (positive and value == 0):
        raise _bad(f"{field} must be {'> 0' if positive else '>= 0'}", field, "INVALID_AMOUNT")
    with localcontext(_EXACT):
        if value != value.quantize(Decimal(1).scaleb(-places)):
            raise _bad(f"{field} has more than {places} decimals", field, "INVALID_AMOUNT")


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
        # loans in loansvc arrive as unrounded monthly equivalents, often converted (riel into
        # dollars, weekly into monthly: 34 significant digits); at 100 digits they still sum exactly
        _check_amount(self.extra_debt_service, "extra_debt_service", places=_EXTRA_PLACES)
        if not isinstance(self.as_of, date):
            raise _bad("as_of must be a date", "as_of")
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


# every reason code an assessment can give (loansvc.domain.affordability words each one)
REASON_CODES = (
    "INCOME_NOT_POSITIVE",
    "NO_SURPLUS",
    "DSTI_ABOVE_MAX",
    "INSTALLMENT_EXCEEDS_SURPLUS",
    "INSTALLMENT_ABOVE_CAPACITY",
    "IDPOOR_REVIEW",
    "TOO_MANY_LENDERS",
    "STRESS_FAILS",
    "RATE_ABOVE_LEGAL_CAP",
)


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
    # reason codes that make approval wait for a loan officer's cleared review (2024 code of conduct:
    # a thorough repayment-capacity check of ID Poor households)
    needs_review: tuple[str, ...] = ("IDPOOR_REVIEW",)

    def __post_init__(self) -> None:
        if not isinstance(self.version, str) or not self.version.strip():
            raise _bad("version must be a non-empty string", "version", "INVALID_POLICY")
        _check_int(self.max_active_lenders, "max_active_lenders", 1)
        codes = self.needs_review
        if isinstance(codes, str) or not isinstance(codes, tuple | list):
            raise _bad("needs_review must be a list of reason codes", "needs_review", "INVALID_POLICY")
        unknown = [c for c in codes if c not in REASON_CODES]
        if unknown:
            raise _bad(f"needs_review: unknown reason code {unknown[0]!r}", "needs_review", "INVALID_POLICY")
        _set(self, "needs_review", tuple(codes))
        for f in fields(self):
            if f.name not in ("version", "max_active_lenders", "needs_review"):
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
