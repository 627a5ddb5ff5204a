"""Following up a late loan: visits, calls and messages, and the family's promises to pay.

A contact is recorded by a loan officer, or by the lender's partner key on its own loans, on a
loan being repaid (active) or written off (a recovery visit); it is dated from the first
disbursement to today. A promise is taken only from a family that was reached, for a positive
amount in the loan's currency, due on or after the contact day. Its state is never stored: the
ledger's payments from the contact day to the due date decide it (loansvc.domain.custody).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from loansvc.audit.service import record as audit
from loansvc.auth.principal import Principal
from loansvc.db.models import CollectionContact
from loansvc.domain.custody import promise_state
from loansvc.domain.errors import Conflict, InvalidInput
from loansvc.domain.money import round_money
from loansvc.fields import Page
from loansvc.lending.access import check_date, get_visible
from loansvc.protection import contacts_repository as repository
from loansvc.protection.contacts_schemas import ContactCreate, ContactOut, LastContactOut, PromiseOut

FOLLOWED_UP = ("active", "written_off")


def promise_out(contact: CollectionContact, paid, as_of: date, currency: str) -> PromiseOut | None:
    if contact.promise_due_on is None:
        return None
    return PromiseOut(
        contact_id=contact.id,
        contacted_on=contact.contacted_on,
        amount=round_money(contact.promise_amount, currency),
        due_on=contact.promise_due_on,
        paid=round_money(paid, currency),
        state=promise_state(
            amount=contact.promise_amount, due_on=contact.promise_due_on, paid=paid, as_of=as_of
        ),
    )


def _out(contact: CollectionContact, paid, as_of: date, currency: str) -> ContactOut:
    return ContactOut(
        id=contact.id,
        loan_id=contact.loan_id,
        kind=contact.kind,
        contacted_on=contact.contacted_on,
        by=contact.contacted_by,
        outcome=contact.outcome,
        note=contact.note,
        promise=promise_out(contact, paid, as_of, currency),
        recorded_by=contact.recorded_by,
        created_at=contact.created_at,
    )


def last_contact_out(contact: CollectionContact) -> LastContactOut:
    return LastContactOut(
        contact_id=contact.id,
        kind=contact.kind,
        contacted_on=contact.contacted_on,
        by=contact.contacted_by,
        outcome=contact.outcome,
    )


def record(
    session: Session, principal: Principal, loan_id: str, body: ContactCreate, today: date
) -> ContactOut:
    """POST /v1/loans/{id}/contacts."""
    loan = get_visible(session, principal, loan_id)
    if loan.status not in FOLLOWED_UP:
        error = Conflict(f"a {loan.status} loan is not followed up", code="LOAN_NOT_IN_REPAYMENT")
        error.extra = {"current_status": loan.status}  # type: ignore[attr-defined]
        raise error
    check_date(
        body.contacted_on,
        today=today,
        not_before=loan.first_disbursed_on,
        field="contacted_on",
        step="the first disbursement",
    )
    promise = body.promise
    if promise is not None:
        if body.outcome != "reached":
            raise InvalidInput(
                f"a family {body.outcome.replace('_', ' ')} makes no promise",
                code="PROMISE_NOT_REACHED",
                field="promise",
            )
        if promise.amount != round_money(promise.amount, loan.currency):
            raise InvalidInput(
                f"amount has more decimals than {loan.currency} allows",
                code="TOO_MANY_DECIMALS",
                field="promise.amount",
            )
        if promise.due_on < body.contacted_on:
            raise InvalidInput(
                f"promise.due_on {promise.due_on} is before the contact ({body.contacted_on})",
                code="DATE_BEFORE_PREVIOUS_STEP",
                field="promise.due_on",
            )
    contact = CollectionContact(
        loan_id=loan.id,
        kind=body.kind,
        contacted_on=body.contacted_on,
        contacted_by=body.by,
        outcome=body.outcome,
        note=body.note,
        promise_amount=None if promise is None else promise.amount,
        promise_due_on=None if promise is None else promise.due_on,
        recorded_by=principal.name,
    )
    session.add(contact)
    session.flush()
    after = {
        "kind": contact.kind,
        "contacted_on": contact.contacted_on.isoformat(),
        "by": contact.contacted_by,
        "outcome": contact.outcome,
        "promise": None
        if promise is None
        else {"amount": str(promise.amount), "due_on": promise.due_on.isoformat()},
    }
    audit(
        session,
        principal,
        entity_type="collection_contact",
        entity_id=contact.id,
        loan_id=loan.id,
        action="promise_to_pay" if promise is not None else "contact_recorded",
        after=after,
    )
    paid = repository.paid_of(session, contact.id, today)
    return _out(contact, paid, today, loan.currency)


def list_for_loan(
    session: Session, principal: Principal, loan_id: str, limit: int, offset: int, today: date
) -> Page[ContactOut]:
    """A loan's contacts, oldest first, each promise's state as of today."""
    loan = get_visible(session, principal, loan_id)
    rows, total = repository.contacts_page(session, repository.contacts_query(loan.id, today), limit, offset)
    items = [_out(row.CollectionContact, row.paid, today, loan.currency) for row in rows]
    return Page[ContactOut](items=items, total=total, limit=limit, offset=offset)


def follow_up_of_loans(
    session: Session, loans: dict, as_of: date
) -> tuple[dict[str, LastContactOut], dict[str, PromiseOut]]:
    """Per loan ({id: Loan}): its last contact and its latest promise with its state, as of as_of
    (two statements, whatever the number of loans)."""
    ids = list(loans)
    last = repository.latest_on_loans(session, ids, as_of, promises=False)
    promises = repository.latest_on_loans(session, ids, as_of, promises=True)
    return (
        {loan_id: last_contact_out(contact) for loan_id, (contact, _) in last.items()},
        {
            loan_id: promise_out(contact, paid, as_of, loans[loan_id].currency)
            for loan_id, (contact, paid) in promises.items()
        },
    )
