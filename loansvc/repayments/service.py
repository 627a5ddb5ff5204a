"""Recording and reversing repayments (and recoveries on written-off loans), and reading them.

The ledger (`loansvc.lending.ledger`) allocates and keeps the loan's position; this module checks
who may collect, the amount and the date, the reference, and writes the history.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from loansvc.audit.service import record as audit
from loansvc.auth.principal import Principal
from loansvc.db.models import Loan, Repayment
from loansvc.db.query import page
from loansvc.domain.errors import Conflict, InvalidInput, NotFound
from loansvc.domain.money import round_money
from loansvc.events import emit
from loansvc.fields import Page
from loansvc.lending import ledger, reads
from loansvc.lending.access import check_collector, check_date, get_visible, snapshot
from loansvc.lending.status import illegal_transition
from loansvc.protection import collateral
from loansvc.repayments import repository
from loansvc.repayments.schemas import AllocationOut, RepaymentCreate, RepaymentOut, ReverseRequest

PAYABLE = ("active", "written_off")  # a payment on a written-off loan is a recovery


def check_payable(loan: Loan) -> None:
    if loan.status not in PAYABLE:
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


def record_checked(
    session: Session, principal: Principal, loan: Loan, payment: ledger.PaymentIn
) -> Repayment:
    """Record a payment already checked for its amount, date and reference, with its history entry."""
    before = snapshot(loan)
    repayment = ledger.record_payment(session, loan, payment)
    payment_recorded(session, principal, loan, repayment, payment, before)
    return repayment


def payment_recorded(
    session: Session,
    principal: Principal,
    loan: Loan,
    repayment: Repayment,
    payment: ledger.PaymentIn,
    before: dict,
) -> None:
    """What follows a recorded payment: its history entry, its events, and a closed loan's title
    due for return (`before`: the loan's snapshot before the payment)."""
    audit(
        session,
        principal,
        entity_type="repayment",
        entity_id=repayment.id,
        loan_id=loan.id,
        action="recovered" if repayment.kind == "recovery" else "repaid",
        before=before,
        after=snapshot(loan)
        | {
            "amount": str(payment.amount),
            "paid_on": payment.paid_on.isoformat(),
            "reference": payment.reference,
            "batch": payment.batch,
        },
    )
    _emit_payment(session, loan, repayment, "repayment.recorded")
    if before["status"] != "closed" and loan.status == "closed":
        emit(
            session,
            "loan.closed",
            loan.lender_id,
            {"loan_id": loan.id, "household_id": loan.household_id, "closed_on": loan.closed_on},
        )
        collateral.loan_closed(session, principal, loan)  # what it holds is due for return


def _emit_payment(session: Session, loan: Loan, repayment: Repayment, type_: str, **extra) -> None:
    data = {
        "loan_id": loan.id,
        "repayment_id": repayment.id,
        "kind": repayment.kind,
        "amount": str(round_money(repayment.amount, loan.currency)),
        "currency": loan.currency,
        "paid_on": repayment.paid_on,
        "reference": repayment.reference,
        "loan_status": loan.status,
    }
    emit(session, type_, loan.lender_id, data | extra)


def record(
    session: Session, principal: Principal, loan_id: str, body: RepaymentCreate, today: date
) -> Repayment:
    loan = get_visible(session, principal, loan_id, lock=True)
    check_collector(session, principal, loan)
    check_payable(loan)
    paid_on = body.paid_on or today
    validate_payment(loan, body.amount, paid_on, today)
    if repository.reference_taken(session, loan.id, body.reference):
        raise Conflict(
            f"payment reference {body.reference} is already recorded for this loan",
            code="DUPLICATE_REFERENCE",
        )
    payment = ledger.PaymentIn(
        amount=body.amount,
        paid_on=paid_on,
        reference=body.reference,
        channel=body.channel,
        created_by=principal.name,
    )
    return record_checked(session, principal, loan, payment)


def reverse(
    session: Session, principal: Principal, repayment_id: str, body: ReverseRequest, today: date
) -> Repayment:
    repayment = repository.get(session, repayment_id)
    if repayment is None:
        raise NotFound(f"no repayment {repayment_id}", code="REPAYMENT_NOT_FOUND")
    try:
        loan = get_visible(session, principal, repayment.loan_id, lock=True)
    except NotFound:
        raise NotFound(f"no repayment {repayment_id}", code="REPAYMENT_NOT_FOUND") from None
    check_collector(session, principal, loan)
    if repository.reversal_of(session, repayment.id) is not None:
        raise Conflict("this payment is already reversed", code="ALREADY_REVERSED")
    allowed = ("written_off",) if repayment.kind == "recovery" else ("active", "closed")
    if loan.status not in allowed:
        raise illegal_transition(loan, f"a {loan.status} loan's payments cannot be reversed")
    reversed_on = body.reversed_on or today
    check_date(
        reversed_on, today=today, not_before=repayment.paid_on, field="reversed_on", step="the payment"
    )
    before = snapshot(loan)
    ledger.reverse_payment(session, loan, repayment, body.reason, reversed_on, principal.name)
    audit(
        session,
        principal,
        entity_type="repayment",
        entity_id=repayment.id,
        loan_id=loan.id,
        action="reversed",
        before=before,
        after=snapshot(loan) | {"reason": body.reason},
    )
    _emit_payment(session, loan, repayment, "repayment.reversed", reversed_on=reversed_on)
    if before["status"] == "closed" and loan.status != "closed":
        collateral.loan_reopened(session, principal, loan)  # what it holds is held again
    return repayment


def _outs(session: Session, loan: Loan, repayments: list[Repayment], today: date) -> list[RepaymentOut]:
    ids = [r.id for r in repayments]
    reversals = repository.reversals_of(session, ids)
    allocations = repository.allocations_of(session, ids)
    figures = reads.figures(session, loan, today, today)
    q = loan.currency
    # model_construct: every value comes from the stored rows, already rounded to the currency;
    # validating each amount again cost about 14 us per repayment, 0.7 ms on a page of 50
    return [
        RepaymentOut.model_construct(
            id=r.id,
            loan_id=loan.id,
            kind=r.kind,
            amount=round_money(r.amount, q),
            paid_on=r.paid_on,
            reference=r.reference,
            channel=r.channel,
            reversed=r.id in reversals,
            reversal_reason=reversals[r.id].reason if r.id in reversals else None,
            allocations=[
                AllocationOut.model_construct(
                    number=a.number,
                    principal=round_money(a.principal, q),
                    interest=round_money(a.interest, q),
                    fees=round_money(a.fees, q),
                    penalty=round_money(a.penalty, q),
                )
                for a in allocations.get(r.id, [])
                if a.number != 0
            ],
            prepaid_principal=round_money(
                sum((a.principal for a in allocations.get(r.id, []) if a.number == 0), Decimal(0)), q
            ),
            loan_status=loan.status,
            outstanding_principal=figures.outstanding_principal,
            recovered_amount=figures.recovered_amount,
            created_by=r.created_by,
            created_at=r.created_at,
        )
        for r in repayments
    ]


def repayment_out(session: Session, principal: Principal, repayment: Repayment, today: date) -> RepaymentOut:
    loan = get_visible(session, principal, repayment.loan_id)
    return _outs(session, loan, [repayment], today)[0]


def list_repayments(
    session: Session, principal: Principal, loan_id: str, limit: int, offset: int, today: date
) -> Page[RepaymentOut]:
    loan = get_visible(session, principal, loan_id)
    items, total = page(session, repository.repayments_query(loan.id), limit, offset)
    return Page[RepaymentOut](
        items=_outs(session, loan, items, today), total=total, limit=limit, offset=offset
    )
