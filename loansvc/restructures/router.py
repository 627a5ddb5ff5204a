"""HTTP for the loan changes families and lenders need: restructures (four eyes), payoff quotes,
and the schedule versions a loan has had."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from loansvc.auth.principal import Principal
from loansvc.fields import Date, Page
from loansvc.restructures import service
from loansvc.restructures.schemas import (
    PayoffOut,
    RejectRestructure,
    RestructureCreate,
    RestructureOut,
    ScheduleVersionOut,
)
from loansvc.web import idempotency
from loansvc.web.deps import ALL_ROLES, PageDep, SessionDep, SettingsDep, TodayDep, WriteSessionDep, require
from loansvc.web.idempotency import IdempotencyKey
from loansvc.web.problems import AUTH_ERRORS, responses

router = APIRouter(prefix="/v1", tags=["restructuring and prepayment"])

DECIDERS = ("partner", "loan_officer")


@router.post(
    "/loans/{loan_id}/restructures",
    status_code=201,
    response_model=RestructureOut,
    responses=responses(*AUTH_ERRORS, 404, 409, 422),
)
def request_restructure(
    loan_id: str,
    body: RestructureCreate,
    request: Request,
    session: WriteSessionDep,
    today: TodayDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
    principal: Principal = require(*DECIDERS),
):
    """A restructure request with its preview (the new schedule from `effective_on`, the level
    installment before and after, the cost still to pay, the APR/EIR of what remains). Nothing
    changes on the loan until a different key approves it. By the lender's partner key, or a loan
    officer for materials-bank loans."""

    def action():
        item = service.request(session, principal, loan_id, body, today, settings.rate_cap_percent)
        return 201, service.restructure_out(item)

    return idempotency.run(session, principal, request, idempotency_key, body, action)


@router.get(
    "/loans/{loan_id}/restructures",
    response_model=Page[RestructureOut],
    responses=responses(*AUTH_ERRORS, 404),
)
def list_restructures(
    loan_id: str, session: SessionDep, page: PageDep, principal: Principal = require(*ALL_ROLES)
):
    return service.list_for_loan(session, principal, loan_id, page.limit, page.offset)


@router.get(
    "/restructures/{restructure_id}", response_model=RestructureOut, responses=responses(*AUTH_ERRORS, 404)
)
def get_restructure(restructure_id: str, session: SessionDep, principal: Principal = require(*ALL_ROLES)):
    return service.get_out(session, principal, restructure_id)


@router.post(
    "/restructures/{restructure_id}/approve",
    response_model=RestructureOut,
    responses=responses(*AUTH_ERRORS, 404, 409, 422),
)
def approve_restructure(
    restructure_id: str,
    session: WriteSessionDep,
    today: TodayDep,
    settings: SettingsDep,
    principal: Principal = require(*DECIDERS),
):
    """Approval by a key other than the requester's (409 FOUR_EYES): writes the new schedule
    version from `effective_on`; payments already allocated stay where they are."""
    item = service.approve(session, principal, restructure_id, today, settings.rate_cap_percent)
    return service.restructure_out(item)


@router.post(
    "/restructures/{restructure_id}/reject",
    response_model=RestructureOut,
    responses=responses(*AUTH_ERRORS, 404, 409, 422),
)
def reject_restructure(
    restructure_id: str,
    body: RejectRestructure,
    session: WriteSessionDep,
    today: TodayDep,
    principal: Principal = require(*DECIDERS),
):
    return service.restructure_out(service.reject(session, principal, restructure_id, body.reason, today))


@router.get(
    "/loans/{loan_id}/payoff", response_model=PayoffOut, responses=responses(*AUTH_ERRORS, 404, 409, 422)
)
def payoff(
    loan_id: str,
    session: SessionDep,
    today: TodayDep,
    on: Date | None = Query(default=None, description="the day of the payment (default today)"),
    principal: Principal = require(*ALL_ROLES),
):
    """The exact amount that closes the loan with a payment on `on`: per-period interest counts the
    current period in full, daily interest the days elapsed; nothing of a period not begun."""
    return service.payoff(session, principal, loan_id, on, today)


@router.get(
    "/loans/{loan_id}/schedule/versions",
    response_model=list[ScheduleVersionOut],
    responses=responses(*AUTH_ERRORS, 404),
)
def schedule_versions(loan_id: str, session: SessionDep, principal: Principal = require(*ALL_ROLES)):
    """Every schedule version the loan has had, why it was written, and which one is in force."""
    return service.versions(session, principal, loan_id)
