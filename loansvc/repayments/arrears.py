"""Arrears of one loan as of any date, and write-offs with four-eyes confirmation, both read from
the ledger's figures (so they agree with the loan, its schedule and its repayments)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from loansvc.audit.service import record as audit
from loansvc.auth.principal import Principal
from loansvc.db.base import utcnow
from loansvc.db.models import Loan, WriteOff
from loansvc.domain.errors import Conflict, InvalidInput
from loansvc.domain.money import round_money
from loansvc.lending import ledger, reads
from loansvc.lending.access import check_collector, check_date, get_visible, snapshot
from loansvc.lending.status import illegal_transition, settle_write_off
from loansvc.repayments import repository
from loansvc.repayments.schemas import ArrearsOut, WriteOffOut


def arrears_out(
    session: Session, principal: Principal, loan_id: str, as_of: date | None, today: date
) -> ArrearsOut:
    when = as_of or today
    if when > today:
        raise InvalidInput("as_of cannot be in the future", code="DATE_IN_FUTURE", field="as_of")
    loan = get_visible(session, principal, loan_id)
    f = reads.figures(session, loan, when, today)
    a = f.arrears
    return ArrearsOut(
        loan_id=loan.id,
        as_of=when,
        currency=loan.currency,
        days_past_due=a.days_past_due,
        overdue_amount=a.overdue_amount,
        overdue_principal=a.overdue_principal,
        overdue_interest=a.overdue_interest,
        overdue_fees=a.overdue_fees,
        overdue_penalty=a.overdue_penalty,
        bucket=a.bucket,
        classification=a.classification,
        provision_percent=a.provision_percent,
        provision=a.provision,
        outstanding_principal=f.outstanding_principal,
        written_off_principal=f.written_off_principal,
        non_performing=a.non_performing,
    )


def _write_off_out(loan: Loan, w: WriteOff) -> WriteOffOut:
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
    session: Session,
    principal: Principal,
    loan_id: str,
    reason: str,
    on: date | None,
    today: date,
    min_days_past_due: int,
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
        figures = reads.figures(session, loan, on, today)
        if figures.days_past_due < min_days_past_due:
            raise Conflict(
                f"the loan is {figures.days_past_due} days past due; a write-off needs at least "
                f"{min_days_past_due}",
                code="NOT_WRITE_OFF_ELIGIBLE",
            )
        request = WriteOff(
            loan_id=loan.id,
            status="pending",
            reason=reason,
            requested_on=on,
            requested_by=principal.name,
            requested_by_key_id=principal.key_id,
            days_past_due=figures.days_past_due,
            principal=figures.outstanding_principal,
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
            after={"reason": reason, "days_past_due": figures.days_past_due},
        )
        return 202, _write_off_out(loan, request)
    if pending.requested_by_key_id == principal.key_id:
        raise Conflict("four eyes: a second key must confirm the write-off", code="FOUR_EYES")
    before = snapshot(loan)
    settle_write_off(pending, "confirmed")
    pending.confirmed_by, pending.confirmed_on, pending.confirmed_at = principal.name, on, utcnow()
    ledger.moved(session, loan.lender_id, on)
    written_off = ledger.write_off(loan, on)
    session.flush()
    audit(
        session,
        principal,
        entity_type="write_off",
        entity_id=pending.id,
        loan_id=loan.id,
        action="written_off",
        before=before,
        after=snapshot(loan) | {"written_off_principal": str(written_off), "reason": pending.reason},
    )
    return 200, _write_off_out(loan, pending)
