"""Daily flows: what moved each day, stored once the day is over, so a report sums a few rows per
day instead of reading a month of payments, allocations and installments.

Storing. `fill(session, until)` stores, for each day up to `until` (before today: a day is stored
once it is over) not stored yet, the sums of that day's movements per lender, site, product,
currency and kind (queries.flow_parts: collected, recoveries, cash and materials disbursed,
principal repaid, principal capitalised by a restructure, installments fallen due and what was paid
on them by their due date), then marks the day complete. It looks back `days` days (62 by default:
the current report's period and the one before it), under the advisory lock "flows-fill"
(loansvc.jobs): a second fill at the same time does nothing and says so. `loansvc snapshots flows`
runs it; it is a nightly job, after `loansvc positions refresh`.

Reading. A report's period (start, as_of] is read as the days stored from its start, as long as
they follow each other, plus the report's own statements over the rest (`period_rows`): the same
figures to the cent, only cheaper. A household that moved site keeps, in the days stored before,
the site it had then (as in the month-end snapshots).

Staleness. A movement dated before today (a backdated payment, a reversal, a write-off, a
restructure that cuts earlier installments) changes the flows of its day: the ledger calls
`stale.invalidate_flows`, which drops that lender's rows from that day and the days' marks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import delete, func, insert, or_, select, type_coerce
from sqlalchemy.orm import Session

from loansvc.db.base import Money, utcnow
from loansvc.db.models import PortfolioFlow, PortfolioFlowDay
from loansvc.db.models.snapshots import FLOW_KINDS
from loansvc.jobs import exclusive
from loansvc.reports import queries
from loansvc.reports.queries import Scope

LOCK = "flows-fill"
FILL_DAYS = 62
F = PortfolioFlow
COLUMNS = ("day", "lender_id", "site_id", "product_id", "currency", "kind", "closed_before", "amount")
GROUP_COLUMNS = {"lender": F.lender_id, "site": F.site_id, "product": F.product_id, "currency": F.currency}


@dataclass(frozen=True)
class FillOutcome:
    status: str  # "filled" or "locked" (another fill runs: nothing done)
    days: int = 0  # days stored now
    rows: int = 0  # flow rows stored now


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """The sorted days as runs of consecutive days (first, last)."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _stored_days(session: Session, first: date, last: date) -> list[date]:
    query = select(PortfolioFlowDay.day).where(PortfolioFlowDay.day >= first, PortfolioFlowDay.day <= last)
    return list(session.scalars(query.order_by(PortfolioFlowDay.day)))


def fill(session: Session, until: date, *, today: date, days: int = FILL_DAYS) -> FillOutcome:
    """Store the flows of each day in (until - days, until] not stored yet; `until` must be over."""
    if until >= today:
        until = today - timedelta(days=1)
    if not exclusive(session, LOCK):
        return FillOutcome("locked")
    first = until - timedelta(days=days - 1)
    have = set(_stored_days(session, first, until))
    missing = [first + timedelta(days=k) for k in range(days) if first + timedelta(days=k) not in have]
    rows, taken_at = 0, utcnow()
    everyone = Scope(as_of=until)
    for start, end in _runs(missing):
        session.execute(delete(F).where(F.day >= start, F.day <= end))
        for part in queries.flow_parts(everyone, start - timedelta(days=1), end):
            session.execute(insert(F).from_select(list(COLUMNS), part))
        rows += session.scalar(select(func.count()).where(F.day >= start, F.day <= end)) or 0
        marks = [
            {"day": start + timedelta(days=k), "taken_at": taken_at} for k in range((end - start).days + 1)
        ]
        session.execute(insert(PortfolioFlowDay), marks)
    session.flush()
    return FillOutcome("filled", len(missing), rows)


def covered_until(session: Session, start: date, as_of: date) -> date:
    """The last day of (start, as_of] up to which every day is stored (start: none is)."""
    through = start
    for day in _stored_days(session, start + timedelta(days=1), as_of):
        if day != through + timedelta(days=1):
            break
        through = day
    return through


def _stored_rows(session: Session, scope: Scope, start: date, through: date) -> list[dict]:
    """The stored flows of (start, through], per group, currency and kind; the installments of a
    loan closed before they fell due are counted only when it closed after the period's start."""
    key = [GROUP_COLUMNS[scope.group_by].label("group_key")] if scope.group_by else []
    dims = [*key, F.currency, F.kind]
    query = select(*dims, type_coerce(func.sum(F.amount), Money()).label("amount"))
    query = query.where(
        F.day > start, F.day <= through, or_(F.closed_before.is_(None), F.closed_before > start)
    )
    if scope.lender_id is not None:
        query = query.where(F.lender_id == scope.lender_id)
    return [dict(row) for row in session.execute(query.group_by(*dims)).mappings()]


def period_rows(session: Session, scope: Scope, start: date) -> dict[str, list[dict]]:
    """{kind: rows of (group_key, currency, amount)} of the report's period (start, as_of]: the days
    stored, then the report's statements over the days after them."""
    through = covered_until(session, start, scope.as_of)
    rows = _stored_rows(session, scope, start, through) if through > start else []
    rows += queries.flow_rows(session, scope, through, start)
    out: dict[str, list[dict]] = {kind: [] for kind in FLOW_KINDS}
    for row in rows:
        out[row.pop("kind")].append(row)
    return out


__all__ = ["FILL_DAYS", "LOCK", "FillOutcome", "covered_until", "fill", "period_rows"]
