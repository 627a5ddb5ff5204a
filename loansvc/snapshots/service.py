"""Month-end snapshots: taking them, and what the reports read from them.

Taking. `take(session, month_end)` stores the portfolio's positions at a month end that has ended
(today is after it), aggregated per lender, site, product, currency, arrears bucket and NBC class,
computed with the report's own exact position query at that day (reports.queries.positions): one
INSERT ... SELECT. A month is taken whole, under the advisory lock "snapshots-take:<month end>"
(loansvc.jobs): a second take of the same month at the same time does nothing and says so, a take
of another month (a report's) does not stand in its way. Taking a month already taken does nothing;
`force` replaces it. A month that has not ended is refused (422 / exit 2).

Automatically. The first report that needs a month end not taken yet takes it in its own request,
in a savepoint: when the session cannot write (a read replica's read-only transaction, SQLite's
write lock refused) the savepoint is rolled back, and the report computes that month exactly
instead, without storing it; so it does for a month another take holds the lock of.

Reading. The PAR trend reads the snapshots of all the month ends it shows in one statement
(`trend`), whatever their number; its last point (as_of itself) is always the exact current
position. A portfolio report as of a past month end (`portfolio_positions`) sums the snapshot rows
by the asked group for its "position" part (loans, principal, buckets, classes, PAR, loans above
the cap, restructured), and counts the borrowers (distinct households, which cannot be summed) with
a loans-only query of the loans active that day; the period's flows are the report's own. Any other
day, and a month end whose snapshot was counted against another rate cap than the report's (it is
taken again, when the session can write), keeps the exact method. A household that moved site
after a month end stays, in that month's snapshot, at the site it had then.

Staleness. A movement dated on or before a month end taken changes it: `invalidate(session,
lender_id, on)` (stale.py, importable by the ledger) drops that lender's rows from `on` and the
months' taken marks, so the next report takes those months again.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from loansvc.db.base import utcnow
from loansvc.domain.arrears import DEFAULT_ARREARS_POLICY
from loansvc.domain.errors import InvalidInput
from loansvc.jobs import exclusive, exclusive_each
from loansvc.reports import queries
from loansvc.reports.queries import Scope
from loansvc.snapshots import repository
from loansvc.snapshots.stale import invalidate

__all__ = [
    "LOCK",
    "TakeOutcome",
    "invalidate",
    "lock_name",
    "month_end_of",
    "portfolio_positions",
    "take",
    "trend",
]

LOCK = "snapshots-take"
log = logging.getLogger("loansvc.snapshots")


@dataclass(frozen=True)
class TakeOutcome:
    month_end: date
    status: str  # "taken", "replaced", "already_taken" or "locked" (another take runs: nothing done)
    rows: int = 0


def is_month_end(day: date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def month_end_of(month: str) -> date:
    """The last day of a month written YYYY-MM."""
    year, dash, number = month.partition("-")
    if not (dash and len(year) == 4 and len(number) == 2 and year.isdigit() and number.isdigit()):
        raise InvalidInput("the month is written YYYY-MM", code="MONTH_INVALID", field="month")
    if not 1 <= int(number) <= 12 or int(year) < 1900:
        raise InvalidInput("the month is written YYYY-MM", code="MONTH_INVALID", field="month")
    return date(int(year), int(number), calendar.monthrange(int(year), int(number))[1])


def take(
    session: Session,
    month_end: date,
    *,
    today: date,
    rate_cap_percent: Decimal | None,
    force: bool = False,
) -> TakeOutcome:
    """Store the snapshot of `month_end` (once; `force` replaces it), under the job's lock."""
    if not is_month_end(month_end):
        raise InvalidInput("a snapshot is taken at a month end", code="NOT_A_MONTH_END", field="month")
    if month_end >= today:
        raise InvalidInput(
            f"the month ending {month_end.isoformat()} has not ended", code="MONTH_NOT_ENDED", field="month"
        )
    if not exclusive(session, lock_name(month_end)):
        return TakeOutcome(month_end, "locked")
    taken = repository.taken_months(session, [month_end])
    if month_end in taken and not force:
        return TakeOutcome(month_end, "already_taken")
    repository.store_month(session, month_end, rate_cap_percent, utcnow())
    status = "replaced" if month_end in taken else "taken"
    return TakeOutcome(month_end, status, repository.rows_stored(session, month_end))


def lock_name(month_end: date) -> str:
    """The advisory lock of one month end's take: a take of another month never waits on it."""
    return f"{LOCK}:{month_end.isoformat()}"


def take_missing(
    session: Session, month_ends: Sequence[date], rate_cap_percent: Decimal | None, *, same_cap: bool = False
) -> set[date]:
    """In a report's request: take the month ends (all ended) not taken yet (with `same_cap`, also
    those counted against another cap), in a savepoint; the month ends now taken. One that another
    take is storing (its lock is held) is left out, and so is every one when this session cannot
    write: the caller computes those exactly."""
    if session.info.get("read_only"):
        return set()
    try:
        with session.begin_nested():
            names = exclusive_each(session, [lock_name(day) for day in month_ends])
            mine = [day for day in month_ends if lock_name(day) in names]
            taken = repository.taken_months(session, mine)  # again, now that their locks are ours
            taken_at = utcnow()
            for day in mine:
                if day not in taken or (same_cap and taken[day] != rate_cap_percent):
                    repository.store_month(session, day, rate_cap_percent, taken_at)
    except DBAPIError as exc:  # read-only, or SQLite's write lock refused: computed, not stored
        log.info("month-end snapshot not stored in this request: %s", type(exc).__name__)
        return set()
    return set(mine)


def trend(
    session: Session,
    month_ends: Sequence[date],
    lender_id: str | None,
    rate_cap_percent: Decimal | None = None,
) -> dict[date, list[dict]]:
    """{month end: its rows per currency (currency, loans, principal, par30, par90)} of a lender
    (None: all) at past month ends: one statement once they are taken; a month end not taken yet is
    taken first, or computed exactly when it cannot be stored."""
    rows = repository.trend_rows(session, month_ends, lender_id)
    missing = [day for day in month_ends if day not in rows]
    if not missing:
        return rows
    if take_missing(session, missing, rate_cap_percent):
        rows = repository.trend_rows(session, month_ends, lender_id)
    for day in missing:
        if day not in rows:
            rows[day] = queries.position_rows(session, Scope(day, lender_id=lender_id), borrowers=False)
    return rows


def portfolio_positions(
    session: Session,
    scope: Scope,
    *,
    today: date | None,
    all_currencies: Sequence[str] = (),
    expected: bool = False,
) -> list[dict]:
    """queries.position_rows' rows for the portfolio report: at a past month end from its snapshot
    (taken first if need be), any other day (or without `today`) from the exact query. `expected`:
    as of today, its "expected" rows too (queries.position_rows)."""
    day = scope.as_of
    exact = today is None or day >= today or not is_month_end(day) or scope.policy != DEFAULT_ARREARS_POLICY
    if not exact:
        taken = repository.taken_months(session, [day])
        ready = day in taken and taken[day] == scope.rate_cap_percent
        if ready or day in take_missing(session, [day], scope.rate_cap_percent, same_cap=True):
            return repository.position_rows(session, scope, all_currencies)
    return queries.position_rows(session, scope, all_currencies=all_currencies, expected=expected)
