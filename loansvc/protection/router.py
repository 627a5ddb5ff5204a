"""HTTP for consents (on the household's file) and loan reviews."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from loansvc.auth.principal import Principal
from loansvc.fields import Note, Page
from loansvc.protection import service
from loansvc.protection.schemas import ConsentCreate, ConsentOut, ReviewCreate, ReviewOut
from loansvc.web.deps import ALL_ROLES, PageDep, SessionDep, TodayDep, require
from loansvc.web.problems import AUTH_ERRORS, responses

router = APIRouter(prefix="/v1")


@router.post(
    "/households/{household_id}/consents",
    status_code=201,
    response_model=ConsentOut,
    tags=["households"],
    responses=responses(*AUTH_ERRORS, 404, 422),
)
def record_consent(
    household_id: str,
    body: ConsentCreate,
    session: SessionDep,
    today: TodayDep,
    principal: Principal = require("loan_officer"),
):
    """The household agrees to share its file with a lender (from `given_on`, not in the future)
    until it withdraws. Without a live consent, that lender's partner keys do not see the household,
    and no application to that lender is accepted (422 CONSENT_REQUIRED)."""
    return service.record_consent(session, principal, household_id, body, today)


@router.delete(
    "/households/{household_id}/consents/{consent_id}",
    response_model=ConsentOut,
    tags=["households"],
    responses=responses(*AUTH_ERRORS, 404, 409, 422),
)
def withdraw_consent(
    household_id: str,
    consent_id: str,
    session: SessionDep,
    today: TodayDep,
    reason: Annotated[Note | None, Query(description="why the household withdraws, in its words")] = None,
    principal: Principal = require("loan_officer"),
):
    """Records the withdrawal (withdrawn_on = today); nothing is deleted. From then on the lender's
    partner keys get 404 on the household; the lender's own loans stay visible to it."""
    return service.withdraw_consent(session, principal, household_id, consent_id, reason, today)


@router.post(
    "/loans/{loan_id}/reviews",
    status_code=201,
    response_model=ReviewOut,
    tags=["loans"],
    responses=responses(*AUTH_ERRORS, 404, 409, 422),
)
def record_review(
    loan_id: str,
    body: ReviewCreate,
    session: SessionDep,
    today: TodayDep,
    principal: Principal = require("loan_officer"),
):
    """A loan officer's review of a submitted application. When the assessment gives a reason code
    the policy marks `needs_review` (IDPOOR_REVIEW by default), approval needs the latest review to
    be `cleared` (409 REVIEW_REQUIRED otherwise)."""
    return service.record_review(session, principal, loan_id, body, today)


@router.get(
    "/loans/{loan_id}/reviews",
    response_model=Page[ReviewOut],
    tags=["loans"],
    responses=responses(*AUTH_ERRORS, 404),
)
def list_reviews(
    loan_id: str, session: SessionDep, page: PageDep, principal: Principal = require(*ALL_ROLES)
):
    items, total = service.list_reviews(session, principal, loan_id, page.limit, page.offset)
    return Page[ReviewOut](items=items, total=total, limit=page.limit, offset=page.offset)
