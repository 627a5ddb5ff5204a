"""Portfolio reports: the use cases behind the report endpoints, and the report's calendar.

Periods. "The month before as_of" is (as_of - 1 month, as_of]: from the same day of the previous
month (exclusive) to as_of (inclusive). A month-end as_of keeps to month ends (2026-02-28 ->
2026-01-31 -> 2025-12-31), so a month-end report reads calendar months exactly; another day is
clamped to the shorter months (2026-03-30 -> 2026-02-28).

The expected collections are calendar months: "2026-12" is 1 to 31 December. The first is the
month of the day after as_of, counted from that day (the rest of as_of's month, when as_of is not
a month end: an installment due on or before as_of is paid or in arrears, never expected), then the
following whole calendar months. As of 2026-06-30: 2026-07 (1-31 July) .. 2026-12; as of
2026-07-05: 2026-07 (6-31 July), 2026-08 (1-31 August) .. 2026-12.

Scoping. A partner sees its own lender's loans only; finance leads see every lender, and the
delinquent-loans list leaves out names, phones and parcel codes for them.
"""

from __future__ import annotations

import calendar
from dataclasses import replace
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from loansvc.auth.principal import Principal
from loansvc.config import Settings
from loansvc.domain.custody import DEFAULT_TITLE_RETURN_DAYS
from loansvc.fields import CursorPage, date_id_cursor
from loansvc.lending import expected, reads
from loansvc.lending import repository as lending_repository
from loansvc.lending.expected import months_after
from loansvc.protection import collateral
from loansvc.reports import charts, collections, frames, queries
from loansvc.reports.frames import Portfolio, Rows
from loansvc.reports.queries import GROUP_KEYS, GROUP_NAMES, Scope
from loansvc.reports.schemas import DelinquentLoanOut
from loansvc.snapshots import flows as snapshot_flows
from loansvc.snapshots import service as snapshots

EXPECTED_MONTHS = expected.WINDOWS  # the windows the loans keep (lending.expected)
PERSONAL = ("head_name", "phone", "parcel_code")
DEFAULT_EXACT_COUNT_LIMIT = Settings.model_fields["list_exact_count_limit"].default


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def shift_months(day: date, months: int) -> date:
    """`day` moved by whole months: a month end stays a month end, another day is clamped."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    end = _month_end(year, month + 1)
    if day == _month_end(day.year, day.month):
        return end
    return end.replace(day=min(day.day, end.day))


def month_before(as_of: date) -> date:
    """The exclusive start of the month before as_of."""
    return shift_months(as_of, -1)


def month_ends(as_of: date, count: int) -> list[date]:
    """The ends of the `count - 1` months before as_of's month, then as_of itself."""
    index = as_of.year * 12 + as_of.month - 1
    ends = []
    for k in range(count - 1, 0, -1):
        year, month = divmod(index - k, 12)
        ends.append(_month_end(year, month + 1))
    return [*ends, as_of]


def portfolio(
    session: Session,
    principal: Principal,
    as_of: date,
    group_by: str,
    khr_per_usd: Decimal | None = None,
    *,
    rate_cap_percent: Decimal,
    title_return_days: int = DEFAULT_TITLE_RETURN_DAYS,
    today: date | None = None,
) -> Portfolio:
    """`rate_cap_percent`: the legal cap (settings), for the loans counted as above it;
    `title_return_days` (settings): when a closed loan's land title is overdue; `today`: with it,
    a past month-end as_of reads its positions from the month-end snapshot (loansvc.snapshots)."""
    # as of today, the positions the ledger keeps on the loans (queries.positions)
    scope = Scope(
        as_of=as_of,
        group_by=group_by,
        lender_id=principal.lender_scope,
        rate_cap_percent=rate_cap_percent,
        today=today,
    )
    start = month_before(as_of)
    windows = months_after(as_of)
    converted_from = frames.CONVERTIBLE if khr_per_usd is not None else ()
    positions = snapshots.portfolio_positions(
        session, scope, today=today, all_currencies=converted_from, expected=scope.current
    )
    # as of today, the expected dues were summed in the positions' own scan of the loans
    stored = [r for r in positions if r["part"] == "expected"] if scope.current else None
    if today is None:  # the exact method throughout: every flow from the movements themselves
        rows = Rows(
            positions=positions,
            collected=queries.collected_rows(session, scope, start),
            fallen_due=queries.fallen_due_rows(session, scope, start),
            disbursed=queries.disbursed_rows(session, scope, start),
            written_off=queries.written_off_rows(session, scope, start),
            expected=queries.expected_rows(session, scope, windows),
            recoveries=queries.recovered_rows(session, scope, start),
            portfolio_at_start=queries.portfolio_rows(session, replace(scope, as_of=start)),
        )
    else:
        rows = _from_flows(session, scope, start, positions, windows, stored)
    months = [label for label, _, _ in windows]
    figures = frames.figures_of(rows, months, scope.policy)
    totals = [{**f} for (s, _, _), f in sorted(figures.items()) if s == "total"]
    groups = [{"key": k, **f} for (s, k, _), f in sorted(figures.items()) if s == "group"]
    report = Portfolio(as_of, group_by, GROUP_KEYS[group_by], months, totals, groups)
    report.name_column = GROUP_NAMES.get(group_by)
    report.names = queries.group_names(session, group_by, [g["key"] for g in groups])
    report.overdue_title_returns = collateral.overdue_titles(session, principal, as_of, title_return_days)
    if khr_per_usd is not None:
        borrowers = sum(r["borrowers"] for r in rows.positions if r["part"] == "all_borrowers")
        report.converted = frames.converted_totals(totals, khr_per_usd, borrowers)
    return report


def _as(rows: list[dict], name: str, sign: int = 1, **extra) -> list[dict]:
    """Flow rows (group_key, currency, amount) as a frame's rows: the amount under `name`."""
    out = []
    for r in rows:
        keys = {k: v for k, v in r.items() if k != "amount"}
        out.append({**keys, **extra, name: r["amount"] if sign > 0 else -r["amount"]})
    return out


def _from_flows(
    session: Session, scope: Scope, start: date, positions: list[dict], windows, stored: list[dict] | None
) -> Rows:
    """The period's figures from the daily flows (loansvc.snapshots.flows: the days stored, then the
    movements of the days after them). As of today, the portfolio at the period's start is the
    portfolio now less what the period moved: for every loan, outstanding at the start = outstanding
    now - disbursed - capitalised + principal repaid in the period, and a loan that closed or was
    written off in the period still carried its running balance (queries.left_rows); a loan
    disbursed in the period adds nothing. Any other day reads it from the movements after it."""
    flows = snapshot_flows.period_rows(session, scope, start)
    zero = Decimal(0)
    if scope.current:
        now = [
            {"group_key": r.get("group_key"), "currency": r["currency"], "portfolio": r["principal"]}
            for r in positions
            if r["part"] == "position"
        ]
        at_start = now + _as(flows["principal_repaid"], "portfolio")
        for kind in ("disbursed_cash", "disbursed_materials", "capitalised"):
            at_start += _as(flows[kind], "portfolio", -1)
        at_start += [{**r, "portfolio": r.pop("left")} for r in queries.left_rows(session, scope, start)]
    else:
        at_start = queries.portfolio_rows(session, replace(scope, as_of=start))
    return Rows(
        positions=positions,
        collected=_as(flows["collected"], "collected"),
        fallen_due=_as(flows["fallen_due"], "fallen_due", paid_by_due_date=zero)
        + _as(flows["paid_by_due_date"], "paid_by_due_date", fallen_due=zero),
        disbursed=_as(flows["disbursed_cash"], "amount", kind="cash")
        + _as(flows["disbursed_materials"], "amount", kind="materials"),
        written_off=queries.written_off_rows(session, scope, start),
        expected=queries.expected_rows(session, scope, windows, stored),
        recoveries=_as(flows["recoveries"], "recoveries"),
        portfolio_at_start=at_start,
    )


def delinquent_loans(
    session: Session,
    principal: Principal,
    as_of: date,
    min_days: int,
    limit: int,
    offset: int,
    today: date,
    *,
    after: str | None = None,
    count: bool = False,
    exact_count_limit: int | None = DEFAULT_EXACT_COUNT_LIMIT,
) -> CursorPage[DelinquentLoanOut]:
    """The visit list: SQL finds and orders the late loans (the oldest late due date first, then
    the loan id); the ledger gives each one's figures (reads.late_figures: as of today, off the
    position stored on each loan's row where it holds). A fixed number of statements whatever the
    page's size or depth: the bounded count, the page's rows, their loans, the schedules of those
    whose position does not hold (and the movements after a past as_of), their follow-up.
    `after`: the `next_after` of the page before (the cursor of its last loan: its oldest late due
    date and id); `offset` then skips loans from there. The total is counted up to
    `exact_count_limit` loans (None, or `count`: all of them)."""
    scope = Scope(as_of=as_of, lender_id=principal.lender_scope, today=today)
    bound = None if count else exact_count_limit
    keyset = None if after is None else date_id_cursor(after)
    # one more row than the page: is there a next page?
    rows, total = queries.delinquent_rows(
        session, scope, min_days, limit + 1, offset, after=keyset, count_bound=bound
    )
    rows, has_more = rows[:limit], len(rows) > limit
    loans = lending_repository.loans_by_ids(session, [r["loan_id"] for r in rows])
    figures = reads.late_figures(session, list(loans.values()), as_of, today)
    follow_up = collections.follow_up_of(session, principal, loans, as_of)
    items = []
    for r in rows:
        if principal.role == "finance_lead":
            r = {**r, **dict.fromkeys(PERSONAL)}
        f = figures[r["loan_id"]]
        items.append(
            DelinquentLoanOut(
                loan_id=r["loan_id"],
                lender_id=r["lender_id"],
                currency=r["currency"],
                household_id=r["household_id"],
                head_name=r["head_name"],
                phone=r["phone"],
                site_id=r["site_id"],
                site_name=r["site_name"],
                parcel_code=r["parcel_code"],
                days_past_due=f.days_past_due,
                oldest_due_date=r["oldest_due"],
                overdue_amount=f.overdue_amount,
                outstanding_principal=f.outstanding_principal,
                bucket=f.bucket,
                loan_class=f.classification,
                **follow_up[r["loan_id"]],
            )
        )
    last = [rows[-1]["oldest_due"].isoformat(), rows[-1]["loan_id"]] if rows else None
    return CursorPage[DelinquentLoanOut].of(
        items, has_more=has_more, last_key=last, counted=total, bound=bound, limit=limit, offset=offset
    )


def _who(principal: Principal) -> str:
    return "own lender's loans" if principal.is_partner else "all lenders"


def _chart_currency(position_rows: list[dict], asked: str | None) -> str:
    """The currency asked for, else the one with the most active loans (ties: alphabetical)."""
    if asked:
        return asked
    counts: dict[str, int] = {}
    for r in position_rows:
        counts[r["currency"]] = counts.get(r["currency"], 0) + r["loans"]
    return min(counts, key=lambda c: (-counts[c], c)) if counts else "USD"


def par_trend_points(
    session: Session,
    principal: Principal,
    as_of: date,
    months: int,
    currency: str | None,
    *,
    rate_cap_percent: Decimal | None = None,
    today: date | None = None,
) -> tuple[str, list[dict]]:
    """The chart's currency and points: the month ends before as_of's month from their snapshots
    (one statement whatever their number; a month end not taken yet is taken first), then as_of
    itself from the current position query (with `today`, the positions the ledger keeps when
    as_of is today). `rate_cap_percent` (settings): what a snapshot taken here counts its loans
    above the cap against."""
    lender = principal.lender_scope
    dates = month_ends(as_of, months)
    scope = Scope(as_of, lender_id=lender, today=today)
    # as of today, the point's sums alone (queries.trend_rows), else the positions at as_of
    current = (
        queries.trend_rows(session, scope)
        if scope.current
        else queries.position_rows(session, scope, borrowers=False)
    )
    rows = {**snapshots.trend(session, dates[:-1], lender, rate_cap_percent), as_of: current}
    currency = _chart_currency(current, currency)
    points = [
        {"date": d, "label": d.strftime("%b %Y"), **frames.trend_point(rows[d], currency)} for d in dates
    ]
    return currency, points


def par_trend_chart(
    session: Session,
    principal: Principal,
    as_of: date,
    months: int,
    currency: str | None,
    *,
    rate_cap_percent: Decimal | None = None,
    today: date | None = None,
) -> bytes:
    currency, points = par_trend_points(
        session, principal, as_of, months, currency, rate_cap_percent=rate_cap_percent, today=today
    )
    return charts.par_trend(points, currency, as_of, _who(principal))


def aging_chart(
    session: Session, principal: Principal, as_of: date, currency: str | None, today: date | None = None
) -> bytes:
    """`today`: with it, an as_of of today reads the positions the ledger keeps on the loans."""
    scope = Scope(as_of=as_of, lender_id=principal.lender_scope, today=today)
    rows = queries.position_rows(session, scope, borrowers=False)
    currency = _chart_currency(rows, currency)
    return charts.aging(frames.aging_buckets(rows, currency), currency, as_of, _who(principal))
