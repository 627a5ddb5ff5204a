"""Complaints: recorded, handled (open -> in_progress -> resolved | rejected), read and counted.

Who. A loan officer records complaints about anyone; a partner key only about its own lender
(another lender_id is 403 LENDER_NOT_ALLOWED) and its own clients: a household it may see (a live
consent) or one of its own loans, else 404 as for any read. A partner reads and handles the
complaints about its own lender only (404 otherwise). Finance leads get the counts, not the
complaints.

Anonymous. The complainant asked that the lender complained about never learn who complained:
that lender's partner keys get the complaint without the complainant's name, the household or
the loan, and the loan's history (which the lender reads) gets no entry for it.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from loansvc.audit.service import record as audit
from loansvc.auth.principal import Principal
from loansvc.db.models import Complaint, Household, Lender
from loansvc.db.models.follow_up import COMPLAINT_CATEGORIES as CATEGORIES
from loansvc.db.query import page
from loansvc.domain.custody import COMPLAINT_CLOSED, COMPLAINT_STATUSES, complaint_move_allowed, median
from loansvc.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from loansvc.fields import Page
from loansvc.lending import households
from loansvc.lending.access import check_date, get_visible
from loansvc.protection import complaints_repository as repository
from loansvc.protection.complaints_schemas import (
    CategoryCounts,
    ComplaintCreate,
    ComplaintOut,
    ComplaintPatch,
    ComplaintsReportOut,
    LenderCategoryCount,
    LenderCounts,
    StatusCounts,
)


def _hidden_from(principal: Principal, complaint: Complaint) -> bool:
    """The complainant is hidden from the partner keys of the lender complained about."""
    return complaint.anonymous and principal.is_partner


def _out(principal: Principal, complaint: Complaint) -> ComplaintOut:
    hide = _hidden_from(principal, complaint)
    closed = complaint.resolved_on is not None
    return ComplaintOut(
        id=complaint.id,
        household_id=None if hide else complaint.household_id,
        lender_id=complaint.lender_id,
        loan_id=None if hide else complaint.loan_id,
        channel=complaint.channel,
        category=complaint.category,
        description=complaint.description,
        received_on=complaint.received_on,
        complainant_name=None if hide else complaint.complainant_name,
        anonymous=complaint.anonymous,
        status=complaint.status,
        resolution=complaint.resolution,
        resolved_on=complaint.resolved_on,
        days_to_resolve=(complaint.resolved_on - complaint.received_on).days if closed else None,
        recorded_by=complaint.recorded_by,
        created_at=complaint.created_at,
        updated_at=complaint.updated_at,
    )


def _snapshot(complaint: Complaint) -> dict:
    """For the history: never the complainant's name or words."""
    return {
        "category": complaint.category,
        "channel": complaint.channel,
        "lender_id": complaint.lender_id,
        "status": complaint.status,
        "anonymous": complaint.anonymous,
        "received_on": complaint.received_on.isoformat(),
        "resolved_on": complaint.resolved_on.isoformat() if complaint.resolved_on else None,
    }


def _history(session: Session, principal: Principal, complaint: Complaint, action: str, before=None) -> None:
    audit(
        session,
        principal,
        entity_type="complaint",
        entity_id=complaint.id,
        loan_id=None if complaint.anonymous else complaint.loan_id,
        action=action,
        before=before,
        after=_snapshot(complaint),
    )


def _parties(session: Session, principal: Principal, body: ComplaintCreate) -> tuple[str | None, ...]:
    """(household_id, lender_id, loan_id) of the complaint, each checked against the others and
    against what the caller may see."""
    household_id, lender_id, loan = body.household_id, body.lender_id, None
    if principal.is_partner:
        if lender_id is not None and lender_id != principal.lender_id:
            raise Forbidden(
                "a partner records complaints about its own lender only", code="LENDER_NOT_ALLOWED"
            )
        lender_id = principal.lender_id
    elif lender_id is not None and session.get(Lender, lender_id) is None:
        raise InvalidInput(f"no lender {lender_id}", code="UNKNOWN_LENDER", field="lender_id")
    if body.loan_id is not None:
        loan = get_visible(session, principal, body.loan_id)
        household_id = household_id or loan.household_id
        lender_id = lender_id or loan.lender_id
        if household_id != loan.household_id:
            raise InvalidInput(
                "the loan is not this household's", code="LOAN_NOT_HOUSEHOLDS", field="loan_id"
            )
        if lender_id != loan.lender_id:
            raise InvalidInput("the loan is not this lender's", code="LOAN_NOT_LENDERS", field="loan_id")
    elif household_id is not None:
        visible = (
            households.household(session, household_id, principal.lender_scope)
            if principal.is_partner
            else session.get(Household, household_id)
        )
        if visible is None:
            raise NotFound(f"no household {household_id}", code="HOUSEHOLD_NOT_FOUND")
    return household_id, lender_id, None if loan is None else loan.id


def record(session: Session, principal: Principal, body: ComplaintCreate, today: date) -> ComplaintOut:
    """POST /v1/complaints."""
    check_date(body.received_on, today=today, not_before=None, field="received_on")
    household_id, lender_id, loan_id = _parties(session, principal, body)
    complaint = Complaint(
        household_id=household_id,
        lender_id=lender_id,
        loan_id=loan_id,
        channel=body.channel,
        category=body.category,
        description=body.description,
        received_on=body.received_on,
        complainant_name=body.complainant_name,
        anonymous=body.anonymous,
        status="open",
        recorded_by=principal.name,
        recorded_by_role=principal.role,
    )
    session.add(complaint)
    session.flush()
    _history(session, principal, complaint, "complaint_received")
    return _out(principal, complaint)


def _visible(session: Session, principal: Principal, complaint_id: str, *, lock: bool = False) -> Complaint:
    complaint = repository.get(session, complaint_id, lock=lock)
    if complaint is None or (principal.is_partner and complaint.lender_id != principal.lender_id):
        raise NotFound(f"no complaint {complaint_id}", code="COMPLAINT_NOT_FOUND")
    return complaint


def get(session: Session, principal: Principal, complaint_id: str) -> ComplaintOut:
    return _out(principal, _visible(session, principal, complaint_id))


def update(
    session: Session, principal: Principal, complaint_id: str, body: ComplaintPatch, today: date
) -> ComplaintOut:
    """PATCH /v1/complaints/{id}: the next step of its handling."""
    complaint = _visible(session, principal, complaint_id, lock=True)
    if not complaint_move_allowed(complaint.status, body.status):
        error = Conflict(
            f"an {complaint.status} complaint cannot become {body.status}", code="ILLEGAL_TRANSITION"
        )
        error.extra = {"current_status": complaint.status}  # type: ignore[attr-defined]
        raise error
    before = _snapshot(complaint)
    if body.status in COMPLAINT_CLOSED:
        if body.resolution is None:
            raise InvalidInput(
                f"a {body.status} complaint says how it was settled",
                code="RESOLUTION_REQUIRED",
                field="resolution",
            )
        resolved_on = body.resolved_on or today
        check_date(
            resolved_on,
            today=today,
            not_before=complaint.received_on,
            field="resolved_on",
            step="received_on",
        )
        complaint.resolution, complaint.resolved_on = body.resolution, resolved_on
    else:
        for name in ("resolution", "resolved_on"):
            if getattr(body, name) is not None:
                raise InvalidInput(
                    f"{name} is given only to resolve or reject", code="FIELD_NOT_ALLOWED", field=name
                )
    complaint.status, complaint.updated_by = body.status, principal.name
    session.flush()
    _history(session, principal, complaint, f"complaint_{body.status}", before)
    return _out(principal, complaint)


def list_complaints(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    lender_id: str | None,
    category: str | None,
    household_id: str | None,
    loan_id: str | None,
    limit: int,
    offset: int,
) -> Page[ComplaintOut]:
    scope = principal.lender_scope
    if scope is not None and lender_id not in (None, scope):
        return Page[ComplaintOut](items=[], total=0, limit=limit, offset=offset)
    query = repository.list_query(
        status=status,
        lender_id=scope or lender_id,
        category=category,
        household_id=household_id,
        loan_id=loan_id,
    )
    if scope is not None and (household_id or loan_id):
        # a partner never finds an anonymous complaint by the household or loan it hides
        query = query.where(Complaint.anonymous.is_(False))
    items, total = page(session, query, limit, offset)
    return Page[ComplaintOut](
        items=[_out(principal, c) for c in items], total=total, limit=limit, offset=offset
    )


def _counts(rows: list[tuple[str, int]]) -> dict:
    by_status = dict.fromkeys(COMPLAINT_STATUSES, 0)
    for status, n in rows:
        by_status[status] += n
    return {"total": sum(by_status.values()), **by_status}


def report(
    session: Session,
    principal: Principal,
    lender_id: str | None,
    received_from: date | None,
    received_to: date | None,
) -> ComplaintsReportOut:
    """GET /v1/reports/complaints: counts by category and lender, and the median days to resolve."""
    scope = principal.lender_scope
    rows: list = []
    dates: list = []
    if scope is None or lender_id in (None, scope):  # another lender's: nothing, as the lists answer
        lender_id = scope or lender_id
        rows = repository.counts(session, lender_id, received_from, received_to)
        dates = repository.resolution_dates(session, lender_id, received_from, received_to)
    names = {r[0]: r[1] for r in rows}
    lenders = sorted(names, key=lambda k: (k is None, names[k] or "", k or ""))
    days = [(resolved - received).days for received, resolved in dates]
    pairs: dict[tuple, int] = {}
    for lid, _, category, _, n in rows:
        pairs[(lid, category)] = pairs.get((lid, category), 0) + n
    return ComplaintsReportOut(
        received_from=received_from,
        received_to=received_to,
        totals=StatusCounts(**_counts([(r[3], r[4]) for r in rows])),
        by_category=[
            CategoryCounts(category=c, **_counts([(r[3], r[4]) for r in rows if r[2] == c]))
            for c in CATEGORIES
        ],
        by_lender=[
            LenderCounts(
                lender_id=lid, lender_name=names[lid], **_counts([(r[3], r[4]) for r in rows if r[0] == lid])
            )
            for lid in lenders
        ],
        by_lender_and_category=[
            LenderCategoryCount(lender_id=lid, category=c, complaints=pairs[(lid, c)])
            for lid in lenders
            for c in CATEGORIES
            if (lid, c) in pairs
        ],
        median_days_to_resolve=median(days),
    )
