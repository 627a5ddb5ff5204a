"""HTTP for collateral: what a lender holds for a loan, and its release."""

from __future__ import annotations

from fastapi import APIRouter

from loansvc.auth.principal import Principal
from loansvc.fields import Page
from loansvc.protection import collateral
from loansvc.protection.custody_schemas import CollateralCreate, CollateralOut, ReleaseRequest
from loansvc.web.deps import PageDep, SessionDep, SettingsDep, TodayDep, require
from loansvc.web.problems import AUTH_ERRORS, responses

router = APIRouter(prefix="/v1", tags=["collateral"])
CUSTODIANS = ("loan_officer", "partner")


@router.post(
    "/loans/{loan_id}/collateral",
    status_code=201,
    response_model=CollateralOut,
    responses=responses(*AUTH_ERRORS, 404, 409, 422),
)
def record_collateral(
    loan_id: str,
    body: CollateralCreate,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    principal: Principal = require(*CUSTODIANS),
):
    """The lender receives collateral for a submitted, approved or active loan (409 LOAN_NOT_OPEN
    otherwise), by its partner key or a loan officer; `held_by_lender_id` is the loan's lender
    (422 HOLDER_NOT_LOANS_LENDER).

    - `id_card`, `idpoor_card`: never collateral, 422 COLLATERAL_NOT_ALLOWED.
    - `land_title`: the household's own title number, 422 TITLE_NOT_HOUSEHOLDS otherwise; a title
      is held for one loan at a time until released, 409 TITLE_ALREADY_HELD (also when two requests
      race). `title_number` is for land titles only (422 TITLE_NUMBER_NOT_ALLOWED).
    - `received_on`: not in the future, not before the application (422)."""
    return collateral.record(session, principal, loan_id, body, today, settings.title_return_days)


@router.get(
    "/loans/{loan_id}/collateral", response_model=Page[CollateralOut], responses=responses(*AUTH_ERRORS, 404)
)
def list_collateral(
    loan_id: str,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    page: PageDep,
    principal: Principal = require(*CUSTODIANS),
):
    """A loan's collateral, released items included, with each one's status as of today: `held`
    while the loan is open, `due_for_return` from its closed_on to closed_on +
    LOANSVC_TITLE_RETURN_DAYS (30), `overdue` from the day after, `released`."""
    return collateral.list_for_loan(
        session, principal, loan_id, page.limit, page.offset, today, settings.title_return_days
    )


@router.post(
    "/collateral/{collateral_id}/release",
    response_model=CollateralOut,
    responses=responses(*AUTH_ERRORS, 404, 409, 422),
)
def release_collateral(
    collateral_id: str,
    body: ReleaseRequest,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    principal: Principal = require(*CUSTODIANS),
):
    """The item goes back against a signed receipt. Released before the loan closed (or dated
    before its closed_on) it needs a `reason` (422 REASON_REQUIRED); `released_on` is not before
    `received_on` (422 DATE_BEFORE_PREVIOUS_STEP) nor in the future; twice is 409 ALREADY_RELEASED."""
    return collateral.release(session, principal, collateral_id, body, today, settings.title_return_days)
