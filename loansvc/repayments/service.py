"""Recording and reversing repayments, and the projection of payments onto the schedule.

Payments and reversals are append-only. After any change to a loan's payments, its allocation is
replayed from the whole history (oldest installment first, in the product's component order) and
the projection is rewritten: the allocation rows, each installment's paid parts, the loan's
principal repaid and its status (closed when everything is paid, active again if a reversal
reopens it).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from loansvc.audit.service import record as audit
from loansvc.auth.principal import Principal
from loansvc.db.models import Lender, Loan, Product, Repayment, RepaymentAllocation, RepaymentReversal
from loansvc.domain import repayments as allocation_engine
from loansvc.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from loansvc.domain.money import round_money
from loansvc.loans import repository as loans_repository
from loansvc.loans.service import check_date, get_visible, illegal_transition, snapshot
from loansvc.repayments import repository
from loansvc.repayments.schemas import AllocationOut, RepaymentCreate, RepaymentOut, ReverseRequest


def check_collector(session: Session, principal: Principal, loan: Loan) -> None:
    """Partners record payments on their own loans; loan officers on materials-bank loans."""
    if principal.is_admin:
        return
    lender = session.get(Lender, loan.lender_id)
    if lender.kind == "materials_bank" and principal.role != "loan_officer":
        raise Forbidden("materials-bank repayments are recorded by a loan officer", code="ROLE_NOT_ALLOWED")
    if lender.kind != "materials_bank" and principal.role != "partner":
        raise Forbidden("a partner MFI records repayments on its own loans", code="ROLE_NOT_ALLOWED")


def check_payable(loan: Loan) -> None:
    if loan.status != "active":
        raise illegal_transition(loan, f"a {loan.status} loan takes no repayment")


def validate_payment(loan: Loan, amount: Decimal, paid_on: date, today: date, field_prefix: str = "") -> None:
    if amount != round_money(amount, loan.currency):
        raise InvalidInput(
            f"amount has more decimals than {loan.currency} allows",
            code="TOO_MANY_DECIMALS",
            field=f"{field_prefix}amount",
        )
    check_date(
        paid_on,
        today=today,
        not_before=loan.first_disbursed_on,
        field=f"{field_prefix}paid_on",
        step="the first disbursement",
    )


def active_payments(session: Session, loan: Loan, extra: list[Repayment] = ()) -> list[Repayment]:
    reversed_ids = set(repository.reversals(session, loan.id))
    rows = [r for r in repository.repayments(session, loan.id) if r.id not in reversed_ids]
    rows.extend(extra)
    return sorted(rows, key=lambda r: (r.paid_on, r.created_at, r.id))


def _dues(rows, penalties: dict[int, Decimal]) -> list[allocation_engine.Due]:
    return [
        allocation_engine.Due(
            number=r.number,
            due_date=r.due_date,
            principal=r.principal,
            interest=r.interest,
            fees=r.fees,
            penalty=penalties.get(r.number, Decimal(0)),
        )
        for r in rows
    ]


def allocate(session: Session, loan: Loan, product: Product, payments: list[Repayment], today: date):
    """Replay `payments` against the current schedule, with the product's late fee where it applies."""
    rows = loans_repository.installments(session, loan)
    order = tuple(allocation_engine.Component(c) for c in product.allocation_order)
    pays = [allocation_engine.Payment(id=p.id, paid_on=p.paid_on, amount=p.amount) for p in payments]
    result = allocation_engine.allocate(_dues(rows, {}), pays, order=order, currency=loan.currency)
    if product.late_fee:
        # an installment not fully paid within the grace days after its due date owes the late fee once
        grace = timedelta(days=product.late_fee_after_days)
        late = {
            s.number: product.late_fee
            for s in result.installments
            if (s.fully_paid_on or today + timedelta(days=1)) > s.due_date + grace
            and s.due_date + grace < today
        }
        if late:
            result = allocation_engine.allocate(_dues(rows, late), pays, order=order, currency=loan.currency)
    return rows, result


def rebuild(session: Session, loan: Loan, today: date, extra: list[Repayment] = ()) -> None:
    """Rewrite the loan's projection from its whole payment history."""
    product = session.get(Product, loan.product_id)
    payments = active_payments(session, loan, list(extra))
    rows, result = allocate(session, loan, product, payments, today)
    if result.credit_balance > 0 and not product.allow_credit_balance:
        raise Conflict(
            f"the payment is {result.credit_balance} more than everything the loan still owes",
            code="OVERPAYMENT",
        )
    repository.clear_allocations(session, loan.id)
    session.add_all(
        RepaymentAllocation(
            repayment_id=line.payment_id,
            loan_id=loan.id,
            number=line.number,
            paid_on=line.paid_on,
            principal=line.principal,
            interest=line.interest,
            fees=line.fees,
            penalty=line.penalty,
        )
        for line in result.lines
    )
    states = {s.number: s for s in result.installments}
    for row in rows:
        state = states[row.number]
        row.paid_principal, row.paid_interest = state.principal_paid, state.interest_paid
        row.paid_fees, row.paid_penalty, row.penalty = state.fees_paid, state.penalty_paid, state.penalty_due
        row.paid_by_due_date, row.fully_paid_on = state.paid_by_due_date, state.fully_paid_on
    loan.principal_repaid = result.principal_repaid
    everything_paid = bool(rows) and all(s.fully_paid_on is not None for s in result.installments)
    if everything_paid and loan.disbursed_amount >= (loan.approved_amount or 0) and loan.status == "active":
        loan.status, loan.closed_on = "closed", max(s.fully_paid_on for s in result.installments)
    elif everything_paid and loan.status == "active":
        # fully repaid but not fully disbursed: still open for the remaining tranches
        pass
    elif loan.status == "closed" and not everything_paid:
        loan.status, loan.closed_on = "active", None  # a reversal reopened it
    session.flush()


def record(
    session: Session, principal: Principal, loan_id: str, body: RepaymentCreate, today: date
) -> Repayment:
    loan = get_visible(session, principal, loan_id, lock=True)
    check_collector(session, principal, loan)
    check_payable(loan)
    paid_on = body.paid_on or today
    validate_payment(loan, body.amount, paid_on, today)
    if (loan.id, body.reference) in repository.references(session, [loan.id]):
        raise Conflict(
            f"payment reference {body.reference} is already recorded for this loan",
            code="DUPLICATE_REFERENCE",
        )
    before = snapshot(loan) | {"principal_repaid": str(loan.principal_repaid)}
    repayment = Repayment(
        loan_id=loan.id,
        amount=body.amount,
        paid_on=paid_on,
        reference=body.reference,
        channel=body.channel,
        created_by=principal.name,
    )
    session.add(repayment)
    session.flush()
    rebuild(session, loan, today)
    audit(
        session,
        principal,
        entity_type="repayment",
        entity_id=repayment.id,
        loan_id=loan.id,
        action="repaid",
        before=before,
        after=snapshot(loan)
        | {
            "principal_repaid": str(loan.principal_repaid),
            "amount": str(body.amount),
            "paid_on": paid_on.isoformat(),
            "reference": body.reference,
        },
    )
    return repayment


def reverse(
    session: Session, principal: Principal, repayment_id: str, body: ReverseRequest, today: date
) -> Repayment:
    repayment = session.get(Repayment, repayment_id)
    if repayment is None:
        raise NotFound(f"no repayment {repayment_id}", code="REPAYMENT_NOT_FOUND")
    try:
        loan = get_visible(session, principal, repayment.loan_id, lock=True)
    except NotFound:
        raise NotFound(f"no repayment {repayment_id}", code="REPAYMENT_NOT_FOUND") from None
    check_collector(session, principal, loan)
    if repayment.id in repository.reversals(session, loan.id):
        raise Conflict("this payment is already reversed", code="ALREADY_REVERSED")
    if loan.status not in ("active", "closed"):
        raise Conflict(f"a {loan.status} loan's payments cannot be reversed", code="ILLEGAL_TRANSITION")
    reversed_on = body.reversed_on or today
    check_date(
        reversed_on, today=today, not_before=repayment.paid_on, field="reversed_on", step="the payment"
    )
    before = snapshot(loan) | {"principal_repaid": str(loan.principal_repaid)}
    session.add(
        RepaymentReversal(
            repayment_id=repayment.id,
            loan_id=loan.id,
            reason=body.reason,
            reversed_on=reversed_on,
            created_by=principal.name,
        )
    )
    session.flush()
    rebuild(session, loan, today)
    audit(
        session,
        principal,
        entity_type="repayment",
        entity_id=repayment.id,
        loan_id=loan.id,
        action="reversed",
        before=before,
        after=snapshot(loan) | {"principal_repaid": str(loan.principal_repaid), "reason": body.reason},
    )
    return repayment


def repayment_out(session: Session, loan: Loan, repayment: Repayment) -> RepaymentOut:
    reversal = repository.reversals(session, loan.id).get(repayment.id)
    lines = [a for a in repository.allocations(session, loan.id) if a.repayment_id == repayment.id]
    return RepaymentOut(
        id=repayment.id,
        loan_id=loan.id,
        amount=round_money(repayment.amount, loan.currency),
        paid_on=repayment.paid_on,
        reference=repayment.reference,
        channel=repayment.channel,
        reversed=reversal is not None,
        reversal_reason=reversal.reason if reversal else None,
        allocations=[
            AllocationOut(
                number=a.number,
                principal=round_money(a.principal, loan.currency),
                interest=round_money(a.interest, loan.currency),
                fees=round_money(a.fees, loan.currency),
                penalty=round_money(a.penalty, loan.currency),
            )
            for a in lines
        ],
        loan_status=loan.status,
        outstanding_principal=round_money(loan.disbursed_amount - loan.principal_repaid, loan.currency),
        created_by=repayment.created_by,
        created_at=repayment.created_at,
    )


def list_repayments(session: Session, loan: Loan) -> list[RepaymentOut]:
    return [repayment_out(session, loan, r) for r in repository.repayments(session, loan.id)]
