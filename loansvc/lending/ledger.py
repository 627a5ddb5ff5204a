"""THE LEDGER: schedule versions, payments and their allocations, and the position they leave.

The position kept current with every movement, in the same transaction:
- on the loan: disbursed, principal repaid, credit balance, recovered amount, the first unpaid
  installment, the written-off principal, the status (through `lending.status`);
- on each installment of the current schedule version: the paid parts, the late fee charged, the
  part paid by its due date and the day it was fully paid.

A payment dated on or after the loan's latest payment is allocated on top of that position: it
reads only the installments still open, so recording one costs the same at the 1st and the 700th
payment. A payment dated earlier, a reversal or a new schedule version replays the loan's whole
history instead, payment by payment, with the very same step, so both ways give one answer.

Allocation: oldest installment first, in the contract's component order (penalty, fees, interest,
principal by default); a late fee is charged on an installment still unpaid past its grace days
just before the payment that finds it so. A payment on a written-off loan is a recovery: it is
recorded and counted, and changes nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from loansvc.db.base import new_id
from loansvc.db.models import Loan, Repayment, RepaymentAllocation, RepaymentReversal, ScheduledInstallment
from loansvc.domain import repayments as allocation_engine
from loansvc.domain.errors import Conflict
from loansvc.domain.schedule import Schedule
from loansvc.lending import repository
from loansvc.lending.figures import ZERO
from loansvc.lending.status import transition
from loansvc.lending.terms import LoanTerms, terms_of


@dataclass(frozen=True)
class PaymentIn:
    amount: Decimal
    paid_on: date
    reference: str
    channel: str | None
    created_by: str
    batch: str | None = None


def _remaining(row: ScheduledInstallment) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    return (
        row.principal - row.paid_principal,
        row.interest - row.paid_interest,
        row.fees - row.paid_fees,
        row.penalty - row.paid_penalty,
    )


def _is_open(row: ScheduledInstallment) -> bool:
    return any(part > 0 for part in _remaining(row))


def _allocate(
    rows: list[ScheduledInstallment], payment_id: str, amount: Decimal, paid_on: date, terms: LoanTerms
):
    """The allocation of one payment over the open `rows` (pure: nothing is changed): the late
    fees it charges first, its lines, and what is left beyond everything owed."""
    grace = timedelta(days=terms.late_fee_after_days)
    fees = {}
    if terms.late_fee:
        for row in rows:
            # open: still owing something (an installment owing nothing, a 0 % grace one, is never late)
            if _is_open(row) and row.penalty == 0 and row.due_date + grace < paid_on:
                fees[row.number] = terms.late_fee
    dues = []
    for row in rows:
        principal, interest, fee, penalty = _remaining(row)
        dues.append(
            allocation_engine.Due(
                number=row.number,
                due_date=row.due_date,
                principal=principal,
                interest=interest,
                fees=fee,
                penalty=penalty + fees.get(row.number, ZERO),
            )
        )
    result = allocation_engine.allocate(
        dues,
        [allocation_engine.Payment(id=payment_id, paid_on=paid_on, amount=amount)],
        order=terms.allocation_order,
        currency=terms.currency,
    )
    return fees, result


def _apply(rows, payment_id: str, paid_on: date, fees, result) -> list[RepaymentAllocation]:
    by_number = {row.number: row for row in rows}
    for number, fee in fees.items():
        by_number[number].penalty = fee
    out = []
    for line in result.lines:
        row = by_number[line.number]
        row.paid_principal += line.principal
        row.paid_interest += line.interest
        row.paid_fees += line.fees
        row.paid_penalty += line.penalty
        if paid_on <= row.due_date:
            row.paid_by_due_date += line.total
        if not _is_open(row):
            row.fully_paid_on = paid_on
        out.append(
            RepaymentAllocation(
                repayment_id=payment_id,
                loan_id=row.loan_id,
                number=line.number,
                paid_on=paid_on,
                principal=line.principal,
                interest=line.interest,
                fees=line.fees,
                penalty=line.penalty,
            )
        )
    return out


def _overpaid(credit: Decimal, terms: LoanTerms) -> Conflict | None:
    if credit > 0 and not terms.allow_credit_balance:
        return Conflict(
            f"the payment is {credit} more than everything the loan still owes", code="OVERPAYMENT"
        )
    return None


def record_payment(session: Session, loan: Loan, payment: PaymentIn) -> Repayment:
    """Record a payment and move the loan's position; the loan row is locked by the caller.
    A payment the loan cannot take (409 OVERPAYMENT) is refused before anything is written."""
    kind = "recovery" if loan.status == "written_off" else "repayment"
    repayment = Repayment(
        id=new_id(),
        loan_id=loan.id,
        kind=kind,
        amount=payment.amount,
        paid_on=payment.paid_on,
        reference=payment.reference,
        channel=payment.channel,
        created_by=payment.created_by,
        batch=payment.batch,
    )
    if kind == "recovery":
        still_owed = _owed_at_write_off(session, loan) - (loan.recovered_amount or ZERO)
        if payment.amount > still_owed:
            raise Conflict(
                f"the recovery is {payment.amount - still_owed} more than the family still owed when the "
                f"loan was written off ({still_owed} left to recover)",
                code="OVERPAYMENT",
            )
        session.add(repayment)
        loan.recovered_amount = (loan.recovered_amount or ZERO) + payment.amount
        session.flush()
        return repayment
    last = repository.last_paid_on(session, loan.id)
    if last is not None and payment.paid_on < last:
        session.add(repayment)  # dated before an earlier payment: the history is replayed
        session.flush()
        rebuild(session, loan)
        return repayment
    terms = terms_of(loan)
    rows = repository.installments(session, loan, open_only=True)
    fees, result = _allocate(rows, repayment.id, payment.amount, payment.paid_on, terms)
    error = _overpaid(result.credit_balance, terms)
    if error:
        raise error
    session.add(repayment)
    session.flush()
    session.add_all(_apply(rows, repayment.id, payment.paid_on, fees, result))
    loan.principal_repaid += sum((line.principal for line in result.lines), ZERO)
    loan.credit_balance = (loan.credit_balance or ZERO) + result.credit_balance
    _settle(loan, [r for r in rows if _is_open(r)], payment.paid_on)
    session.flush()
    return repayment


def _owed_at_write_off(session: Session, loan: Loan) -> Decimal:
    """What a recovery can bring back: the principal written off and the interest, fees and late
    fees of the installments already due then and left unpaid."""
    due = [r for r in repository.installments(session, loan) if r.due_date <= loan.written_off_on]
    unpaid = sum((sum(_remaining(r)[1:]) for r in due), ZERO)
    return (loan.written_off_principal or ZERO) + unpaid


def reverse_payment(
    session: Session, loan: Loan, repayment: Repayment, reason: str, on: date, by: str
) -> None:
    session.add(
        RepaymentReversal(
            repayment_id=repayment.id, loan_id=loan.id, reason=reason, reversed_on=on, created_by=by
        )
    )
    session.flush()
    if repayment.kind == "recovery":
        loan.recovered_amount -= repayment.amount
        session.flush()
        return
    rebuild(session, loan)


def rebuild(session: Session, loan: Loan) -> None:
    """Replay the loan's whole payment history over its current schedule version."""
    terms = terms_of(loan)
    rows = repository.installments(session, loan)
    for row in rows:
        row.paid_principal = row.paid_interest = row.paid_fees = row.paid_penalty = ZERO
        row.penalty = row.paid_by_due_date = ZERO
        row.fully_paid_on = None
    repository.clear_allocations(session, loan.id)
    principal, credit, lines = ZERO, ZERO, []
    for payment in repository.payments_to_replay(session, loan.id):
        open_rows = [r for r in rows if _is_open(r)]
        fees, result = _allocate(open_rows, payment.id, payment.amount, payment.paid_on, terms)
        lines += _apply(open_rows, payment.id, payment.paid_on, fees, result)
        principal += sum((line.principal for line in result.lines), ZERO)
        credit += result.credit_balance
    error = _overpaid(credit, terms)
    if error:
        raise error
    session.add_all(lines)
    loan.principal_repaid, loan.credit_balance = principal, credit
    open_rows = [r for r in rows if _is_open(r)]
    closed_on = max((r.fully_paid_on for r in rows if r.fully_paid_on), default=None)
    _settle(loan, open_rows, closed_on)
    session.flush()


def _settle(loan: Loan, open_rows: list[ScheduledInstallment], last_paid_on: date | None) -> None:
    """The first unpaid installment, and the status: closed once everything lent is repaid,
    active again when a reversal reopens it."""
    loan.first_unpaid_number = open_rows[0].number if open_rows else None
    fully_lent = loan.disbursed_amount >= (loan.approved_amount or 0)
    if not open_rows and fully_lent and loan.status == "active":
        transition(loan, "closed", last_paid_on)
    elif open_rows and loan.status == "closed":
        transition(loan, "active")


def write_schedule(session: Session, loan: Loan, schedule: Schedule) -> None:
    """A new schedule version; payments so far are replayed onto it."""
    loan.schedule_version += 1
    session.add_all(
        ScheduledInstallment(
            loan_id=loan.id,
            version=loan.schedule_version,
            number=i.number,
            due_date=i.due_date,
            principal=i.principal,
            interest=i.interest,
            fees=i.fees,
            total=i.total,
            balance=i.balance,
            paid_principal=ZERO,
            paid_interest=ZERO,
            paid_fees=ZERO,
            paid_penalty=ZERO,
            penalty=ZERO,
            paid_by_due_date=ZERO,
        )
        for i in schedule.installments
    )
    loan.first_unpaid_number = schedule.installments[0].number if schedule.installments else None
    session.flush()


def write_off(loan: Loan, on: date) -> Decimal:
    """Take what is still outstanding off the books; the loan leaves the portfolio."""
    loan.written_off_principal = loan.disbursed_amount - loan.principal_repaid
    transition(loan, "written_off", on)
    loan.last_event_on = on
    return loan.written_off_principal
