"""HTTP for the client-protection reports: land titles held and returned, complaints, collections."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from loansvc.auth.principal import Principal
from loansvc.fields import Date, Page
from loansvc.protection import collateral, complaints
from loansvc.protection.complaints_schemas import ComplaintsReportOut
from loansvc.protection.contacts_schemas import CollectionsReportOut
from loansvc.protection.custody_schemas import CollateralStatus, TitleReportRow
from loansvc.reports import collections
from loansvc.reports.router import ReportDate
from loansvc.web.deps import ALL_ROLES, PageDep, ReadSessionDep, SettingsDep, require
from loansvc.web.problems import AUTH_ERRORS, responses

router = APIRouter(prefix="/v1/reports", tags=["reports"])
LenderQuery = Annotated[str | None, Query(max_length=36, description="this lender's only")]


@router.get("/titles", response_model=Page[TitleReportRow], responses=responses(*AUTH_ERRORS, 422))
def titles(
    session: ReadSessionDep,
    settings: SettingsDep,
    page: PageDep,
    as_of: ReportDate,
    status: CollateralStatus | None = None,
    lender_id: LenderQuery = None,
    principal: Principal = require(*ALL_ROLES),
):
    """Land titles held as collateral, as of a day (default today), the longest closed loan
    first: `held` while the loan is open, `due_for_return` from its closed_on to closed_on +
    LOANSVC_TITLE_RETURN_DAYS, `overdue` from the day after (day 31 with the default 30),
    `released` once given back. `days_since_closure` = as_of - closed_on while not released.
    A partner sees its own lender's titles; finance leads get no names or title numbers."""
    return collateral.titles_report(
        session, principal, as_of, status, lender_id, page.limit, page.offset, settings.title_return_days
    )


@router.get("/complaints", response_model=ComplaintsReportOut, responses=responses(*AUTH_ERRORS, 422))
def complaints_report(
    session: ReadSessionDep,
    lender_id: LenderQuery = None,
    received_from: Annotated[Date | None, Query(description="received on or after")] = None,
    received_to: Annotated[Date | None, Query(description="received on or before")] = None,
    principal: Principal = require(*ALL_ROLES),
):
    """Complaints counted by status, by category, by lender and by both, and the median days from
    received_on to resolved_on of the resolved ones (rejected ones are not resolutions). A
    partner counts the complaints about its own lender."""
    return complaints.report(session, principal, lender_id, received_from, received_to)


@router.get("/collections", response_model=CollectionsReportOut, responses=responses(*AUTH_ERRORS, 422))
def collections_report(
    session: ReadSessionDep, as_of: ReportDate, principal: Principal = require(*ALL_ROLES)
):
    """Per site and officer, as of a day: the loans in arrears (at least 1 day past due) under
    the officer of their latest contact (null: never contacted), how many of them were contacted
    in the 7 days up to as_of, and the promises to pay due in the 30 days up to as_of kept and
    broken (under the officer who took them), with the promises still open."""
    return collections.collections(session, principal, as_of)
