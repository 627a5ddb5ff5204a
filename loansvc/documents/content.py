"""What a document says, as plain values: the callers fill these from the API's own answers (the
ledger's schedule of a loan, the simulation's result), so a PDF never computes a figure itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Row:
    """One installment, as the schedule endpoint returns it."""

    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    fees: Decimal
    total: Decimal
    balance: Decimal
    status: str | None = None  # a loan's: paid | overdue | due | partly_paid | upcoming


@dataclass(frozen=True)
class FeeTerm:
    """A fee of the contract or the offer, as its terms state it (an amount or a percent)."""

    name: str
    timing: str  # upfront | per_installment
    amount: Decimal | None = None
    percent: Decimal | None = None


@dataclass(frozen=True)
class ScheduleDoc:
    """A repayment schedule: a loan's (from the ledger) or a simulation's."""

    kind: str  # loan | simulation
    currency: str
    issued_on: date
    rows: tuple[Row, ...]
    total_principal: Decimal
    total_interest: Decimal
    total_fees: Decimal  # every fee: with the installments and upfront
    total_paid: Decimal  # everything the family pays
    apr_percent: Decimal | None  # as shown to people: 2 decimals
    eir_percent: Decimal | None
    principal: Decimal | None = None
    term: int | None = None
    frequency: str | None = None
    annual_rate_percent: Decimal | None = None
    interest_method: str | None = None
    upfront_fees: Decimal | None = None  # withheld from the disbursement(s)
    loan_id: str | None = None
    lender_name: str | None = None
    label: str | None = None
    # the schedule is a projection (a loan not yet disbursed): the whole amount paid out on this day
    projected_from: date | None = None
    warnings: tuple[str, ...] = ()  # the engine's warning codes (APR_ABOVE_CAP, FLAT_RATE_PROHIBITED...)
    rate_cap_percent: Decimal | None = None  # the cap the warnings name

    @property
    def installment_amounts(self) -> tuple[Decimal, ...]:
        return tuple(row.total for row in self.rows)

    @property
    def total_cost(self) -> Decimal:
        """The cost of the credit: interest and every fee (two totals the schedule states)."""
        return self.total_interest + self.total_fees


@dataclass(frozen=True)
class KeyFacts:
    """The one-page statement a family reads before signing."""

    schedule: ScheduleDoc
    fees: tuple[FeeTerm, ...] = ()
    late_fee: Decimal | None = None
    late_fee_after_days: int = 0
    late_fee_rule_known: bool = True  # False for a simulation: no lender's contract yet
    title_return_days: int | None = None
    complaints_hotline: str = ""
    allocation_order: tuple[str, ...] = ("penalty", "fees", "interest", "principal")  # () = not known
