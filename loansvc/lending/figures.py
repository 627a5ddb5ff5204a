"""Every derived figure of one loan as of a date, from its stored position and what happened after.

The stored position is what the ledger keeps current with each movement: the loan row (disbursed,
principal repaid, written off, credit, recovered) and the paid parts of each installment of the
current schedule version. As of an earlier date, the movements dated after it are taken back out
(allocations, tranches, recoveries), so the same loan reads alike on every endpoint, for today or
for a report of last month. Pure: the caller loads the rows (see `loansvc.lending.repository`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from loansvc.domain import arrears as arrears_engine
from loansvc.domain.arrears import DEFAULT_ARREARS_POLICY, ArrearsPolicy, LoanArrears
from loansvc.domain.money import round_money
from loansvc.lending.terms import LoanTerms, has_terms, terms_of

PARTS = ("principal", "interest", "fees", "penalty")
ZERO = Decimal(0)


@dataclass(frozen=True)
class Later:
    """What happened to a loan after the as-of date, to be taken back out of its stored position:
    per installment number, the (principal, interest, fees, penalty) paid later; the tranches
    disbursed later; the recoveries received later; the credit added later."""

    paid: dict[int, tuple[Decimal, Decimal, Decimal, Decimal]] = field(default_factory=dict)
    disbursed: Decimal = ZERO
    recovered: Decimal = ZERO
    paid_total: Decimal = ZERO  # every non-reversed repayment dated later (credit included)
    capitalised: Decimal = ZERO  # made principal by restructures effective later


@dataclass(frozen=True)
class InstallmentView:
    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    fees: Decimal
    penalty: Decimal
    total: Decimal
    balance: Decimal
    paid_principal: Decimal
    paid_interest: Decimal
    paid_fees: Decimal
    paid_penalty: Decimal
    status: str  # paid | overdue | due | partly_paid | upcoming

    # the names domain.arrears reads
    @property
    def principal_due(self) -> Decimal:
        return self.principal

    @property
    def interest_due(self) -> Decimal:
        return self.interest

    @property
    def fees_due(self) -> Decimal:
        return self.fees

    @property
    def penalty_due(self) -> Decimal:
        return self.penalty

    @property
    def principal_paid(self) -> Decimal:
        return self.paid_principal

    @property
    def interest_paid(self) -> Decimal:
        return self.paid_interest

    @property
    def fees_paid(self) -> Decimal:
        return self.paid_fees

    @property
    def penalty_paid(self) -> Decimal:
        return self.paid_penalty

    @property
    def paid(self) -> Decimal:
        return self.paid_principal + self.paid_interest + self.paid_fees + self.paid_penalty

    @property
    def owed(self) -> Decimal:
        return self.total + self.penalty

    @property
    def remaining(self) -> Decimal:
        return self.owed - self.paid


@dataclass(frozen=True)
class LoanFigures:
    loan_id: str
    as_of: date
    currency: str
    status: str
    disbursed: Decimal
    principal_paid: Decimal
    written_off_principal: Decimal
    outstanding_principal: Decimal
    total_paid: Decimal
    credit_balance: Decimal
    recovered_amount: Decimal
    installments: tuple[InstallmentView, ...]
    next_installment: InstallmentView | None
    arrears: LoanArrears

    @property
    def days_past_due(self) -> int:
        return self.arrears.days_past_due

    @property
    def overdue_amount(self) -> Decimal:
        return self.arrears.overdue_amount

    @property
    def closed(self) -> bool:
        return self.status == "closed"

    @property
    def written_off(self) -> bool:
        return self.status == "written_off"

    @property
    def in_credit(self) -> bool:
        return self.credit_balance > 0


def _status(due_date: date, paid: Decimal, remaining: Decimal, as_of: date) -> str:
    if remaining <= 0:
        return "paid"
    if due_date < as_of:
        return "overdue"
    if due_date == as_of:
        return "due"
    return "partly_paid" if paid > 0 else "upcoming"


def late_fee_as_of(row, terms: LoanTerms | None, as_of: date) -> Decimal:
    """The late fee an installment owes at the end of `as_of`: once past its grace days while not
    fully paid. The ledger charges it (stores it on the installment) with the next payment; reads
    show it from the day it applies. An installment owing nothing (a 0 % grace one) is never late."""
    if terms is None or not terms.late_fee or row.total <= 0:
        return ZERO
    if row.due_date + timedelta(days=terms.late_fee_after_days) >= as_of:
        return ZERO
    if row.penalty > 0:
        return row.penalty
    settled = row.fully_paid_on is not None and row.fully_paid_on <= as_of
    return ZERO if settled else terms.late_fee


def installment_views(
    rows: Iterable, as_of: date, later: Later, terms: LoanTerms | None, currency: str
) -> tuple[InstallmentView, ...]:
    views = []
    q = round_money(ZERO, currency)
    for row in rows:
        back = later.paid.get(row.number, (ZERO, ZERO, ZERO, ZERO))
        paid = [round_money(getattr(row, f"paid_{p}") - back[k], currency) for k, p in enumerate(PARTS)]
        penalty = round_money(late_fee_as_of(row, terms, as_of), currency)
        total = round_money(row.total, currency)
        remaining = total + penalty - sum(paid, q)
        views.append(
            InstallmentView(
                number=row.number,
                due_date=row.due_date,
                principal=round_money(row.principal, currency),
                interest=round_money(row.interest, currency),
                fees=round_money(row.fees, currency),
                penalty=penalty,
                total=total,
                balance=round_money(row.balance, currency),
                paid_principal=paid[0],
                paid_interest=paid[1],
                paid_fees=paid[2],
                paid_penalty=paid[3],
                status=_status(row.due_date, sum(paid, q), remaining, as_of),
            )
        )
    return tuple(views)


def loan_figures(
    loan,
    rows: Sequence,
    as_of: date,
    later: Later | None = None,
    policy: ArrearsPolicy = DEFAULT_ARREARS_POLICY,
) -> LoanFigures:
    """The loan as of the end of `as_of`. `rows`: the installments of its current schedule version
    with their stored paid parts; `later`: the movements dated after as_of (none for today)."""
    later = later or Later()
    currency = loan.currency
    terms = terms_of(loan) if has_terms(loan) else None
    views = installment_views(rows, as_of, later, terms, currency)
    disbursed = round_money(loan.disbursed_amount - later.disbursed, currency)
    # arrears and holiday interest a restructure made principal are owed as principal too
    capitalised = round_money((loan.capitalised_amount or ZERO) - later.capitalised, currency)
    principal_paid = round_money(
        loan.principal_repaid - sum((p[0] for p in later.paid.values()), ZERO), currency
    )
    # As of a day before a later tranche, the payments made by then are read on the current
    # schedule, which carries that tranche's principal too: what they put on principal beyond what
    # had been lent by then was, that day, paid beyond everything owed (a credit).
    ahead = max(principal_paid - disbursed - capitalised, ZERO)
    principal_paid -= ahead
    written_off_on = loan.written_off_on
    written_off = written_off_on is not None and written_off_on <= as_of
    written_off_principal = (
        round_money(loan.written_off_principal or ZERO, currency)
        if written_off
        else (round_money(ZERO, currency))
    )
    outstanding = disbursed + capitalised - principal_paid - written_off_principal
    paid_now = sum((v.paid for v in views), round_money(ZERO, currency))
    credit = round_money(loan.credit_balance or ZERO, currency)
    later_credit = max(later.paid_total - sum((sum(p) for p in later.paid.values()), ZERO), ZERO)
    credit = max(credit - later_credit, round_money(ZERO, currency))
    term_months = term_months_of(loan, terms)
    # a written-off loan is out of the portfolio: nothing of it is "overdue" any more
    counted = () if written_off else views
    arrears = arrears_engine.loan_arrears(
        counted,
        outstanding,
        term_months,
        currency,
        as_of,
        policy,
        on_watch=on_watch(loan, rows, as_of, policy),
    )
    return LoanFigures(
        loan_id=loan.id,
        as_of=as_of,
        currency=currency,
        status=status_as_of(loan, as_of),
        disbursed=disbursed,
        principal_paid=principal_paid,
        written_off_principal=written_off_principal,
        outstanding_principal=outstanding,
        # prepaid principal sits on no installment: what principal paid has beyond theirs
        total_paid=paid_now
        + credit
        + max(principal_paid - sum((v.paid_principal for v in views), ZERO), ZERO),
        credit_balance=credit + ahead,
        recovered_amount=round_money((loan.recovered_amount or ZERO) - later.recovered, currency),
        installments=views,
        next_installment=next((v for v in views if v.remaining > 0), None),
        arrears=arrears,
    )


def term_months_of(loan, terms: LoanTerms | None) -> Decimal:
    """The original term in months the classification reads: the frozen terms', else the loan's."""
    return terms.term_months if terms else Decimal(loan.term)


def on_watch(loan, rows: Sequence, as_of: date, policy: ArrearsPolicy) -> bool:
    """A restructured loan stays on watch (at least special_mention) until its last
    `policy.restructured_watch_installments` installments of the new schedule due by `as_of` were
    all paid by their due dates, one after the other (the report's SQL reads the same rule)."""
    start = getattr(loan, "restructured_from_number", None)
    if not start or loan.restructured_on is None or loan.restructured_on > as_of:
        return False
    new = [r for r in rows if r.number >= start and r.total > 0]
    late = [
        r.number
        for r in new
        if r.due_date < as_of and (r.fully_paid_on is None or r.fully_paid_on > r.due_date)
    ]
    last_late = max(late, default=0)
    on_time = [
        r
        for r in new
        if r.number > last_late
        and r.due_date <= as_of
        and r.fully_paid_on is not None
        and r.fully_paid_on <= r.due_date
    ]
    return len(on_time) < policy.restructured_watch_installments


def status_as_of(loan, as_of: date) -> str:
    """The status the loan had at the end of `as_of` (today's status for today)."""
    if loan.status == "written_off" and loan.written_off_on and loan.written_off_on > as_of:
        return "active"
    if loan.status == "closed" and loan.closed_on and loan.closed_on > as_of:
        return "active"
    return loan.status
