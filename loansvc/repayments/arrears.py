"""Arrears of one loan as of any date, and write-offs with four-eyes confirmation.

As of a date, only what was paid on or before it counts, so the same loan reads differently
for a report of last month and for today.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from loansvc.audit.service import record as audit
from loansvc.auth.principal import Principal
from loansvc.config import get_settings
from loansvc.db.base import utcnow
from loansvc.db.models import Loan, WriteOff
from loansvc.domain import arrears as arrears_engine
from loansvc.domain.errors import Conflict
from loansvc.domain.money import round_money
from loansvc.loans import repository as loans_repository
from loansvc.loans.service import check_date, get_visible, illegal_transition, snapshot
from loansvc.repayments import repository
from loansvc.repayments.schemas import ArrearsOut, WriteOffOut
from loansvc.repayments.service import check_collector


def owed_as_of(session: Session, loan: Loan, as_of: date) -> tuple[list[arrears_engine.Owed], Decimal]:
    """Each installment with what had been paid on it by `as_of`, and the principal outstanding then."""
    paid: dict[int, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 4)
    for a in repository.allocations(session, loan.id):
        if a.paid_on <= as_of:
            parts = paid[a.number]
            parts[0] += a.principal
            parts[1] += a.interest
            parts[2] += a.fees
            parts[3] += a.penalty
    owed = []
    for row in loans_repository.installments(session, loan):
        p = paid[row.number]
        owed.append(
            arrears_engine.Owed(
                number=row.number,
                due_date=row.due_date,
                principal_due=row.principal,
                interest_due=row.interest,
                fees_due=row.fees,
                penalty_due=row.penalty,
                principal_paid=p[0],
                interest_paid=p[1],
                fees_paid=p[2],
                penalty_paid=p[3],
            )
        )
    disbursed = sum(
        (d.amount for d in loans_repository.disbursements(session, loan.id) if d.disbursed_on <= as_of),
        Decimal(0),
    )
    repaid = sum((p[0] for p in paid.values()), Decimal(0))
    return owed, disbursed - repaid


def loan_arrears(session: Session, loan: Loan, as_of: date) -> arrears_engine.LoanArrears:
    owed, outstanding = owed_as_of(session, loan, as_of)
    if loan.status == "written_off" and loan.written_off_on and loan.written_off_on <= as_of:
        outstanding = Decimal(0)
    months = arrears_engine.term_in_months(loan.term, (loan.terms or {}).get("frequency", "monthly"))
    return arrears_engine.loan_arrears(owed, outstanding, months, loan.currency, as_of)


def arrears_out(session: Session, loan: Loan, as_of: date) -> ArrearsOut:
    a = loan_arrears(session, loan, as_of)
    _, outstanding = owed_as_of(session, loan, as_of)
    q = loan.currency
    return ArrearsOut(
        loan_id=loan.id,
        as_of=as_of,
        currency=loan.currency,
        days_past_due=a.days_past_due,
        overdue_amount=round_money(a.overdue_amount, q),
        overdue_principal=round_money(a.overdue_principal, q),
        overdue_interest=round_money(a.overdue_interest, q),
        bucket=a.bucket,
        classification=a.classification,
        provision_percent=a.provision_percent,
        provision=round_money(a.provision, q),
        outstanding_principal=round_money(outstanding, q),
        non_performing=a.non_performing,
    )


def _write_off_out(session: Session, loan: Loan, w: WriteOff) -> WriteOffOut:
    return WriteOffOut(
        id=w.id,
        loan_id=loan.id,
        status=w.status,
        reason=w.reason,
        requested_on=w.requested_on,
        requested_by=w.requested_by,
        days_past_due=w.days_past_due,
        principal=round_money(w.principal, loan.currency),
        confirmed_by=w.confirmed_by,
        confirmed_on=w.confirmed_on,
        loan_status=loan.status,
    )


def write_off(
    session: Session, principal: Principal, loan_id: str, reason: str, on: date | None, today: date
) -> tuple[int, WriteOffOut]:
    """The first key requests (202, pending); a second, different key confirms (200, written off)."""
    loan = get_visible(session, principal, loan_id, lock=True)
    check_collector(session, principal, loan)
    if loan.status != "active":
        raise illegal_transition(loan, f"a {loan.status} loan cannot be written off")
    on = on or today
    check_date(on, today=today, not_before=loan.last_event_on, field="written_off_on")
    pending = repository.pending_write_off(session, loan.id)
    if pending is None:
        arrears = loan_arrears(session, loan, on)
        minimum = get_settings().write_off_min_days_past_due
        if arrears.days_past_due < minimum:
            raise Conflict(
                f"the loan is {arrears.days_past_due} days past due; a write-off needs at least {minimum}",
                code="NOT_WRITE_OFF_ELIGIBLE",
            )
        request = WriteOff(
            loan_id=loan.id,
            status="pending",
            reason=reason,
            requested_on=on,
            requested_by=principal.name,
            requested_by_key_id=principal.key_id,
            days_past_due=arrears.days_past_due,
            principal=loan.disbursed_amount - loan.principal_repaid,
        )
        session.add(request)
        session.flush()
        audit(
            session,
            principal,
            entity_type="write_off",
            entity_id=request.id,
            loan_id=loan.id,
            action="write_off_requested",
            after={"reason": reason, "days_past_due": arrears.days_past_due},
        )
        return 202, _write_off_out(session, loan, request)
    if pending.requested_by_key_id == principal.key_id:
        raise Conflict("four eyes: a second key must confirm the write-off", code="FOUR_EYES")
    before = snapshot(loan)
    pending.status, pending.confirmed_by, pending.confirmed_on, pending.confirmed_at = (
        "confirmed",
        principal.name,
        on,
        utcnow(),
    )
    loan.status = "written_off"
    loan.written_off_on = on
    loan.written_off_principal = loan.disbursed_amount - loan.principal_repaid
    loan.last_event_on = on
    session.flush()
    audit(
        session,
        principal,
        entity_type="write_off",
        entity_id=pending.id,
        loan_id=loan.id,
        action="written_off",
        before=before,
        after=snapshot(loan)
        | {"written_off_principal": str(loan.written_off_principal), "reason": pending.reason},
    )
    return 200, _write_off_out(session, loan, pending)
