"""The visit list: the delinquent loans by site, the longest late first, with the family's parcel
and phone (GET /v1/reports/delinquent-loans' service, as of today). Loan officers and partners (a
partner: its own lender's loans); finance leads read the portfolio on the dashboard instead."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request

from loansvc.auth.principal import Principal
from loansvc.reports import service as reports
from loansvc.ui import lookups
from loansvc.ui.pages.base import page_router
from loansvc.ui.web import OFFICER_PAGES, page_for, render
from loansvc.web.deps import SessionDep, TodayDep

router = page_router()
PAGE = 200


@router.get("/visits")
def visits_page(
    request: Request,
    session: SessionDep,
    today: TodayDep,
    min_days: Annotated[int, Query(ge=1, le=100_000)] = 1,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    principal: Principal = page_for(*OFFICER_PAGES),
):
    # the page shows how many loans are late and links the next page: an exact total
    late = reports.delinquent_loans(session, principal, today, min_days, PAGE, offset, today, count=True)
    by_site: dict[str, list[dict[str, Any]]] = {}
    for item in late.model_dump(mode="json", by_alias=True)["items"]:
        by_site.setdefault(item["site_name"], []).append(item)  # the service's order: longest late first
    return render(
        request,
        "visits.html",
        by_site=by_site,
        total=late.total,
        offset=offset,
        page_size=PAGE,
        min_days=min_days,
        lenders=lookups.lenders(session),
        today=today,
    )
