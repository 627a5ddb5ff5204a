"""Each loan's position, kept on its row: what the reports need of it, without reading its history.

Time-independent, changed only by a movement: the outstanding principal (disbursed + capitalised -
repaid for an active loan, 0 once closed or written off) and `oldest_due_on`, the earliest due
date of an installment of the current schedule version not fully paid (fully_paid_on IS NULL)
that owes something (total + penalty > 0). A report as of today reads the loan as late from that
date when it is before today.

Moved by time, as of `position_as_of`: the principal, interest and fees (scheduled fees and the
late fees charged) still unpaid on the installments due before that day, the days past due, the
aging bucket and the NBC class (domain.arrears, with a restructured loan's watch of
lending.figures.on_watch), and the next installment due on or after that day with what it still
asks. A late fee not yet charged (the ledger charges it with the next payment) is not counted.

Who writes it:
- the ledger, in the same transaction as every movement (`settle`, from the rows in memory). The
  ledger is given the movement's date, not today: the position is taken as of the later of that
  date and the position's own date (a backdated payment leaves the date where the nightly refresh
  put it), so the position never looks before a movement it includes;
- `refresh(session, day)`, the nightly job, under an advisory lock: set-based UPDATEs moving every
  active loan's position to `day`, from the loan row alone when no installment fell due since its
  position's date, else from its row and its open installments; only the rows whose figures
  change are written (a second run writes nothing; a loan whose figures hold keeps its date).
`verify(session)` recomputes every position from the history (disbursements, allocations,
restructures, installments), and each household's later-loan flags (lending.borrowers), and lists
each difference.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

from sqlalchemy import (
    Integer,
    Numeric,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, aliased, object_session

from loansvc.db.base import Money
from loansvc.db.models import (
    Disbursement,
    Loan,
    Repayment,
    RepaymentAllocation,
    Restructure,
    ScheduledInstallment,
)
from loansvc.db.models.lending import OUT_OF_PORTFOLIO_STATUSES
from loansvc.db.models.repayments import LOAN_KEYS
from loansvc.domain.arrears import (
    BUCKETS,
    CLASSES,
    DEFAULT_ARREARS_POLICY,
    ArrearsPolicy,
    aging_bucket,
    classify,
)
from loansvc.jobs import exclusive
from loansvc.lending import borrowers, expected, repository
from loansvc.lending.figures import ZERO, on_watch

SI = ScheduledInstallment
EPOCH = date(2000, 1, 1)  # the next installment's due date travels as its days after this one
# a bare SQL zero: a bound 0 would take the money type and reach SQLite as the text '0'
SQL_ZERO = literal_column("0")
LOCK = "positions-refresh"


@dataclass(frozen=True)
class Position:
    outstanding_principal: Decimal
    oldest_due_on: date | None
    position_as_of: date | None
    principal_overdue: Decimal
    interest_overdue: Decimal
    fees_overdue: Decimal
    days_past_due: int
    arrears_bucket: str | None
    nbc_class: str | None
    next_due_on: date | None
    next_due_amount: Decimal | None


FIELDS = tuple(f.name for f in fields(Position))
TIME_INDEPENDENT = ("outstanding_principal", "oldest_due_on")


def _owes(row) -> bool:
    return row.fully_paid_on is None and row.total + row.penalty > 0


def _left(row) -> tuple[Decimal, Decimal, Decimal]:
    """(principal, interest, fees and late fees) still unpaid on an installment."""
    return (
        row.principal - row.paid_principal,
        row.interest - row.paid_interest,
        row.fees - row.paid_fees + row.penalty - row.paid_penalty,
    )


def _asks(row) -> Decimal:
    """What an installment still asks: its total and late fee, less what was paid on it."""
    paid = row.paid_principal + row.paid_interest + row.paid_fees + row.paid_penalty
    return row.total + row.penalty - paid


def term_months(loan) -> Decimal:
    """The original term in months, as the report's SQL grades it (term x 12 / periods a year)."""
    return Decimal(loan.term * 12) / Decimal(loan.periods_per_year or 12)


def _grade(dpd: int, loan, watch: bool, policy: ArrearsPolicy) -> str:
    klass = classify(dpd, term_months(loan), policy)
    return CLASSES[1] if watch and klass == CLASSES[0] else klass


def empty(as_of: date | None) -> Position:
    """A loan out of the portfolio (not disbursed, closed or written off): nothing outstanding."""
    return Position(ZERO, None, as_of, ZERO, ZERO, ZERO, 0, None, None, None, None)


def compute(
    loan,
    open_rows: Iterable,
    as_of: date,
    *,
    watch: bool = False,
    policy: ArrearsPolicy = DEFAULT_ARREARS_POLICY,
) -> Position:
    """The position of `loan` as of `as_of` from the open installments of its current version
    (pure). `watch`: a restructured loan still on watch (figures.on_watch)."""
    if loan.status != "active":
        return empty(as_of)
    rows = sorted((r for r in open_rows if _owes(r)), key=lambda r: r.number)
    outstanding = loan.disbursed_amount + (loan.capitalised_amount or ZERO) - loan.principal_repaid
    oldest = min((r.due_date for r in rows), default=None)
    late = [_left(r) for r in rows if r.due_date < as_of]
    dpd = (as_of - oldest).days if oldest is not None and oldest < as_of else 0
    upcoming = next((r for r in rows if r.due_date >= as_of), None)
    return Position(
        outstanding_principal=outstanding,
        oldest_due_on=oldest,
        position_as_of=as_of,
        principal_overdue=sum((p for p, _, _ in late), ZERO),
        interest_overdue=sum((i for _, i, _ in late), ZERO),
        fees_overdue=sum((f for _, _, f in late), ZERO),
        days_past_due=dpd,
        arrears_bucket=aging_bucket(dpd),
        nbc_class=_grade(dpd, loan, watch, policy),
        next_due_on=upcoming.due_date if upcoming else None,
        next_due_amount=_asks(upcoming) if upcoming else None,
    )


def _store(loan, position: Position) -> None:
    for name in FIELDS:
        setattr(loan, name, getattr(position, name))


def _as_of(loan, on: date | None) -> date:
    """The position's date after a movement dated `on`: never before the movement."""
    known = [d for d in (loan.position_as_of, on) if d is not None]
    return max(known) if known else loan.last_event_on


def _current_rows(loan, open_rows: Sequence) -> list:
    """Every installment of the current version: the stored ones (the session's objects, as changed
    in memory, nothing flushed) with `open_rows` over them."""
    session = object_session(loan)
    stored = []
    if session is not None:
        with session.no_autoflush:
            query = select(SI).where(SI.loan_id == loan.id, SI.version == loan.schedule_version)
            stored = list(session.scalars(query))
    by_number = {r.number: r for r in stored} | {r.number: r for r in open_rows}
    return [by_number[n] for n in sorted(by_number)]


def settle(loan, open_rows: Sequence, on: date | None, rows: Sequence | None = None) -> None:
    """The ledger's call after a movement dated `on`: store the loan's position from `open_rows`
    (the open installments of its current version, in memory). `rows`: all of that version's rows,
    when the caller has them; else they are read only for a restructured loan (its watch)."""
    as_of = _as_of(loan, on)
    watch = False
    if loan.status == "active" and loan.restructured_on is not None and loan.restructured_on <= as_of:
        every = list(rows) if rows is not None else _current_rows(loan, open_rows)
        watch = on_watch(loan, every, as_of, DEFAULT_ARREARS_POLICY)
    _store(loan, compute(loan, open_rows, as_of, watch=watch))
    # and its expected dues, at their own anchor (lending.expected)
    expected.settle(loan, open_rows)


# --- the nightly refresh, set-based ---------------------------------------------------------------


def _days_between(start, day: date, dialect: str):
    """(day - start) in whole days, in SQL."""
    if dialect == "postgresql":
        return literal(day) - start
    return cast(func.julianday(day) - func.julianday(start), Integer)


def _bucket_sql(oldest, day: date):
    whens, dpd = [], 0
    for k, bucket in enumerate(BUCKETS[1:], 1):
        while aging_bucket(dpd) != bucket:
            dpd += 1
        whens.append((oldest <= day - timedelta(days=dpd), BUCKETS[k]))
    return case(*reversed(whens), else_=BUCKETS[0])


def _grade_sql(loan, oldest, day: date, policy: ArrearsPolicy):
    def table(bounds):
        whens = [(oldest <= day - timedelta(days=b), CLASSES[k + 1]) for k, b in enumerate(bounds)]
        return case(*reversed(whens), else_=CLASSES[0])

    # short-term: term x 12 / periods a year <= the policy's months, in whole numbers
    short = loan.term * 12 <= func.coalesce(loan.periods_per_year, 12) * policy.short_term_max_months
    return case((short, table(policy.short_term_bounds)), else_=table(policy.long_term_bounds))


# the two aliases of the installments on_watch_sql reads, made once: a fresh alias builds its
# column collections again on first use (about 20 ms a statement, measured on the delinquent list)
_LATE_ROW, _PAID_ROW = aliased(SI), aliased(SI)


def on_watch_sql(loan, day: date, policy: ArrearsPolicy):
    """figures.on_watch in SQL, for the loan (row or alias) `loan`."""

    def new(row):
        return and_(
            row.loan_id == loan.id,
            row.version == loan.schedule_version,
            row.number >= loan.restructured_from_number,
            row.total > SQL_ZERO,
        )

    late_row, paid_row = _LATE_ROW, _PAID_ROW
    late = or_(late_row.fully_paid_on.is_(None), late_row.fully_paid_on > late_row.due_date)
    # correlated to `loan` explicitly: nested in an UPDATE's FROM, auto-correlation would miss it
    last_late = select(func.max(late_row.number)).where(new(late_row), late_row.due_date < day, late)
    last_late = last_late.correlate(loan)
    on_time = (
        select(func.count())
        .select_from(paid_row)
        .where(new(paid_row), paid_row.due_date <= day, paid_row.fully_paid_on <= paid_row.due_date)
        .where(paid_row.number > func.coalesce(last_late.scalar_subquery(), 0))
        .correlate(loan)
        .scalar_subquery()
    )
    return on_time < policy.restructured_watch_installments


def _open_figures(day_of, current):
    """Per active loan, over its open installments owing something: the oldest due date, what is
    unpaid on those due before the loan's day (`day_of`), and the number of the next one."""
    return (
        select(
            SI.loan_id.label("loan_id"),
            *_open_sums(day_of),
            func.min(case((SI.due_date >= day_of, SI.number))).label("next_number"),
        )
        .join(current, and_(current.id == SI.loan_id, current.schedule_version == SI.version))
        .where(SI.fully_paid_on.is_(None), SI.total + SI.penalty > SQL_ZERO, current.status == "active")
        .group_by(SI.loan_id)
    )


def _stale(loan, day: date):
    """The loans whose position as of `day` needs their installments: never positioned, positioned
    after `day` (a refresh back in time), or whose next installment fell due before `day`. Every
    other active loan owes, as of `day`, what it owed at its position's date: only the days past
    due, the bucket and the class (its watch) move."""
    return or_(loan.position_as_of.is_(None), loan.position_as_of > day, loan.next_due_on < day)


def _time_figures(loan, oldest, day: date, dialect: str, policy: ArrearsPolicy) -> dict:
    """Days past due, bucket and class as of `day` from the oldest open due date, in SQL."""
    restructured = and_(loan.restructured_on.is_not(None), loan.restructured_on <= day)
    grade = _grade_sql(loan, oldest, day, policy)
    watch = and_(restructured, grade == CLASSES[0], on_watch_sql(loan, day, policy))
    return {
        "days_past_due": case((oldest < day, _days_between(oldest, day, dialect)), else_=0),
        "arrears_bucket": _bucket_sql(oldest, day),
        "nbc_class": case((watch, CLASSES[1]), else_=grade),
    }


def _open_sums(day_of):
    """What is unpaid on the installments due before the loan's day, and the oldest due date."""
    late = SI.due_date < day_of

    def late_sum(amount):
        return func.sum(case((late, amount), else_=SQL_ZERO))

    return [
        func.min(SI.due_date).label("oldest"),
        late_sum(SI.principal - SI.paid_principal).label("principal"),
        late_sum(SI.interest - SI.paid_interest).label("interest"),
        late_sum(SI.fees - SI.paid_fees + SI.penalty - SI.paid_penalty).label("fees"),
    ]


def _asks_sql(row):
    paid = row.paid_principal + row.paid_interest + row.paid_fees + row.paid_penalty
    return row.total + row.penalty - paid


def _next_sql(day: date):
    """PostgreSQL: the next installment (the lowest number due on or after `day`) of an aggregate's
    group as one array [number, days after EPOCH of its due date, what it asks], exact (NUMERIC)."""
    parts = [
        cast(SI.number, Numeric),
        cast(SI.due_date - literal(EPOCH), Numeric),
        cast(_asks_sql(SI), Numeric),
    ]
    return func.min(case((SI.due_date >= day, postgresql.array(parts))), type_=postgresql.ARRAY(Numeric))


@dataclass(frozen=True)
class _Next:
    c: SimpleNamespace  # .due_date, .amount: what the queries read of the next installment


def _per_loan_figures(loan, day: date, lateral: bool, dialect: str = "sqlite"):
    """(open figures, next installment, their joins) of each loan. `lateral` (PostgreSQL, few
    stale loans: a nightly run): two LATERAL subqueries read each loan's open installments
    through the schedule's primary key; else one aggregate over all the open installments, which
    on PostgreSQL also picks the next one (`_next_sql`), so the schedule is read once."""
    owing = (SI.fully_paid_on.is_(None), SI.total + SI.penalty > SQL_ZERO)
    if not lateral and dialect == "postgresql":
        current = aliased(Loan, name="c")
        figures = _open_figures(literal(day), current).add_columns(_next_sql(day).label("upcoming"))
        agg = figures.where(_stale(current, day)).subquery("open_figures")
        upcoming = _Next(
            SimpleNamespace(
                due_date=literal(EPOCH) + cast(agg.c.upcoming[2], Integer),
                amount=type_coerce(agg.c.upcoming[3], Money()),
            )
        )
        return agg, upcoming, lambda query: query.outerjoin(agg, agg.c.loan_id == loan.id)
    if lateral:
        mine = (SI.loan_id == loan.id, SI.version == loan.schedule_version, *owing)
        agg = select(*_open_sums(literal(day))).where(*mine).lateral("open_figures")
        upcoming = (
            select(SI.due_date.label("due_date"), _asks_sql(SI).label("amount"))
            .where(*mine, SI.due_date >= day)
            .order_by(SI.number)
            .limit(1)
            .lateral("next_due")
        )
        return agg, upcoming, lambda query: query.outerjoin(agg, true()).outerjoin(upcoming, true())
    current, row = aliased(Loan, name="c"), aliased(SI, name="n")
    agg = _open_figures(literal(day), current).where(_stale(current, day)).subquery("open_figures")
    # the next installment is an open one owing something due on or after `day` (next_number's):
    # only those rows are joined, not the whole schedule
    upcoming = select(row.loan_id, row.version, row.number, row.due_date, _asks_sql(row).label("amount"))
    upcoming = upcoming.where(
        row.fully_paid_on.is_(None), row.total + row.penalty > SQL_ZERO, row.due_date >= day
    ).subquery("next_due")
    on_next = and_(
        upcoming.c.loan_id == loan.id,
        upcoming.c.version == loan.schedule_version,
        upcoming.c.number == agg.c.next_number,
    )
    return (
        agg,
        upcoming,
        lambda query: query.outerjoin(agg, agg.c.loan_id == loan.id).outerjoin(upcoming, on_next),
    )


def _computed(
    day: date, dialect: str, policy: ArrearsPolicy, lateral: bool, ids: Sequence[str] | None = None
):
    """The stale active loans' whole position as of `day`, from their row and their open
    installments (one row per loan); `ids`: only those loans (found through the primary key)."""
    loan = aliased(Loan, name="l")
    agg, upcoming, joined = _per_loan_figures(loan, day, lateral, dialect)
    oldest = agg.c.oldest
    time = _time_figures(loan, oldest, day, dialect, policy)
    query = select(
        loan.id.label("id"),
        (loan.disbursed_amount + loan.capitalised_amount - loan.principal_repaid).label(
            "outstanding_principal"
        ),
        oldest.label("oldest_due_on"),
        literal(day).label("position_as_of"),
        func.coalesce(agg.c.principal, SQL_ZERO).label("principal_overdue"),
        func.coalesce(agg.c.interest, SQL_ZERO).label("interest_overdue"),
        func.coalesce(agg.c.fees, SQL_ZERO).label("fees_overdue"),
        *(expression.label(name) for name, expression in time.items()),
        upcoming.c.due_date.label("next_due_on"),
        upcoming.c.amount.label("next_due_amount"),
    )
    query = joined(query.select_from(loan)).where(loan.status == "active", _stale(loan, day))
    if ids is not None:
        query = query.where(loan.id.in_(ids))
    return query.subquery("computed")


BATCH = 5000  # stale loans a statement reads one at a time (and binds by id)


def _batches(session: Session, day: date) -> list[list[str]]:
    """The stale active loans' ids, in order, by BATCH."""
    ids = list(
        session.scalars(select(Loan.id).where(Loan.status == "active", _stale(Loan, day)).order_by(Loan.id))
    )
    return [ids[start : start + BATCH] for start in range(0, len(ids), BATCH)]


def _update(session: Session, statement) -> int:
    return session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0


def refresh(
    session: Session,
    day: date,
    policy: ArrearsPolicy = DEFAULT_ARREARS_POLICY,
    *,
    lateral: bool | None = None,
) -> int | None:
    """Move every active loan's stored position to `day`, in UPDATE statements that write only
    the loans whose figures change (a second run writes nothing):
    1. the loans whose installments are not needed (`_stale`: most of them, on a nightly run):
       days past due, bucket and class from the oldest open due date on the row, for those whose
       figures change (a loan whose figures stay keeps its position's date: they hold as of `day`);
    2. the stale ones: their whole position from their row and their open installments, either
       all at once (one aggregate over the open installments, which on PostgreSQL also picks
       each loan's next one: the schedule is read once), or, when few, by batches of BATCH ids
       read first, each loan's row and installments through the primary keys;
    3. loans out of the portfolio (the other statuses, through the status indexes) that still
       hold a position are emptied;
    4. the households' later-loan flags (lending.borrowers.recount), where they differ.
    None when another run holds the job's lock (nothing done); else the number of loans written.
    `lateral`: read the stale loans' installments one loan at a time (PostgreSQL only; None: when
    they are fewer than a fifth of the active loans)."""
    if not exclusive(session, LOCK):
        return None
    session.flush()  # the updates below are read back over the session's objects (expired at the end)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # the stale loans' open installments are aggregated at once: room to hash them in memory
        session.execute(text("SET LOCAL work_mem = '256MB'"))
        session.execute(text("SET LOCAL jit = off"))
    time = _time_figures(Loan, Loan.oldest_due_on, day, dialect, policy)
    moved = or_(*(getattr(Loan, name).is_distinct_from(expression) for name, expression in time.items()))
    written = _update(
        session,
        update(Loan)
        .values(position_as_of=day, **time)
        .where(Loan.status == "active", Loan.position_as_of <= day, ~_stale(Loan, day), moved),
    )
    # a few stale loans are read one by one, many (a first run, a month without one) at once
    stale, active = session.execute(
        select(func.count(case((_stale(Loan, day), 1))), func.count()).where(Loan.status == "active")
    ).one()
    lateral = dialect == "postgresql" and (stale * 5 < active if lateral is None else lateral)
    # one at a time: the stale loans' ids first (one scan), then by batches of them through the
    # primary key, the loan's row and its installments alike; else all at once, in one statement
    batches = _batches(session, day) if lateral else [None]
    for ids in batches:
        computed = _computed(day, dialect, policy, lateral=lateral, ids=ids)
        changed = or_(*(getattr(Loan, name).is_distinct_from(computed.c[name]) for name in FIELDS))
        target = [Loan.id == computed.c.id, changed] + ([Loan.id.in_(ids)] if ids is not None else [])
        values = {name: computed.c[name] for name in FIELDS}
        written += _update(session, update(Loan).values(values).where(*target))
    out = empty(None)
    holds = or_(
        Loan.outstanding_principal != SQL_ZERO,
        Loan.oldest_due_on.is_not(None),
        Loan.next_due_on.is_not(None),
        Loan.arrears_bucket.is_not(None),
        Loan.days_past_due != 0,
        Loan.principal_overdue + Loan.interest_overdue + Loan.fees_overdue != SQL_ZERO,
    )
    cleared = {name: getattr(out, name) for name in FIELDS if name != "position_as_of"}
    money = ("outstanding_principal", "principal_overdue", "interest_overdue", "fees_overdue")
    cleared |= dict.fromkeys(money, SQL_ZERO)
    # the statuses named (not `!= 'active'`): the status indexes find the few loans out of the portfolio
    out_of = Loan.status.in_(OUT_OF_PORTFOLIO_STATUSES)
    written += _update(session, update(Loan).values(cleared).where(out_of, holds))
    # the households' later loans (lending.borrowers): nothing to write when the flushes kept them
    written += borrowers.recount(session)
    session.expire_all()
    return written


# --- the consistency check -------------------------------------------------------------------------


def _money(expr):
    return type_coerce(expr, Money())


def _per_loan(column, amount, *where):
    return (
        select(column.label("loan_id"), _money(func.sum(amount)).label("amount"))
        .where(*where)
        .group_by(column)
    )


def _from_history():
    """Per loan: its stored position and what its history says (time-dependent parts as of the
    loan's own position_as_of)."""
    current = aliased(Loan, name="c")
    disbursed = _per_loan(Disbursement.loan_id, Disbursement.amount).subquery("disbursed")
    RA = RepaymentAllocation
    repaid = _per_loan(RA.loan_id, RA.principal).subquery("repaid")
    capitalised = _per_loan(Restructure.loan_id, Restructure.capitalised, Restructure.status == "approved")
    capitalised = capitalised.subquery("capitalised")
    agg = _open_figures(current.position_as_of, current).subquery("open_figures")
    upcoming = aliased(SI, name="n")
    left = upcoming.total + upcoming.penalty
    left -= upcoming.paid_principal + upcoming.paid_interest + upcoming.paid_fees + upcoming.paid_penalty
    query = (
        select(
            Loan,
            _money(func.coalesce(disbursed.c.amount, SQL_ZERO)).label("disbursed"),
            _money(func.coalesce(repaid.c.amount, SQL_ZERO)).label("repaid"),
            _money(func.coalesce(capitalised.c.amount, SQL_ZERO)).label("capitalised"),
            agg.c.oldest,
            _money(func.coalesce(agg.c.principal, SQL_ZERO)).label("principal"),
            _money(func.coalesce(agg.c.interest, SQL_ZERO)).label("interest"),
            _money(func.coalesce(agg.c.fees, SQL_ZERO)).label("fees"),
            upcoming.due_date.label("next_on"),
            _money(left).label("next_amount"),
        )
        .outerjoin(disbursed, disbursed.c.loan_id == Loan.id)
        .outerjoin(repaid, repaid.c.loan_id == Loan.id)
        .outerjoin(capitalised, capitalised.c.loan_id == Loan.id)
        .outerjoin(agg, agg.c.loan_id == Loan.id)
        .outerjoin(
            upcoming,
            and_(
                upcoming.loan_id == Loan.id,
                upcoming.version == Loan.schedule_version,
                upcoming.number == agg.c.next_number,
            ),
        )
        .order_by(Loan.id)
    )
    return query


def _expected(loan, r, watch: bool, policy: ArrearsPolicy) -> Position:
    if loan.status != "active":
        return empty(loan.position_as_of)
    as_of = loan.position_as_of
    dpd = (as_of - r.oldest).days if as_of is not None and r.oldest is not None and r.oldest < as_of else 0
    return Position(
        outstanding_principal=r.disbursed + r.capitalised - r.repaid,
        oldest_due_on=r.oldest,
        position_as_of=as_of,
        principal_overdue=r.principal,
        interest_overdue=r.interest,
        fees_overdue=r.fees,
        days_past_due=dpd,
        arrears_bucket=aging_bucket(dpd),
        nbc_class=_grade(dpd, loan, watch, policy),
        next_due_on=r.next_on,
        next_due_amount=r.next_amount,
    )


def _watched(session: Session, loans: list) -> dict[str, bool]:
    """figures.on_watch of the restructured active loans, from their installments (one statement)."""
    rows = repository.installments_of(session, loans)
    return {
        loan.id: on_watch(loan, rows[loan.id], loan.position_as_of, DEFAULT_ARREARS_POLICY)
        for loan in loans
        if loan.position_as_of is not None
    }


def verify(session: Session, policy: ArrearsPolicy = DEFAULT_ARREARS_POLICY, chunk: int = 2000) -> list[str]:
    """Every difference between a loan's stored position and the one its history gives, one line
    each ("loan <id>: <column> stored <value>, from history <value>"); [] when none. The figures
    time moves are checked as of the loan's own position_as_of (not before its first position)."""
    differences: list[str] = []
    batch: list = []

    def check(pending: list) -> None:
        restructured = [loan for loan, _ in pending if loan.status == "active" and loan.restructured_on]
        watched = _watched(session, restructured) if restructured else {}
        for loan, r in pending:
            want = _expected(loan, r, watched.get(loan.id, False), policy)
            names = FIELDS if loan.position_as_of is not None or loan.status != "active" else TIME_INDEPENDENT
            for name in names:
                stored, expected = getattr(loan, name), getattr(want, name)
                if stored != expected:
                    differences.append(f"loan {loan.id}: {name} stored {stored}, from history {expected}")

    session.flush()  # the stored rows, as they are now, are read over the session's objects
    query = _from_history().execution_options(yield_per=chunk, populate_existing=True)
    for row in session.execute(query):
        batch.append((row[0], row))
        if len(batch) >= chunk:
            check(batch)
            batch = []
    if batch:
        check(batch)
    return differences + borrowers.differences(session) + key_differences(session)


def key_differences(session: Session) -> list[str]:
    """Each payment or allocation whose copy of its loan's report keys (models.repayments.LoanKeys)
    is not the loan's, one line a key ("repayment <id>: lender_id stored <value>, the loan's
    <value>"); the day's flows sum the copies."""
    lines = []
    for label, table in (("repayment", Repayment), ("allocation", RepaymentAllocation)):
        copied = [getattr(table, name) for name in LOAN_KEYS]
        loans = [getattr(Loan, name) for name in LOAN_KEYS]
        query = (
            select(table.id, *copied, *loans)
            .join(Loan, Loan.id == table.loan_id)
            .where(or_(*(c.is_distinct_from(k) for c, k in zip(copied, loans, strict=True))))
            .order_by(table.id)
        )
        for row_id, *values in session.execute(query):
            n = len(LOAN_KEYS)
            pairs = zip(LOAN_KEYS, values[:n], values[n:], strict=True)
            lines += [f"{label} {row_id}: {n} stored {c}, the loan's {k}" for n, c, k in pairs if c != k]
    return lines
