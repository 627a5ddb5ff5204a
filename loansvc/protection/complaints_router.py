"""HTTP for complaints: recorded, handled, read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from loansvc.auth.principal import Principal
from loansvc.fields import Page
from loansvc.protection import complaints
from loansvc.protection.complaints_schemas import (
    Category,
    ComplaintCreate,
    ComplaintOut,
    ComplaintPatch,
    ComplaintStatus,
)
from loansvc.web.deps import PageDep, SessionDep, TodayDep, require
from loansvc.web.problems import AUTH_ERRORS, responses

router = APIRouter(prefix="/v1/complaints", tags=["complaints"])
HANDLERS = ("loan_officer", "partner")
IdQuery = Annotated[str | None, Query(max_length=36)]


@router.post("", status_code=201, response_model=ComplaintOut, responses=responses(*AUTH_ERRORS, 404, 422))
def record_complaint(
    body: ComplaintCreate, session: SessionDep, today: TodayDep, principal: Principal = require(*HANDLERS)
):
    """A complaint, by a loan officer or a partner for its own clients: another lender's
    `lender_id` is 403 LENDER_NOT_ALLOWED; a household it may not see or another lender's loan is
    404. A `loan_id` gives the household and the lender (422 LOAN_NOT_HOUSEHOLDS /
    LOAN_NOT_LENDERS when they disagree). It starts `open`."""
    return complaints.record(session, principal, body, today)


@router.get("", response_model=Page[ComplaintOut], responses=responses(*AUTH_ERRORS, 422))
def list_complaints(
    session: SessionDep,
    page: PageDep,
    status: ComplaintStatus | None = None,
    lender_id: IdQuery = None,
    category: Category | None = None,
    household_id: IdQuery = None,
    loan_id: IdQuery = None,
    principal: Principal = require(*HANDLERS),
):
    """The latest received first. A partner sees the complaints about its own lender only, an
    anonymous one without the complainant's name, household or loan."""
    return complaints.list_complaints(
        session,
        principal,
        status=status,
        lender_id=lender_id,
        category=category,
        household_id=household_id,
        loan_id=loan_id,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{complaint_id}", response_model=ComplaintOut, responses=responses(*AUTH_ERRORS, 404))
def get_complaint(complaint_id: str, session: SessionDep, principal: Principal = require(*HANDLERS)):
    return complaints.get(session, principal, complaint_id)


@router.patch(
    "/{complaint_id}", response_model=ComplaintOut, responses=responses(*AUTH_ERRORS, 404, 409, 422)
)
def update_complaint(
    complaint_id: str,
    body: ComplaintPatch,
    session: SessionDep,
    today: TodayDep,
    principal: Principal = require(*HANDLERS),
):
    """open -> in_progress -> resolved | rejected (any other move is 409 ILLEGAL_TRANSITION).
    Resolving or rejecting needs a `resolution` (422 RESOLUTION_REQUIRED); `resolved_on` defaults
    to today, not before received_on nor in the future."""
    return complaints.update(session, principal, complaint_id, body, today)
