"""Arrears: days past due, overdue amounts, aging buckets, the NBC loan classification and its
provisions, and the PAR test, for one loan as of any date.

The installments given are what the loan owed and what had been paid *as of* that date: any
object with the fields of `Owed` will do, and `loansvc.domain.repayments.InstallmentState`
has them (`repayments.states_as_of` gives the states at a past date).

Classification follows the NBC Prakas on Credit Risk Grading and Impairment Provisioning
(Dec 2017) as secondary sources report it, with every figure in `ArrearsPolicy` so it can be
configured (see ../shared/domain.md for the table).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from types import MappingProxyType
from typing import Protocol

from loansvc.domain.errors import InvalidInput
from loansvc.domain.money import round_money
from loansvc.domain.terms import Frequency

__all__ = [
    "BUCKETS",
    "CLASSES",
    "DEFAULT_ARREARS_POLICY",
    "ArrearsPolicy",
    "LoanArrears",
    "Owed",
    "OwedInstallment",
    "aging_bucket",
    "at_risk",
    "classify",
    "days_past_due",
    "loan_arrears",
    "overdue_amount",
    "provision",
    "term_in_months",
]

BUCKETS = ("current", "1-30", "31-60", "61-90", "91-180", "181-365", "365+")
# the first dpd of each bucket after "current"
_BUCKET_STARTS = (1, 31, 61, 91, 181, 366)

CLASSES = ("normal", "special_mention", "substandard", "doubtful", "loss")

_DEFAULT_PROVISIONS = {
    "normal": Decimal(1),
    "special_mention": Decimal(3),
    "substandard": Decimal(20),
    "doubtful": Decimal(50),
    "loss": Decimal(100),
}


def _decimal(value: object, name: str) -> Decimal:
    if isinstance(value, float):
        raise TypeError("a provision rate never passes through a float; use Decimal or a string")
    try:
        number = Decimal(value)  # type: ignore[arg-type]
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInput(f"{name} is not a number: {value!r}", field=name) from None
    if not number.is_finite():
        raise InvalidInput(f"{name} is not a number: {value!r}", field=name)
    return number


def _bounds(value: object, name: str) -> tuple[int, int, int, int]:
    bounds = tuple(value)  # type: ignore[call-overload]
    if (
        len(bounds) != 4
        or not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)
        or bounds[0] < 1
        or any(a >= b for a, b in pairwise(bounds))
    ):
        message = f"{name} must be four increasing whole numbers of days from 1: {value!r}"
        raise InvalidInput(message, code="INVALID_ARREARS_POLICY", field=name)
    return bounds  # type: ignore[return-value]


@dataclass(frozen=True)
class ArrearsPolicy:
    """The classification rules; every figure configurable.

    short_term_max_months: a loan whose original term is at most this many months is graded on
    the short-term table (the caller converts its term with `term_in_months`).
    *_bounds: the days past due from which special_mention, substandard, doubtful and loss start.
    provision_percent: per class, of the outstanding principal.
    non_performing_dpd: from this many days past due a loan is non-performing.
    """

    short_term_max_months: int = 12
    short_term_bounds: tuple[int, int, int, int] = (15, 31, 61, 91)
    long_term_bounds: tuple[int, int, int, int] = (30, 90, 180, 360)
    # read-only once built; left out of the hash, as a mapping has none
    provision_percent: Mapping[str, Decimal] = field(
        default_factory=lambda: dict(_DEFAULT_PROVISIONS), hash=False
    )
    non_performing_dpd: int = 90
    # a restructured loan is at least special_mention until it has paid this many installments of
    # its new schedule on time, one after the other (restructuring must not hide risk)
    restructured_watch_installments: int = 3

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise through the back door, once, here
        set_(self, "short_term_bounds", _bounds(self.short_term_bounds, "short_term_bounds"))
        set_(self, "long_term_bounds", _bounds(self.long_term_bounds, "long_term_bounds"))
        for name in ("short_term_max_months", "non_performing_dpd"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                message = f"{name} must be a whole number from 1: {value!r}"
                raise InvalidInput(message, code="INVALID_ARREARS_POLICY", field=name)
        given = dict(self.provision_percent)
        if set(given) != set(CLASSES):
            message = f"provision_percent must give exactly the classes {', '.join(CLASSES)}"
            raise InvalidInput(message, code="INVALID_ARREARS_POLICY", field="provision_percent")
        percents = {k: _decimal(given[k], f"provision_percent.{k}") for k in CLASSES}
        if any(not 0 <= p <= 100 for p in percents.values()):
            message = "each provision_percent must be between 0 and 100"
            raise InvalidInput(message, code="INVALID_ARREARS_POLICY", field="provision_percent")
        set_(self, "provision_percent", MappingProxyType(percents))

    def to_dict(self) -> dict:
        """JSON-ready: rates as strings, as every number that must stay exact."""
        return {
            "short_term_max_months": self.short_term_max_months,
            "short_term_bounds": list(self.short_term_bounds),
            "long_term_bounds": list(self.long_term_bounds),
            "provision_percent": {k: str(self.provision_percent[k]) for k in CLASSES},
            "non_performing_dpd": self.non_performing_dpd,
            "restructured_watch_installments": self.restructured_watch_installments,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> ArrearsPolicy:
        """The policy from `to_dict`'s shape; a missing key keeps its default, an unknown key is
        refused (a misspelt setting silently ignored would grade loans on the wrong table)."""
        known = {
            "short_term_max_months",
            "short_term_bounds",
            "long_term_bounds",
            "provision_percent",
            "non_performing_dpd",
            "restructured_watch_installments",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            message = f"unknown arrears policy settings: {', '.join(unknown)}"
            raise InvalidInput(message, code="INVALID_ARREARS_POLICY", field=unknown[0])
        fields = dict(data)
        for name in ("short_term_bounds", "long_term_bounds"):
            if name in fields:
                fields[name] = tuple(fields[name])
        return cls(**fields)


DEFAULT_ARREARS_POLICY = ArrearsPolicy()


class OwedInstallment(Protocol):
    """What arrears need of an installment: what it owes and what was paid on it as of the date."""

    @property
    def due_date(self) -> date: ...
    @property
    def principal_due(self) -> Decimal: ...
    @property
    def interest_due(self) -> Decimal: ...
    @property
    def fees_due(self) -> Decimal: ...
    @property
    def penalty_due(self) -> Decimal: ...
    @property
    def principal_paid(self) -> Decimal: ...
    @property
    def interest_paid(self) -> Decimal: ...
    @property
    def fees_paid(self) -> Decimal: ...
    @property
    def penalty_paid(self) -> Decimal: ...


@dataclass(frozen=True)
class Owed:
    """An installment owed and paid as of a date, for callers without an InstallmentState
    (e.g. rows read from the schedule table)."""

    number: int
    due_date: date
    principal_due: Decimal
    interest_due: Decimal
    fees_due: Decimal
    penalty_due: Decimal = Decimal(0)
    principal_paid: Decimal = Decimal(0)
    interest_paid: Decimal = Decimal(0)
    fees_paid: Decimal = Decimal(0)
    penalty_paid: Decimal = Decimal(0)


_PARTS = ("principal", "interest", "fees", "penalty")


def _unpaid(installment: OwedInstallment) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(principal, interest, fees, penalty) still owed on an installment."""
    parts = tuple(getattr(installment, f"{p}_due") - getattr(installment, f"{p}_paid") for p in _PARTS)
    if any(part < 0 for part in parts):
        message = f"installment due {installment.due_date} is paid beyond what it owes"
        raise InvalidInput(message, code="OVERPAID_INSTALLMENT")
    return parts  # type: ignore[return-value]


def _overdue(installments: Sequence[OwedInstallment], as_of: date):
    """The installments late at the end of `as_of` (due before it, something unpaid), with
    what each still owes. An installment due on as_of can still be paid that day."""
    late = []
    for installment in installments:
        if installment.due_date < as_of:
            parts = _unpaid(installment)
            if any(parts):
                late.append((installment, parts))
    return late


def days_past_due(installments: Sequence[OwedInstallment], as_of: date) -> int:
    """Days the oldest late installment has been late: (as_of - its due date).days, so 1 the day
    after its due date; 0 when nothing is late (an installment due on as_of is not yet late)."""
    late = _overdue(installments, as_of)
    if not late:
        return 0
    return (as_of - min(inst.due_date for inst, _ in late)).days


def overdue_amount(installments: Sequence[OwedInstallment], as_of: date) -> Decimal:
    """Everything unpaid on the installments due before `as_of`."""
    return sum((sum(parts) for _, parts in _overdue(installments, as_of)), Decimal(0))


def aging_bucket(dpd: int) -> str:
    """current (0), 1-30, 31-60, 61-90, 91-180, 181-365 (365 itself included), 365+ (366 on)."""
    if dpd < 0:
        raise InvalidInput(f"days past due cannot be negative: {dpd}", field="days_past_due")
    return BUCKETS[sum(1 for start in _BUCKET_STARTS if dpd >= start)]


def classify(dpd: int, term_months: int | Decimal, policy: ArrearsPolicy = DEFAULT_ARREARS_POLICY) -> str:
    """The NBC class for `dpd` days past due, on the short-term table when the loan's original
    term is at most policy.short_term_max_months months, on the long-term table otherwise."""
    if dpd < 0:
        raise InvalidInput(f"days past due cannot be negative: {dpd}", field="days_past_due")
    if term_months <= 0:
        raise InvalidInput(f"the term must be positive: {term_months}", field="term_months")
    short = term_months <= policy.short_term_max_months
    bounds = policy.short_term_bounds if short else policy.long_term_bounds
    return CLASSES[sum(1 for start in bounds if dpd >= start)]


def provision(
    outstanding_principal: Decimal,
    klass: str,
    currency: str,
    policy: ArrearsPolicy = DEFAULT_ARREARS_POLICY,
) -> Decimal:
    """The provision for a loan of class `klass`: its percent of the outstanding principal,
    rounded half-even to the minor unit."""
    if klass not in CLASSES:
        raise InvalidInput(f"unknown loan class {klass!r}", code="UNKNOWN_LOAN_CLASS", field="class")
    if outstanding_principal < 0:
        raise InvalidInput("the outstanding principal cannot be negative", field="outstanding_principal")
    return round_money(outstanding_principal * policy.provision_percent[klass] / 100, currency)


def at_risk(dpd: int, days: int) -> bool:
    """Whether a loan counts in PAR`days` (SEEP): some installment *more than* `days` late, so a
    loan 30 days late is in PAR1 but not yet in PAR30."""
    return dpd > days


def term_in_months(term: int, frequency: str | Frequency) -> Decimal:
    """A term of `term` periods in months: 1 a month, 3 a quarter, 12/13 every 4 weeks, 12/26
    a fortnight, 12/52 a week. One division, so a whole year (13 x 4 weeks, 52 weeks) is
    exactly 12 and the short-term test never trips on a rounding."""
    try:
        periods_per_year = Frequency(frequency).periods_per_year
    except ValueError:
        raise InvalidInput(f"unknown frequency {frequency!r}", field="frequency") from None
    if term < 1:
        raise InvalidInput(f"the term must be positive: {term}", field="term")
    return Decimal(term * 12) / Decimal(periods_per_year)


@dataclass(frozen=True)
class LoanArrears:
    as_of: date
    days_past_due: int
    overdue_amount: Decimal
    overdue_principal: Decimal
    overdue_interest: Decimal
    overdue_fees: Decimal
    overdue_penalty: Decimal
    bucket: str
    classification: str
    provision_percent: Decimal
    provision: Decimal
    non_performing: bool


def loan_arrears(
    installments: Sequence[OwedInstallment],
    outstanding_principal: Decimal,
    term_months: int | Decimal,
    currency: str,
    as_of: date,
    policy: ArrearsPolicy = DEFAULT_ARREARS_POLICY,
    *,
    on_watch: bool = False,
) -> LoanArrears:
    """One loan's arrears at the end of `as_of`; `installments` as owed and paid on that date.
    `on_watch`: a restructured loan not yet past its watch: at least special_mention."""
    late = _overdue(installments, as_of)
    zero = round_money(Decimal(0), currency)
    principal, interest, fees, penalty = (sum((parts[k] for _, parts in late), zero) for k in range(4))
    dpd = (as_of - min(inst.due_date for inst, _ in late)).days if late else 0
    klass = classify(dpd, term_months, policy)
    if on_watch and klass == CLASSES[0]:
        klass = CLASSES[1]
    return LoanArrears(
        as_of=as_of,
        days_past_due=dpd,
        overdue_amount=principal + interest + fees + penalty,
        overdue_principal=principal,
        overdue_interest=interest,
        overdue_fees=fees,
        overdue_penalty=penalty,
        bucket=aging_bucket(dpd),
        classification=klass,
        provision_percent=policy.provision_percent[klass],
        provision=provision(outstanding_principal, klass, currency, policy),
        non_performing=dpd >= policy.non_performing_dpd,
    )
