"""Restructuring a loan (request with a preview, approval by a second key, rejection), payoff
quotes, and the list of a loan's schedule versions. The figures come from the ledger
(`loansvc.lending.restructuring`, `ledger.restructure`, `ledger.payoff`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loansvc.audit.service import record as audit
from loansvc.auth.principal import Principal
from loansvc.db.base import utcnow
from loansvc.db.models import Product, Repayment, RepaymentReversal, Restructure
from loansvc.db.query import page
from loansvc.domain.errors import Conflict, InvalidInput, NotFound
from loansvc.domain.money import round_money
from loansvc.events import emit
from loansvc.fields import Page
from loansvc.lending import ledger
from loansvc.lending import repository as lending_repository
from loansvc.lending.access import check_collector, check_date, get_visible, snapshot
from loansvc.lending.calendar import loan_calendar
from loansvc.lending.restructuring import Changes, Plan, plan
from loansvc.lending.status import illegal_transition
from loansvc.lending.terms import terms_of
from loansvc.restructures.schemas import (
    PayoffOut,
    PreviewInstallment,
    RestructureCreate,
    RestructureOut,
    RestructurePreview,
    ScheduleVersionOut,
)


def _history_count(session: Session, loan_id: str) -> int:
    """Payments and reversals recorded so far: a preview is stale once this moves."""
    payments = session.scalar(select(func.count()).where(Repayment.loan_id == loan_id)) or 0
    reversals = session.scalar(select(func.count()).where(RepaymentReversal.loan_id == loan_id)) or 0
    return payments + reversals


def _plan(session: Session, loan, effective_on: date, changes: Changes, rate_cap: Decimal) -> Plan:
    product = session.get(Product, loan.product_id)
    return plan(
        lending_repository.installments(session, loan),
        terms_of(loan),
        effective_on,
        changes,
        max_term=product.max_term,
        rate_cap_percent=rate_cap,
        calendar=loan_calendar(session, loan),
        disbursed_on=loan.first_disbursed_on,
    )


def _preview_json(p: Plan, currency: str) -> dict:
    def m(value) -> str | None:
        return None if value is None else str(round_money(value, currency))

    return {
        "first_number": p.cut,
        "installments": [
            {
                "number": i.number,
                "due_date": i.due_date.isoformat(),
                "principal": m(i.principal),
                "interest": m(i.interest),
                "fees": m(i.fees),
                "total": m(i.total),
                "balance": m(i.balance),
            }
            for i in p.installments
        ],
        "outstanding_principal": m(p.outstanding_principal),
        "capitalised": m(p.capitalised),
        "old_installment": m(p.old_installment),
        "new_installment": m(p.new_installment),
        "old_remaining_cost": m(p.old_remaining_cost),
        "new_remaining_cost": m(p.new_remaining_cost),
        "apr_percent": str(p.apr_percent),
        "eir_percent": str(p.eir_percent),
        "total_term": p.total_term,
    }


def _last_movement(session: Session, loan) -> date:
    """The loan's latest dated movement: its last payment, last restructure or first disbursement.
    A restructure or a payoff quote cannot be dated before it."""
    last_paid = lending_repository.last_paid_on(session, loan.id)
    return max(d for d in (last_paid, loan.restructured_on, loan.first_disbursed_on) if d is not None)


def _check_active(loan, what: str) -> None:
    if loan.status != "active":
        raise illegal_transition(loan, f"a {loan.status} loan cannot be {what}; only an active loan can")


def request(
    session: Session,
    principal: Principal,
    loan_id: str,
    body: RestructureCreate,
    today: date,
    rate_cap: Decimal,
) -> Restructure:
    loan = get_visible(session, principal, loan_id, lock=True)
    check_collector(session, principal, loan)
    _check_active(loan, "restructured")
    effective_on = body.effective_on or today
    not_before = _last_movement(session, loan)
    check_date(
        effective_on,
        today=today,
        not_before=not_before,
        field="effective_on",
        step="the loan's last movement",
    )
    pending = session.scalar(
        select(Restructure.id).where(Restructure.loan_id == loan.id, Restructure.status == "requested")
    )
    if pending:
        raise Conflict(
            f"restructure {pending} is still waiting for a decision: approve or reject it first",
            code="RESTRUCTURE_PENDING",
        )
    changes = Changes.from_json(body.changes.model_dump())
    result = _plan(session, loan, effective_on, changes, rate_cap)
    item = Restructure(
        loan_id=loan.id,
        status="requested",
        effective_on=effective_on,
        reason=body.reason,
        changes=body.changes.model_dump(mode="json"),
        preview=_preview_json(result, loan.currency),
        requested_on=today,
        requested_by=principal.name,
        requested_by_key_id=principal.key_id,
        based_on_version=loan.schedule_version,
        based_on_payments=_history_count(session, loan.id),
    )
    session.add(item)
    session.flush()
    audit(
        session,
        principal,
        entity_type="restructure",
        entity_id=item.id,
        loan_id=loan.id,
        action="restructure_requested",
        before=snapshot(loan),
        after=snapshot(loan) | {"restructure": {"effective_on": str(effective_on), "changes": item.changes}},
    )
    return item


def _get(session: Session, principal: Principal, restructure_id: str, *, lock: bool = False):
    item = session.get(Restructure, restructure_id)
    if item is None:
        raise NotFound(f"no restructure {restructure_id}", code="RESTRUCTURE_NOT_FOUND")
    try:
        loan = get_visible(session, principal, item.loan_id, lock=lock)
    except NotFound:
        raise NotFound(f"no restructure {restructure_id}", code="RESTRUCTURE_NOT_FOUND") from None
    return item, loan


def _check_requested(item: Restructure) -> None:
    if item.status != "requested":
        error = Conflict(f"the restructure is already {item.status}", code="ILLEGAL_TRANSITION")
        error.extra = {"current_status": item.status}  # type: ignore[attr-defined]
        raise error


def approve(
    session: Session, principal: Principal, restructure_id: str, today: date, rate_cap: Decimal
) -> Restructure:
    item, loan = _get(session, principal, restructure_id, lock=True)
    check_collector(session, principal, loan)
    _check_requested(item)
    if principal.key_id == item.requested_by_key_id:
        raise Conflict(
            "four eyes: the key that requested the restructure cannot approve it", code="FOUR_EYES"
        )
    _check_active(loan, "restructured")
    if (
        loan.schedule_version != item.based_on_version
        or _history_count(session, loan.id) != item.based_on_payments
    ):
        raise Conflict(
            "the loan's payments changed after this restructure was requested, so its preview is out of "
            "date: reject it and request it again",
            code="RESTRUCTURE_STALE",
        )
    before = snapshot(loan)
    result = _plan(session, loan, item.effective_on, Changes.from_json(item.changes), rate_cap)
    item.status, item.decided_on, item.decided_by = "approved", today, principal.name
    item.decided_at = utcnow()
    session.flush()
    item.schedule_version = ledger.restructure(session, loan, result, item.id, item.effective_on)
    item.capitalised = result.capitalised
    audit(
        session,
        principal,
        entity_type="restructure",
        entity_id=item.id,
        loan_id=loan.id,
        action="restructure_approved",
        before=before,
        after=snapshot(loan)
        | {"restructure": {"effective_on": str(item.effective_on), "changes": item.changes}},
    )
    emit(
        session,
        "restructure.approved",
        loan.lender_id,
        {
            "loan_id": loan.id,
            "restructure_id": item.id,
            "effective_on": item.effective_on,
            "schedule_version": item.schedule_version,
            "new_installment": item.preview.get("new_installment"),
        },
    )
    return item


def reject(
    session: Session, principal: Principal, restructure_id: str, reason: str, today: date
) -> Restructure:
    item, loan = _get(session, principal, restructure_id, lock=True)
    check_collector(session, principal, loan)
    _check_requested(item)
    item.status, item.decided_on, item.decided_by, item.decision_reason = (
        "rejected",
        today,
        principal.name,
        reason,
    )
    item.decided_at = utcnow()
    audit(
        session,
        principal,
        entity_type="restructure",
        entity_id=item.id,
        loan_id=loan.id,
        action="restructure_rejected",
        before=snapshot(loan),
        after=snapshot(loan) | {"reason": reason},
    )
    session.flush()
    return item


def restructure_out(item: Restructure) -> RestructureOut:
    preview = dict(item.preview)
    preview["installments"] = [PreviewInstallment(**i) for i in preview["installments"]]
    return RestructureOut(
        id=item.id,
        loan_id=item.loan_id,
        status=item.status,
        effective_on=item.effective_on,
        reason=item.reason,
        changes=item.changes,
        preview=RestructurePreview(**preview),
        requested_on=item.requested_on,
        requested_by=item.requested_by,
        decided_on=item.decided_on,
        decided_by=item.decided_by,
        decision_reason=item.decision_reason,
        schedule_version=item.schedule_version,
        created_at=item.created_at,
    )


def get_out(session: Session, principal: Principal, restructure_id: str) -> RestructureOut:
    item, _ = _get(session, principal, restructure_id)
    return restructure_out(item)


def list_for_loan(session: Session, principal: Principal, loan_id: str, limit: int, offset: int):
    loan = get_visible(session, principal, loan_id)
    query = (
        select(Restructure)
        .where(Restructure.loan_id == loan.id)
        .order_by(Restructure.created_at, Restructure.id)
    )
    items, total = page(session, query, limit, offset)
    return Page[RestructureOut](
        items=[restructure_out(i) for i in items], total=total, limit=limit, offset=offset
    )


def payoff(session: Session, principal: Principal, loan_id: str, on: date | None, today: date) -> PayoffOut:
    loan = get_visible(session, principal, loan_id)
    _check_active(loan, "paid off")
    on = on or today
    floor = _last_movement(session, loan)
    if on < floor:
        raise InvalidInput(
            f"a payoff can be quoted from {floor} (the loan's last movement) on",
            code="DATE_BEFORE_PREVIOUS_STEP",
            field="on",
        )
    quote = ledger.payoff(session, loan, on)
    q = loan.currency
    return PayoffOut(
        loan_id=loan.id,
        on=on,
        currency=q,
        amount=round_money(quote.amount, q),
        principal=round_money(quote.principal, q),
        interest=round_money(quote.interest, q),
        fees=round_money(quote.fees, q),
        penalties=round_money(quote.penalties, q),
    )


def versions(session: Session, principal: Principal, loan_id: str) -> list[ScheduleVersionOut]:
    loan = get_visible(session, principal, loan_id)
    return [
        ScheduleVersionOut(
            version=v.version,
            kind=v.kind,
            effective_on=v.effective_on,
            starts_at_number=v.starts_at_number,
            previous_version=v.previous_version,
            current=v.version == loan.schedule_version,
            note=v.note,
            created_at=v.created_at,
        )
        for v in lending_repository.versions(session, loan.id)
    ]
