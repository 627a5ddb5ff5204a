"""HTTP for the portfolio reports: the portfolio (JSON, CSV, XLSX), the delinquent loans to visit,
and the charts (PNG)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from loansvc.auth.principal import Principal
from loansvc.domain.errors import InvalidInput
from loansvc.fields import CURSOR_MAX_LENGTH, Currency, CursorPage, Date, DecimalStr
from loansvc.reports import frames, service, workbook
from loansvc.reports.schemas import DelinquentLoanOut, GroupBy, PortfolioOut, ReportFormat
from loansvc.web.deps import ALL_ROLES, PageDep, ReadSessionDep, SettingsDep, TodayDep, require
from loansvc.web.problems import AUTH_ERRORS, responses

router = APIRouter(prefix="/v1/reports", tags=["reports"])
CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PNG = {200: {"content": {"image/png": {}}, "description": "a PNG image"}}
AsOf = Annotated[Date | None, Query(description="the report date (default: today); never in the future")]
ChartCurrency = Annotated[
    Currency | None, Query(description="default: the currency with the most active loans at as_of")
]


def report_date(today: TodayDep, as_of: AsOf = None) -> date:
    when = as_of or today
    if when > today:
        raise InvalidInput("as_of cannot be in the future", code="DATE_IN_FUTURE", field="as_of")
    return when


ReportDate = Annotated[date, Depends(report_date)]


def _attachment(content: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.get(
    "/portfolio",
    response_model=PortfolioOut,
    response_model_exclude_unset=True,
    responses={
        **responses(*AUTH_ERRORS, 422),
        200: {"content": {CSV: {}, XLSX: {}}, "description": "JSON, or a CSV / XLSX attachment"},
    },
)
def portfolio(
    session: ReadSessionDep,
    settings: SettingsDep,
    today: TodayDep,
    as_of: ReportDate,
    group_by: GroupBy = "lender",
    format: ReportFormat = "json",
    khr_per_usd: Annotated[
        DecimalStr | None, Query(ge=1, le=1_000_000, description="when given, adds USD+KHR totals in USD")
    ] = None,
    principal: Principal = require(*ALL_ROLES),
):
    """The portfolio as of a date, per currency (never summed across currencies), per group and in total.

    - **active loans**: disbursed on or before as_of, not closed or written off by then;
      **borrowers**: distinct households with one.
    - **gross_loan_portfolio**: their outstanding principal at as_of (disbursed by then, less the
      principal of the payments made by then).
    - **days past due**: as_of minus the oldest due date, before as_of, of an installment not fully
      paid by as_of (an installment due on as_of is not late). Buckets: current, 1-30 ... 365+.
    - **PAR_x** (SEEP): the whole outstanding principal of the loans more than x days late, and its
      percent of the GLP (null when the GLP is 0).
    - **loans_apr_above_cap**: the active loans whose fee-inclusive APR, shown to 2 decimals, is
      above `LOANSVC_RATE_CAP_PERCENT` (each approved with a written acknowledgement), and
      **loans_apr_above_cap_balance** their outstanding principal.
    - **classification**: the NBC table, short-term (original term up to 12 months) or long-term;
      provision: the class's percent of the class's principal, rounded once, half-even.
    - **the month before as_of**: (the same day of the previous month, as_of]; a month-end as_of
      gives the calendar month. In it: **collected** (payments not reversed), **fallen_due**
      (installments due: principal, interest, fees; penalties not included), **paid_by_due_date**
      (paid on those installments by their due date), **collection_rate** = collected / fallen_due,
      **on_time_rate** = paid_by_due_date / fallen_due, **disbursed** cash and materials apart,
      **written_off** principal, **recoveries** (payments on written-off loans, not counted as
      collected), **write_off_ratio** = written_off / average GLP and **loan_loss_rate** =
      (written_off - recoveries) / average GLP, the average being (GLP at the month's start + at
      as_of) / 2.
    - **expected_collections**: for each of 6 calendar months ("2026-12" is 1-31 December), what
      the active loans' installments due then still owed at as_of; arrears (due on or before as_of)
      are not included. The first is the month of the day after as_of, from that day: as of
      2026-07-05, "2026-07" is 6-31 July, then August .. December whole.
    - **group**: the group's id and, beside it, its name (`lender_name`, `site_name`,
      `product_name`; a currency is its own name), in JSON, CSV and XLSX.
    - **khr_per_usd**: adds converted_totals, the USD and KHR totals in USD (KHR / rate, half-even
      to the cent), percentages recomputed.

    Percentages have 2 decimals, half-even; money is a decimal string in the currency's minor unit.
    A reversed payment never counts, whatever the report date. `format=csv`: one row per group and
    currency (and the totals); `format=xlsx`: sheets summary, aging, classification,
    expected_collections, with money cells in the currency's decimals (2 for USD, 0 for KHR),
    percentages as percent cells (the fraction, 0.2024, shown 20.24%), as_of and the months as
    dates, and columns as wide as their contents."""
    report = service.portfolio(
        session,
        principal,
        as_of,
        group_by,
        khr_per_usd,
        rate_cap_percent=settings.rate_cap_percent,
        title_return_days=settings.title_return_days,
        today=today,
    )
    name = f"portfolio-{report.as_of.isoformat()}-by-{group_by}"
    if format == "csv":
        return _attachment(frames.to_csv(report).encode("utf-8"), CSV, f"{name}.csv")
    if format == "xlsx":
        return _attachment(workbook.to_xlsx(report), XLSX, f"{name}.xlsx")
    return PortfolioOut.model_validate(frames.as_json(report))


@router.get(
    "/delinquent-loans", response_model=CursorPage[DelinquentLoanOut], responses=responses(*AUTH_ERRORS, 422)
)
def delinquent_loans(
    session: ReadSessionDep,
    page: PageDep,
    today: TodayDep,
    settings: SettingsDep,
    as_of: ReportDate,
    min_days: Annotated[int, Query(ge=1, le=100_000, description="at least this many days past due")] = 1,
    after: Annotated[
        str | None,
        Query(max_length=CURSOR_MAX_LENGTH, description="the `next_after` of the page before (keyset)"),
    ] = None,
    count: Annotated[
        bool, Query(description="an exact `total` even above the exact-count limit (slower)")
    ] = False,
    principal: Principal = require(*ALL_ROLES),
):
    """The families to visit: loans at least min_days late, the longest late first (the oldest
    late due date first, then by loan id), with the household, its site and parcel. Finance leads
    get the list without names, phones or parcels.

    Page by `after` (each answer's `next_after`, an opaque cursor holding the page's last loan's
    oldest late due date and id: as fast at the ten-thousandth late loan as at the first) or by
    `offset` (kept; with `after`, it skips loans from the cursor on). `total` is exact up to
    `LOANSVC_LIST_EXACT_COUNT_LIMIT` (10,000) late loans, null beyond unless `count=true`
    (`total_is_exact` says which; `total_at_least` is always set); `has_more` says whether a page
    follows. A cursor not made by this list is 422 BAD_CURSOR."""
    return service.delinquent_loans(
        session,
        principal,
        as_of,
        min_days,
        page.limit,
        page.offset,
        today,
        after=after,
        count=count,
        exact_count_limit=settings.list_exact_count_limit,
    )


@router.get(
    "/charts/par-trend.png", response_class=Response, responses={**PNG, **responses(*AUTH_ERRORS, 422)}
)
def par_trend_chart(
    session: ReadSessionDep,
    settings: SettingsDep,
    today: TodayDep,
    as_of: ReportDate,
    months: Annotated[int, Query(ge=2, le=36)] = 12,
    currency: ChartCurrency = None,
    principal: Principal = require(*ALL_ROLES),
):
    """PAR30 and PAR90 in percent at each month end (the last point is as_of), one currency."""
    png = service.par_trend_chart(
        session, principal, as_of, months, currency, rate_cap_percent=settings.rate_cap_percent, today=today
    )
    return Response(png, media_type="image/png")


@router.get("/charts/aging.png", response_class=Response, responses={**PNG, **responses(*AUTH_ERRORS, 422)})
def aging_chart(
    session: ReadSessionDep,
    today: TodayDep,
    as_of: ReportDate,
    currency: ChartCurrency = None,
    principal: Principal = require(*ALL_ROLES),
):
    """Outstanding principal per arrears bucket at as_of, one currency."""
    png = service.aging_chart(session, principal, as_of, currency, today)
    return Response(png, media_type="image/png")
