"""Each loan's expected dues, kept on its row: what the portfolio report's expected collections need
of it, without reading its schedule.

The windows (`months_after`, the report's calendar): as of a day, window 1 is the rest of the month
of the day after it, from that day ((as_of, end of the month of as_of + 1 day]), then the five
whole calendar months after it. An installment due on or before as_of is in none of them (paid, or
in arrears: never expected).

The dues are anchored at `expected_as_of`: `expected_k` is what the open installments of the loan's
current schedule version still owe (total + late fee - what was paid on principal, interest, fees
and late fee) among those due in window k of months_after(expected_as_of). A loan out of the
portfolio (not active: not disbursed yet, closed, written off) holds NULL in all seven columns, and
so does a loan the ledger never settled (written around it) until the nightly refresh.

Who writes them:
- the ledger, in the same transaction as every movement (positions.settle calls `settle` with the
  open rows in memory), relative to the stored anchor (or, when none is stored, the position's
  date): a movement never moves the anchor, so a loan the nightly run anchored at a day stays
  anchored there, and the report as of that day reads it;
- `refresh_expected(session, day)`, nightly: every active loan anchored at `day`, set-based, in at
  most three UPDATE statements (see there).
`verify_expected(session)` recomputes the dues of every anchored loan from its installments (at its
own anchor) and lists each difference.

The amounts are exact on both engines: money is NUMERIC(20, 4) on PostgreSQL and a scaled integer
on SQLite (db.base.ExactDecimal), so the SQL sums add exact values and read back as Decimals.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Engine, and_, case, func, literal_column, or_, select, text, type_coerce, update
from sqlalchemy.orm import Session, aliased

from loansvc.db.base import Money
from loansvc.db.models import Loan, ScheduledInstallment
from loansvc.db.models.lending import FLOW_LOOKUP_INDEX

SI = ScheduledInstallment
WINDOWS = 6
LOCK = "expected-refresh"  # the nightly job's advisory lock (loansvc.jobs)
COLUMNS = tuple(f"expected_{k}" for k in range(1, WINDOWS + 1))
ZERO = Decimal(0)
# a bare SQL zero: a bound 0 would take the money type and reach SQLite as the text '0'
SQL_ZERO = literal_column("0")
NONE: tuple[None, ...] = (None,) * WINDOWS
# the current report's narrow index over the active loans (migrations 0018, 0019): its INCLUDE holds
# the expected dues, so every loan written adds an entry to it, and a run that writes most loans
# leaves it bloated (441 MB against 173 MB rebuilt, at 1M loans)
REPORT_INDEX = "ix_loans_active_positions"
# rebuilt with it: the index today's flows look up each installment's loan in (0021), which every
# loan written grows in the same way
REBUILT_INDEXES = (REPORT_INDEX, FLOW_LOOKUP_INDEX)
REBUILD_SHARE = 4  # rebuilt after a run that wrote at least one active loan in REBUILD_SHARE


# --- the windows (the report's calendar) -----------------------------------------------------------


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def months_after(as_of: date, count: int = WINDOWS) -> list[tuple[str, date, date]]:
    """(label YYYY-MM, start exclusive, end inclusive) of the `count` calendar months from the one
    of the day after as_of; the first starts after as_of, each next one after the previous month end."""
    first = as_of + timedelta(days=1)
    index = first.year * 12 + first.month - 1
    out, start = [], as_of
    for k in range(count):
        year, month = divmod(index + k, 12)
        end = month_end(year, month + 1)
        out.append((f"{end.year:04d}-{end.month:02d}", start, end))
        start = end
    return out


# --- one loan, in memory (pure) --------------------------------------------------------------------


def owed(row) -> Decimal:
    """What an installment still owes: its total and late fee, less everything paid on it."""
    paid = row.paid_principal + row.paid_interest + row.paid_fees + row.paid_penalty
    return row.total + row.penalty - paid


def compute(open_rows: Iterable, anchor: date) -> tuple[Decimal, ...]:
    """What `open_rows` (the open installments of a loan's current version) still owe in each
    window of months_after(anchor) (pure)."""
    windows = months_after(anchor)
    out = [ZERO] * WINDOWS
    for row in open_rows:
        for k, (_, start, end) in enumerate(windows):
            if start < row.due_date <= end:
                out[k] += owed(row)
                break
    return tuple(out)


def _store(loan, anchor: date | None, amounts: tuple) -> None:
    loan.expected_as_of = anchor
    for name, amount in zip(COLUMNS, amounts, strict=True):
        setattr(loan, name, amount)


def settle(loan, open_rows: Iterable) -> None:
    """The ledger's call after a movement (from positions.settle, after the position is stored):
    the loan's dues from its open rows, at its stored anchor (else the position's date); NULL for a
    loan out of the portfolio."""
    anchor = loan.expected_as_of if loan.expected_as_of is not None else loan.position_as_of
    if loan.status != "active" or anchor is None:
        _store(loan, None, NONE)
        return
    _store(loan, anchor, compute(open_rows, anchor))


# --- set-based: the nightly move and the check -----------------------------------------------------


def owed_sql(row=SI):
    paid = row.paid_principal + row.paid_interest + row.paid_fees + row.paid_penalty
    return row.total + row.penalty - paid


def _money(expr):
    return type_coerce(expr, Money())


def _on_version(current):
    return and_(current.id == SI.loan_id, current.schedule_version == SI.version)


def _computed(windows: list[tuple[str, date, date]], which: Callable):
    """Per loan meeting `which` (a condition on a Loan alias): its dues in `windows`, from every
    installment of its current version due in them (a fully paid one owes 0), 0 where none is due.
    The installments are read through the due-date index, the windows' range only."""
    current = aliased(Loan, name="c")
    sums = [
        func.sum(case((and_(SI.due_date > start, SI.due_date <= end), owed_sql()), else_=SQL_ZERO)).label(
            name
        )
        for name, (_, start, end) in zip(COLUMNS, windows, strict=True)
    ]
    dues = (
        select(SI.loan_id.label("loan_id"), *sums)
        .join(current, _on_version(current))
        .where(SI.due_date > windows[0][1], SI.due_date <= windows[-1][2], which(current))
        .group_by(SI.loan_id)
        .subquery("dues")
    )
    loan = aliased(Loan, name="l")
    query = (
        select(loan.id.label("id"), *(func.coalesce(dues.c[name], SQL_ZERO).label(name) for name in COLUMNS))
        .select_from(loan)
        .outerjoin(dues, dues.c.loan_id == loan.id)
        .where(which(loan))
    )
    return query.subquery("computed")


def _update(session: Session, statement) -> int:
    return session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0


def refresh_expected(session: Session, day: date, *, full: bool = False) -> int:
    """Anchor every active loan's dues at `day`; the number of loans written. At most three UPDATEs:
    1. the active loans anchored earlier in the same first window (anchor + 1 day in the month of
       day + 1 day, anchor before day: every night but the month's last): only window 1 loses the
       installments due in (anchor, day], read through the due-date index (a few days' range);
       windows 2-6 are the same calendar months and keep their amounts;
    2. every other active loan (never anchored, anchored in an earlier month or after `day`; all
       of them with `full`): its six amounts from its installments due in the six windows; only the
       loans whose anchor or amounts change are written (a loan already anchored at `day` holds
       what the ledger keeps: a second run writes nothing);
    3. loans out of the portfolio still holding dues are cleared (NULL).
    The caller holds the nightly job's lock (the lead's `loansvc positions refresh`)."""
    session.flush()  # the updates below read the installments as the session changed them
    windows = months_after(day)
    month_start = (day + timedelta(days=1)).replace(day=1)
    same_low = month_start - timedelta(days=1)  # the earliest anchor whose window 1 is day's

    def moved_within(loan):
        return and_(loan.status == "active", loan.expected_as_of >= same_low, loan.expected_as_of < day)

    def needs_all(loan):
        if full:
            return loan.status == "active"
        anchored_here = and_(loan.expected_as_of >= same_low, loan.expected_as_of <= day)
        return and_(loan.status == "active", or_(loan.expected_as_of.is_(None), ~anchored_here))

    written = 0
    if not full:
        current = aliased(Loan, name="c")
        fell = (
            select(SI.loan_id.label("loan_id"), func.sum(owed_sql()).label("amount"))
            .join(current, _on_version(current))
            .where(
                SI.due_date > same_low,
                SI.due_date <= day,
                SI.due_date > current.expected_as_of,
                moved_within(current),
            )
            .group_by(SI.loan_id)
            .subquery("fell_due")
        )
        loan = aliased(Loan, name="l")
        first = loan.expected_1 - func.coalesce(fell.c.amount, SQL_ZERO)
        moved = (
            select(loan.id.label("id"), first.label("expected_1"))
            .select_from(loan)
            .outerjoin(fell, fell.c.loan_id == loan.id)
            .where(moved_within(loan))
            .subquery("moved")
        )
        written += _update(
            session,
            update(Loan)
            .values(expected_as_of=day, expected_1=moved.c.expected_1)
            .where(Loan.id == moved.c.id),
        )
    computed = _computed(windows, needs_all)
    changed = or_(
        Loan.expected_as_of.is_distinct_from(day),
        *(getattr(Loan, name).is_distinct_from(computed.c[name]) for name in COLUMNS),
    )
    values = {"expected_as_of": day} | {name: computed.c[name] for name in COLUMNS}
    written += _update(session, update(Loan).values(values).where(Loan.id == computed.c.id, changed))
    holds = or_(*(getattr(Loan, name).is_not(None) for name in ("expected_as_of", *COLUMNS)))
    cleared = dict.fromkeys(("expected_as_of", *COLUMNS), None)
    written += _update(session, update(Loan).values(cleared).where(Loan.status != "active", holds))
    session.expire_all()
    return written


def verify_expected(session: Session) -> list[str]:
    """Every difference between a loan's stored dues and those its installments give at its own
    anchor, one line each ("loan <id>: <column> stored <value>, from installments <value>"); []
    when none. One statement per distinct anchor (one, after the nightly refresh), comparing in
    SQL, plus one for the loans out of the portfolio (they hold none). An active loan with no
    anchor (never settled by the ledger nor refreshed) is not checked: the report reads its
    installments."""
    session.flush()
    differences: list[tuple[str, str]] = []
    names = ("expected_as_of", *COLUMNS)
    out = select(Loan.id, *(getattr(Loan, name) for name in names)).where(
        Loan.status != "active", or_(*(getattr(Loan, name).is_not(None) for name in names))
    )
    for row in session.execute(out):
        for name, value in zip(names, row[1:], strict=True):
            if value is not None:
                differences.append(
                    (row.id, f"loan {row.id}: {name} stored {value}, out of the portfolio None")
                )
    anchors = select(Loan.expected_as_of).where(Loan.status == "active", Loan.expected_as_of.is_not(None))
    for anchor in sorted(session.scalars(anchors.distinct())):

        def at(loan, anchor=anchor):
            return and_(loan.status == "active", loan.expected_as_of == anchor)

        computed = _computed(months_after(anchor), at)
        query = (
            select(
                Loan.id,
                *(getattr(Loan, name) for name in COLUMNS),
                *(_money(computed.c[name]).label(f"want_{name}") for name in COLUMNS),
            )
            .join(computed, computed.c.id == Loan.id)
            .where(or_(*(getattr(Loan, name).is_distinct_from(computed.c[name]) for name in COLUMNS)))
        )
        for row in session.execute(query).mappings():
            for name in COLUMNS:
                stored, want = row[name], row[f"want_{name}"]
                if stored != want:
                    line = f"loan {row['id']}: {name} stored {stored}, from installments {want}"
                    differences.append((row["id"], line))
    return [line for _, line in sorted(differences)]


def rebuild_due(written: int, active: int) -> bool:
    """Whether a nightly run that wrote `written` loans of `active` active ones bloated the report's
    index enough to rebuild it: at least one in REBUILD_SHARE (every night's run moves them all)."""
    return written > 0 and written * REBUILD_SHARE >= active


def rebuild_report_index(engine: Engine, written: int) -> bool:
    """After a nightly run that wrote most active loans (`rebuild_due`): `REINDEX INDEX
    CONCURRENTLY` the report's index on PostgreSQL, then the flows' lookup index (REBUILT_INDEXES),
    so the current report's index-only scans read them at their size (the report's index: 4.6 s
    at 1M loans; the report's positions statement 0.85-0.96 s before, 0.69-0.73 s after, on a
    loaded machine). Reads and writes go on meanwhile. Outside any transaction (the caller
    committed its own: REINDEX CONCURRENTLY waits for every transaction open when it starts). True
    when they were rebuilt. A rebuild that fails leaves the old index as it was; its unfinished
    copy is dropped."""
    if engine.dialect.name != "postgresql" or not written:
        return False
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as conn:
        active = conn.execute(select(func.count()).select_from(Loan).where(Loan.status == "active")).scalar()
        if not rebuild_due(written, active or 0):
            return False
        for index in REBUILT_INDEXES:
            try:
                conn.execute(text(f"REINDEX INDEX CONCURRENTLY {index}"))
            except Exception:
                conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {index}_ccnew"))
                raise
    return True
