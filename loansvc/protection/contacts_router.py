"""HTTP for the follow-up of late loans: contacts and promises to pay."""

from __future__ import annotations

from fastapi import APIRouter

from loansvc.auth.principal import Principal
from loansvc.fields import Page
from loansvc.protection import contacts
from loansvc.protection.contacts_schemas import ContactCreate, ContactOut
from loansvc.web.deps import PageDep, SessionDep, TodayDep, require
from loansvc.web.problems import AUTH_ERRORS, responses

router = APIRouter(prefix="/v1/loans", tags=["collections"])
FOLLOWERS = ("loan_officer", "partner")


@router.post(
    "/{loan_id}/contacts",
    status_code=201,
    response_model=ContactOut,
    responses=responses(*AUTH_ERRORS, 404, 409, 422),
)
def record_contact(
    loan_id: str,
    body: ContactCreate,
    session: SessionDep,
    today: TodayDep,
    principal: Principal = require(*FOLLOWERS),
):
    """A visit, call or message about an active or written-off loan (409 LOAN_NOT_IN_REPAYMENT
    otherwise), dated from the first disbursement to today. A `promise` (only from a family
    `reached`, 422 PROMISE_NOT_REACHED) is `open` until its `due_on`, `kept` once the loan's
    payments dated from `contacted_on` to `due_on` reach its amount, `broken` from the day after
    its due date otherwise."""
    return contacts.record(session, principal, loan_id, body, today)


@router.get("/{loan_id}/contacts", response_model=Page[ContactOut], responses=responses(*AUTH_ERRORS, 404))
def list_contacts(
    loan_id: str,
    session: SessionDep,
    today: TodayDep,
    page: PageDep,
    principal: Principal = require(*FOLLOWERS),
):
    """The loan's contacts, oldest first, each promise with its state as of today."""
    return contacts.list_for_loan(session, principal, loan_id, page.limit, page.offset, today)
