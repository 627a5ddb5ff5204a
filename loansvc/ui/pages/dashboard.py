"""The finance lead's dashboard: the portfolio report's figures (GET /v1/reports/portfolio) in one
currency, by lender, site or product; the PAR-trend and aging charts; the CSV and XLSX downloads.
The same services and the same `as_of` rule as the report endpoints, so every figure is the API's
for the same query. Every role that reads reports (a partner: its own lender's loans)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import Response

from loansvc.auth.principal import Principal
from loansvc.fields import Currency
from loansvc.reports import frames, service, workbook
from loansvc.reports.router import CSV, XLSX, ReportDate
from loansvc.reports.schemas import GroupBy, PortfolioOut
from loansvc.ui.pages.base import page_router
from loansvc.ui.web import page_for, render
from loansvc.web.deps import ALL_ROLES, ReadSessionDep, SettingsDep, TodayDep

router = page_router()
CURRENCIES = ("USD", "KHR")
CurrencyQuery = Annotated[Currency | None, Query(description="the currency shown (default USD)")]


def _portfolio(session, settings, principal, as_of, group_by, today):
    return service.portfolio(
        session, principal, as_of, group_by, None, rate_cap_percent=settings.rate_cap_percent, today=today
    )


@router.get("/dashboard")
def dashboard_page(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    today: TodayDep,
    as_of: ReportDate,
    currency: CurrencyQuery = None,
    group_by: GroupBy = "lender",
    principal: Principal = page_for(*ALL_ROLES),
):
    report = _portfolio(session, settings, principal, as_of, group_by, today)
    data: dict[str, Any] = PortfolioOut.model_validate(frames.as_json(report)).model_dump(
        mode="json", by_alias=True, exclude_unset=True
    )
    shown = currency or "USD"
    totals = next((t for t in data["totals"] if t["currency"] == shown), None)
    groups = [g for g in data["groups"] if g["currency"] == shown]
    query = f"as_of={as_of.isoformat()}&currency={shown}"
    return render(
        request,
        "dashboard.html",
        report=data,
        as_of=as_of.isoformat(),
        currency=shown,
        currencies=sorted({*CURRENCIES, *(t["currency"] for t in data["totals"])}),
        group_by=group_by,
        group_options=("lender", "site", "product", "currency"),
        totals=totals,
        groups=groups,
        query=query,
        downloads=f"as_of={as_of.isoformat()}&group_by={group_by}",
    )


@router.get("/dashboard/par-trend.png")
def par_trend(
    session: ReadSessionDep,
    settings: SettingsDep,
    today: TodayDep,
    as_of: ReportDate,
    currency: CurrencyQuery = None,
    principal: Principal = page_for(*ALL_ROLES),
):
    """GET /v1/reports/charts/par-trend.png's chart (12 months)."""
    chart = service.par_trend_chart(
        session, principal, as_of, 12, currency, rate_cap_percent=settings.rate_cap_percent, today=today
    )
    return Response(chart, media_type="image/png")


@router.get("/dashboard/aging.png")
def aging(
    session: ReadSessionDep,
    today: TodayDep,
    as_of: ReportDate,
    currency: CurrencyQuery = None,
    principal: Principal = page_for(*ALL_ROLES),
):
    return Response(
        service.aging_chart(session, principal, as_of, currency, today=today), media_type="image/png"
    )


def _attachment(content: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.get("/dashboard/portfolio.csv")
def portfolio_csv(
    session: ReadSessionDep,
    settings: SettingsDep,
    today: TodayDep,
    as_of: ReportDate,
    group_by: GroupBy = "lender",
    principal: Principal = page_for(*ALL_ROLES),
):
    """GET /v1/reports/portfolio?format=csv, as a download the browser can follow."""
    report = _portfolio(session, settings, principal, as_of, group_by, today)
    name = f"portfolio-{report.as_of.isoformat()}-by-{group_by}.csv"
    return _attachment(frames.to_csv(report).encode("utf-8"), CSV, name)


@router.get("/dashboard/portfolio.xlsx")
def portfolio_xlsx(
    session: ReadSessionDep,
    settings: SettingsDep,
    today: TodayDep,
    as_of: ReportDate,
    group_by: GroupBy = "lender",
    principal: Principal = page_for(*ALL_ROLES),
):
    report = _portfolio(session, settings, principal, as_of, group_by, today)
    name = f"portfolio-{report.as_of.isoformat()}-by-{group_by}.xlsx"
    return _attachment(workbook.to_xlsx(report), XLSX, name)
