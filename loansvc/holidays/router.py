"""HTTP for the holiday calendar (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from loansvc.auth.principal import Principal
from loansvc.fields import Page
from loansvc.holidays import service
from loansvc.holidays.schemas import HolidayCreate, HolidayOut, WorkingDays, WorkingDaysOut
from loansvc.web.deps import ALL_ROLES, PageDep, SessionDep, TodayDep, WriteSessionDep, require
from loansvc.web.problems import AUTH_ERRORS, responses

router = APIRouter(prefix="/v1", tags=["holiday calendar"])


@router.get("/holidays", response_model=Page[HolidayOut], responses=responses(*AUTH_ERRORS, 422))
def list_holidays(
    session: SessionDep,
    page: PageDep,
    year: int | None = Query(default=None, ge=1990, le=2100),
    lender_id: str | None = Query(default=None, description="that lender's and the programme's"),
    principal: Principal = require(*ALL_ROLES),
):
    return service.listing(session, year, lender_id, page.limit, page.offset)


@router.post(
    "/holidays", status_code=201, response_model=HolidayOut, responses=responses(*AUTH_ERRORS, 409, 422)
)
def add_holiday(
    body: HolidayCreate, session: WriteSessionDep, today: TodayDep, principal: Principal = require("admin")
):
    """A holiday (programme-wide without `lender_id`). Due dates of active loans that land on it
    from today on move by each product's holiday rule: one new schedule version per loan. A
    holiday entered on or after its own date moves nothing."""
    return service.add(session, principal, body, today)


@router.delete("/holidays/{holiday_id}", response_model=HolidayOut, responses=responses(*AUTH_ERRORS, 404))
def delete_holiday(
    holiday_id: str, session: WriteSessionDep, today: TodayDep, principal: Principal = require("admin")
):
    """Removes a holiday; the future due dates it had moved move back."""
    return service.remove(session, principal, holiday_id, today)


@router.put(
    "/lenders/{lender_id}/working-days",
    response_model=WorkingDaysOut,
    responses=responses(*AUTH_ERRORS, 404, 422),
)
def set_working_days(
    lender_id: str,
    body: WorkingDays,
    session: WriteSessionDep,
    today: TodayDep,
    principal: Principal = require("admin"),
):
    """The weekdays a lender does not collect on (default none); its loans' future due dates move."""
    return service.set_working_days(session, principal, lender_id, body.non_working_weekdays, today)
