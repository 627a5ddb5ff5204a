"""Collateral and title custody: what a lender holds for a loan, and giving it back.

Rules (2024 industry code, Client Protection Principles):
- ID cards and IDPoor cards are never collateral: 422 COLLATERAL_NOT_ALLOWED.
- A land title is the household's own (households.title_number), 422 TITLE_NOT_HOUSEHOLDS otherwise,
  and is held for one loan at a time until released: 409 TITLE_ALREADY_HELD, also between two
  concurrent requests (the partial unique index uq_collateral_held_title refuses the second; its
  IntegrityError is answered with the same 409).
- The holder is the loan's lender; a partner key records and releases on its own lender's loans.
- Statuses are derived (loansvc.domain.custody): when the loan closes, what it still holds is
  due for return, overdue after LOANSVC_TITLE_RETURN_DAYS. The closing payment writes
  "collateral_due_for_return" in the loan's history and, for a land title, the event
  title.due_for_return (loansvc.events) in the same transaction.
- A release before the loan closed (or dated before its closed_on) needs a reason; a release dated
  before the hold is 422. Every step is in the loan's history.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loansvc.audit.service import record as audit
from loansvc.auth.principal import Principal
from loansvc.db.models import Collateral, Household, Lender, Loan
from loansvc.db.query import page
from loansvc.domain.custody import (
    COLLATERAL_KINDS,
    FORBIDDEN_COLLATERAL,
    collateral_status,
    days_since_closure,
    return_deadline,
)
from loansvc.domain.errors import Conflict, InvalidInput, NotFound
from loansvc.domain.money import round_money
from loansvc.events import emit
from loansvc.fields import Page
from loansvc.lending.access import check_date, get_visible
from loansvc.protection import custody_repository as repository
from loansvc.protection.custody_schemas import (
    CollateralCreate,
    CollateralOut,
    HeldCollateralOut,
    OverdueTitlesOut,
    ReleaseRequest,
    TitleReportRow,
)

OPEN_FOR_COLLATERAL = ("submitted", "approved", "active")


def _snapshot(item: Collateral) -> dict:
    return {
        "kind": item.kind,
        "title_number": item.title_number,
        "held_by_lender_id": item.held_by_lender_id,
        "received_on": item.received_on.isoformat(),
        "storage_location": item.storage_location,
        "value": None if item.value is None else str(round_money(item.value, item.currency)),
        "released_on": item.released_on.isoformat() if item.released_on else None,
        "released_to": item.released_to,
        "receipt_reference": item.receipt_reference,
    }


def _out(item: Collateral, loan: Loan, today: date, return_days: int) -> CollateralOut:
    closed_on = loan.closed_on
    status = collateral_status(
        released_on=item.released_on, closed_on=closed_on, as_of=today, return_days=return_days
    )
    return CollateralOut(
        id=item.id,
        loan_id=item.loan_id,
        household_id=item.household_id,
        held_by_lender_id=item.held_by_lender_id,
        kind=item.kind,
        title_number=item.title_number,
        description=item.description,
        received_on=item.received_on,
        storage_location=item.storage_location,
        value=None if item.value is None else round_money(item.value, item.currency),
        currency=item.currency,
        status=status,
        loan_closed_on=closed_on,
        return_due_on=return_deadline(closed_on, return_days) if closed_on else None,
        days_since_closure=None if status == "released" else days_since_closure(closed_on, today),
        released_on=item.released_on,
        released_to=item.released_to,
        receipt_reference=item.receipt_reference,
        release_reason=item.release_reason,
        recorded_by=item.recorded_by,
        released_by=item.released_by,
        created_at=item.created_at,
    )


def _check_kind(body: CollateralCreate) -> None:
    if body.kind in FORBIDDEN_COLLATERAL:
        raise InvalidInput(
            f"{body.kind} is never collateral: identity and IDPoor cards stay with the family",
            code="COLLATERAL_NOT_ALLOWED",
            field="kind",
        )
    if body.kind not in COLLATERAL_KINDS:
        raise InvalidInput(
            f"kind must be one of {', '.join(COLLATERAL_KINDS)}", code="UNKNOWN_COLLATERAL_KIND", field="kind"
        )
    if body.kind == "land_title" and body.title_number is None:
        raise InvalidInput(
            "a land title needs its title_number", code="TITLE_NUMBER_REQUIRED", field="title_number"
        )
    if body.kind != "land_title" and body.title_number is not None:
        raise InvalidInput(
            "title_number is for a land title only", code="TITLE_NUMBER_NOT_ALLOWED", field="title_number"
        )


def _households_title(session: Session, loan: Loan, title_number: str) -> str:
    """The household's own spelling of the title number it sent (case and spaces aside)."""
    household = session.get(Household, loan.household_id)
    own = household.title_number
    if own is None or own.strip().casefold() != title_number.strip().casefold():
        raise InvalidInput(
            "a land title held for a loan must be the borrowing household's own title"
            + (" (the household has no title number on file)" if own is None else ""),
            code="TITLE_NOT_HOUSEHOLDS",
            field="title_number",
        )
    return own


def _already_held(held: Collateral, loan: Loan) -> Conflict:
    where = "this loan" if held.loan_id == loan.id else "another loan"
    error = Conflict(
        f"this title has been held for {where} since {held.received_on}: it is released first",
        code="TITLE_ALREADY_HELD",
        field="title_number",
    )
    error.extra = {"held_since": held.received_on.isoformat()}  # type: ignore[attr-defined]
    return error


def record(
    session: Session,
    principal: Principal,
    loan_id: str,
    body: CollateralCreate,
    today: date,
    return_days: int,
) -> CollateralOut:
    """POST /v1/loans/{id}/collateral, by the lender's partner key or a loan officer."""
    loan = get_visible(session, principal, loan_id)
    _check_kind(body)
    if loan.status not in OPEN_FOR_COLLATERAL:
        error = Conflict(f"a {loan.status} loan takes no collateral", code="LOAN_NOT_OPEN")
        error.extra = {"current_status": loan.status}  # type: ignore[attr-defined]
        raise error
    if session.get(Lender, body.held_by_lender_id) is None:
        raise InvalidInput(
            f"no lender {body.held_by_lender_id}", code="UNKNOWN_LENDER", field="held_by_lender_id"
        )
    if body.held_by_lender_id != loan.lender_id:
        raise InvalidInput(
            "collateral is held by the loan's own lender",
            code="HOLDER_NOT_LOANS_LENDER",
            field="held_by_lender_id",
        )
    check_date(
        body.received_on,
        today=today,
        not_before=loan.submitted_on,
        field="received_on",
        step="the application",
    )
    if body.value is not None and body.value != round_money(body.value, loan.currency):
        raise InvalidInput(
            f"value has more decimals than {loan.currency} allows", code="TOO_MANY_DECIMALS", field="value"
        )
    title = _households_title(session, loan, body.title_number) if body.kind == "land_title" else None
    if title is not None and (held := repository.held_title(session, title)) is not None:
        raise _already_held(held, loan)
    item = Collateral(
        loan_id=loan.id,
        household_id=loan.household_id,
        held_by_lender_id=loan.lender_id,
        kind=body.kind,
        title_number=title,
        description=body.description,
        received_on=body.received_on,
        storage_location=body.storage_location,
        value=body.value,
        currency=loan.currency,
        recorded_by=principal.name,
    )
    try:
        with session.begin_nested():  # a concurrent hold of the same title committed first: 409
            session.add(item)
    except IntegrityError as exc:
        if title is not None and (held := repository.held_title(session, title)) is not None:
            raise _already_held(held, loan) from exc
        raise
    audit(
        session,
        principal,
        entity_type="collateral",
        entity_id=item.id,
        loan_id=loan.id,
        action="collateral_received",
        after=_snapshot(item),
    )
    return _out(item, loan, today, return_days)


def list_for_loan(
    session: Session,
    principal: Principal,
    loan_id: str,
    limit: int,
    offset: int,
    today: date,
    return_days: int,
) -> Page[CollateralOut]:
    loan = get_visible(session, principal, loan_id)
    items, total = page(session, repository.of_loan_query(loan.id), limit, offset)
    return Page[CollateralOut](
        items=[_out(i, loan, today, return_days) for i in items], total=total, limit=limit, offset=offset
    )


def release(
    session: Session,
    principal: Principal,
    collateral_id: str,
    body: ReleaseRequest,
    today: date,
    return_days: int,
) -> CollateralOut:
    """POST /v1/collateral/{id}/release: the item goes back, against a signed receipt."""
    item = repository.get(session, collateral_id, lock=True)  # two releases at once: one wins
    missing = NotFound(f"no collateral {collateral_id}", code="COLLATERAL_NOT_FOUND")
    if item is None:
        raise missing
    try:
        loan = get_visible(session, principal, item.loan_id)
    except NotFound:
        raise missing from None
    if item.released_on is not None:
        error = Conflict(f"this item was already released on {item.released_on}", code="ALREADY_RELEASED")
        error.extra = {"released_on": item.released_on.isoformat()}  # type: ignore[attr-defined]
        raise error
    check_date(
        body.released_on, today=today, not_before=item.received_on, field="released_on", step="the hold"
    )
    early = loan.closed_on is None or body.released_on < loan.closed_on
    if early and body.reason is None:
        raise InvalidInput(
            f"the loan was not closed on {body.released_on} (it is {loan.status}):"
            " an early release needs a reason",
            code="REASON_REQUIRED",
            field="reason",
        )
    status_before = collateral_status(
        released_on=None, closed_on=loan.closed_on, as_of=body.released_on, return_days=return_days
    )
    before = _snapshot(item) | {"status": status_before}
    item.released_on, item.released_to = body.released_on, body.released_to
    item.receipt_reference, item.release_reason = body.receipt_reference, body.reason
    item.released_by = principal.name
    session.flush()
    audit(
        session,
        principal,
        entity_type="collateral",
        entity_id=item.id,
        loan_id=loan.id,
        action="collateral_released",
        before=before,
        after=_snapshot(item)
        | {
            "status": "released",
            "reason": body.reason,
            "days_since_closure": days_since_closure(loan.closed_on, body.released_on),
            "returned_late": status_before == "overdue",
        },
    )
    return _out(item, loan, today, return_days)


def loan_closed(session: Session, principal: Principal, loan: Loan) -> None:
    """The payment that closed `loan` makes what it still holds due for return: a history entry
    each, and the event title.due_for_return for each land title, in the payment's transaction."""
    for item in repository.unreleased_of_loan(session, loan.id):
        after = _snapshot(item) | {"status": "due_for_return", "loan_closed_on": loan.closed_on.isoformat()}
        audit(
            session,
            principal,
            entity_type="collateral",
            entity_id=item.id,
            loan_id=loan.id,
            action="collateral_due_for_return",
            after=after,
        )
        if item.kind == "land_title":
            data = {
                "collateral_id": item.id,
                "loan_id": loan.id,
                "household_id": item.household_id,
                "title_number": item.title_number,
                "received_on": item.received_on,
                "closed_on": loan.closed_on,
            }
            emit(session, "title.due_for_return", loan.lender_id, data)


def loan_reopened(session: Session, principal: Principal, loan: Loan) -> None:
    """A reversal reopened `loan`: what it holds is held again (a history entry each)."""
    for item in repository.unreleased_of_loan(session, loan.id):
        audit(
            session,
            principal,
            entity_type="collateral",
            entity_id=item.id,
            loan_id=loan.id,
            action="collateral_held_again",
            after=_snapshot(item) | {"status": "held"},
        )


# Reports ------------------------------------------------------------------------------------------


def titles_report(
    session: Session,
    principal: Principal,
    as_of: date,
    status: str | None,
    lender_id: str | None,
    limit: int,
    offset: int,
    return_days: int,
) -> Page[TitleReportRow]:
    """GET /v1/reports/titles: a partner sees its own lender's titles; finance leads no names or
    title numbers."""
    scope = principal.lender_scope
    if scope is not None and lender_id not in (None, scope):
        return Page[TitleReportRow](items=[], total=0, limit=limit, offset=offset)
    query = repository.titles_query(as_of, return_days, status, scope or lender_id)
    rows, total = repository.titles_page(session, query, limit, offset)
    personal = principal.role != "finance_lead"
    items = []
    for row in rows:
        item: Collateral = row.Collateral
        state = collateral_status(
            released_on=item.released_on, closed_on=row.closed_on, as_of=as_of, return_days=return_days
        )
        closed_by_then = row.closed_on if row.closed_on and row.closed_on <= as_of else None
        items.append(
            TitleReportRow(
                collateral_id=item.id,
                loan_id=item.loan_id,
                loan_status=row.loan_status,
                household_id=item.household_id,
                head_name=row.head_name if personal else None,
                title_number=item.title_number if personal else None,
                held_by_lender_id=item.held_by_lender_id,
                lender_name=row.lender_name,
                received_on=item.received_on,
                storage_location=item.storage_location,
                status=state,
                loan_closed_on=closed_by_then,
                return_due_on=return_deadline(closed_by_then, return_days) if closed_by_then else None,
                days_since_closure=None if state == "released" else days_since_closure(closed_by_then, as_of),
                released_on=item.released_on if state == "released" else None,
            )
        )
    return Page[TitleReportRow](items=items, total=total, limit=limit, offset=offset)


def overdue_titles(
    session: Session, principal: Principal, as_of: date, return_days: int
) -> list[OverdueTitlesOut]:
    """Per lender, the land titles still held at as_of more than return_days after their loan closed."""
    rows = repository.overdue_titles_by_lender(session, as_of, return_days, principal.lender_scope)
    return [OverdueTitlesOut(lender_id=lid, lender_name=name, titles=n) for lid, name, n in rows]


def held_on_loans(
    session: Session, loan_ids: list[str], as_of: date, *, personal: bool
) -> dict[str, list[HeldCollateralOut]]:
    """Per loan, what is held at as_of (the delinquent list); title numbers only when `personal`."""
    held = repository.held_on_loans(session, loan_ids, as_of)
    return {
        loan_id: [
            HeldCollateralOut(
                id=i.id,
                kind=i.kind,
                title_number=i.title_number if personal else None,
                held_by_lender_id=i.held_by_lender_id,
                received_on=i.received_on,
            )
            for i in items
        ]
        for loan_id, items in held.items()
    }
