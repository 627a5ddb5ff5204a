"""The report queries: every figure is aggregated in the database (SQLAlchemy Core, the same
statements on SQLite and PostgreSQL); what comes back is a few rows per group and currency.

As of a date, a loan's position is its running projection less what happened after that date:
disbursed = loans.disbursed_amount - tranches dated later; repaid = loans.principal_repaid -
principal of the (non-reversed) payments dated later; paid on an installment = its paid_* columns -
later allocations. The later movements are few for a recent date (read through the paid_on and
disbursed_on indexes), so a report never sums the whole payment history.

Days past due are never computed in SQL. A loan's oldest late due date is compared with dates
worked out here (dpd >= n  <=>  oldest_due <= as_of - n days), so no dialect's date arithmetic is
needed. Every figure is exact on both engines: money is ExactDecimal, NUMERIC(20, 4) on PostgreSQL
and a scaled integer (value x 10^4) on SQLite, so SUM() adds integers there; each sum is read back
through the money type (_money) as a Decimal with the column's 4 places.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from sqlalchemy import (
    ARRAY,
    Select,
    String,
    and_,
    any_,
    bindparam,
    case,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from loansvc.db.base import Money
from loansvc.db.models import (
    Disbursement,
    Household,
    Lender,
    Loan,
    Product,
    Repayment,
    RepaymentAllocation,
    RepaymentReversal,
    Restructure,
    ScheduledInstallment,
    Site,
)
from loansvc.db.models.repayments import LOAN_KEYS
from loansvc.db.query import bounded_count
from loansvc.domain.arrears import BUCKETS, CLASSES, DEFAULT_ARREARS_POLICY, ArrearsPolicy, aging_bucket
from loansvc.lending.expected import COLUMNS as EXPECTED_COLUMNS
from loansvc.lending.expected import months_after
from loansvc.lending.positions import on_watch_sql

SI = ScheduledInstallment
RA = RepaymentAllocation
# a bare SQL zero: a bound 0 would take the money type and reach SQLite as the text '0'
ZERO = literal_column("0")
# the statuses of a loan that was once disbursed (active now, or active until closed / written off)
BOOKED = ("active", "closed", "written_off")
GROUP_KEYS = {"lender": "lender_id", "site": "site_id", "product": "product_id", "currency": "currency"}
# the name shown beside a group's id (a currency is its own name)
GROUP_NAMES = {"lender": "lender_name", "site": "site_name", "product": "product_name"}


@dataclass(frozen=True)
class Scope:
    """What a report covers: the date, the grouping (None: one row per currency), the lender of a
    partner's key (None: every lender) and the classification policy. `today`: the service's
    today; an as_of on or after it is read from the positions the ledger keeps on the loans
    (None: always the exact whole-schedule query)."""

    as_of: date
    group_by: str | None = None
    lender_id: str | None = None
    policy: ArrearsPolicy = DEFAULT_ARREARS_POLICY
    # the legal cap (settings): loans whose APR, shown to 2 decimals, is above it are counted apart
    rate_cap_percent: Decimal | None = None
    today: date | None = None

    @property
    def current(self) -> bool:
        """Nothing can be dated after today: the stored positions are the positions at as_of."""
        return self.today is not None and self.as_of >= self.today


def _money(expr):
    return type_coerce(expr, Money())


def _apr_above_cap(cap: Decimal | None):
    """The loan's APR rounded half-even to 2 places (as shown) is above the cap, compared in SQL
    with the stored value (6 places at most): rounded > cap <=> apr > the largest 6-place value
    that still rounds to at most cap, which is worked out here."""
    if cap is None:
        return false()
    cent, step = Decimal("0.01"), Decimal("0.000001")
    floor = cap.quantize(cent, rounding=ROUND_FLOOR)  # the largest shown value not above cap
    tie = floor + cent / 2  # a tie goes to the even cent: down to floor only when floor is even
    top = tie if tie.quantize(cent, rounding=ROUND_HALF_EVEN) == floor else tie - step
    return and_(Loan.apr_percent.is_not(None), Loan.apr_percent > top)


def _days_before(day: date, days: int) -> date:
    return day - timedelta(days=days)


def _bucket_starts() -> list[int]:
    """The first dpd of each bucket after "current", read off the domain's own aging_bucket."""
    starts, dpd = [], 0
    for bucket in BUCKETS[1:]:
        while aging_bucket(dpd) != bucket:
            dpd += 1
        starts.append(dpd)
    return starts


def active_at(day: date):
    """Disbursed on or before `day`, and neither closed nor written off by then."""
    return and_(
        Loan.status.in_(BOOKED),
        Loan.first_disbursed_on <= day,
        or_(Loan.closed_on.is_(None), Loan.closed_on > day),
        or_(Loan.written_off_on.is_(None), Loan.written_off_on > day),
    )


def _keys(scope: Scope, of=Loan) -> list:
    """The report's group key, of the loan or of a movement that carries its loan's keys
    (`of`: a payment or an allocation, models.repayments.LoanKeys). The site is the household's,
    copied on the loan (a household never moves)."""
    if scope.group_by is None:
        return []
    return [getattr(of, GROUP_KEYS[scope.group_by]).label("group_key")]


def _scoped(query: Select, scope: Scope, of=Loan) -> Select:
    """A partner's own lender only."""
    if scope.lender_id is not None:
        query = query.where(of.lender_id == scope.lender_id)
    return query


def _portfolio(scope: Scope):
    """The loans in the portfolio at as_of. As of today (scope.current) they are the active ones:
    nothing is dated after today, so a loan disbursed by then and neither closed nor written off
    by then is active now, and the bare status is the predicate of ix_loans_active_positions (the
    current statements read that index alone)."""
    return Loan.status == "active" if scope.current else active_at(scope.as_of)


def _current(installment=SI):
    return and_(Loan.id == installment.loan_id, Loan.schedule_version == installment.version)


def _short_term(policy: ArrearsPolicy):
    """1 when the loan is graded on the short-term table: term x 12 / periods a year <= the
    policy's months, i.e. term x 12 <= months x periods a year (exact, in whole numbers)."""
    per_year = func.coalesce(Loan.periods_per_year, 12)
    return case((Loan.term * 12 <= per_year * policy.short_term_max_months, 1), else_=0)


def _grade(oldest_due, bounds: tuple[int, ...], day: date):
    whens = [(oldest_due <= _days_before(day, b), CLASSES[k + 1]) for k, b in enumerate(bounds)]
    return case(*reversed(whens), else_=CLASSES[0])


def _restructured_by(day: date):
    """The loan was restructured on or before `day` (PAR counts all its principal)."""
    return and_(Loan.restructured_on.is_not(None), Loan.restructured_on <= day)


def _later(column, amount, when, day: date):
    """Per loan, the sum of `amount` over the movements dated after `day`."""
    return (
        select(column.label("loan_id"), func.sum(amount).label("amount")).where(when > day).group_by(column)
    )


def _on_watch(day: date, policy: ArrearsPolicy):
    """A restructured loan is on watch until its last `restructured_watch_installments` installments
    of the new schedule due by `day` were all paid by their due dates (the figures' `on_watch`),
    correlated to the report's loan however deep the query nests it."""
    return on_watch_sql(Loan, day, policy)


def _late_from_schedule(scope: Scope):
    """Per loan, the oldest due date before as_of of an installment not fully paid by then (the
    exact method: the current schedule's unpaid installments and those paid after as_of)."""
    day = scope.as_of

    # installments due before as_of and not fully paid by then: the unpaid ones and those paid after
    # as_of, as two branches so that each reads its own partial index (an OR would scan the table)
    def unpaid(paid_by_then):
        due = select(SI.loan_id, SI.version, SI.due_date).where(
            SI.due_date < day,
            paid_by_then,
            SI.total + SI.penalty > ZERO,  # owing nothing is never late
        )
        return due

    due = union_all(unpaid(SI.fully_paid_on.is_(None)), unpaid(SI.fully_paid_on > day)).subquery()
    late = select(due.c.loan_id, func.min(due.c.due_date).label("oldest_due")).join(
        Loan, and_(Loan.id == due.c.loan_id, Loan.schedule_version == due.c.version)
    )
    if scope.lender_id is not None:
        late = late.where(Loan.lender_id == scope.lender_id)
    return late.group_by(due.c.loan_id).subquery()


def _exact(scope: Scope, *, late_too: bool = True):
    """(outstanding, oldest late due date, the same to compare with, the joins they need) from the
    whole history: the running projection less the movements dated after as_of. Without
    `late_too`, the outstanding principal only (no schedule read: no oldest late due date)."""
    day = scope.as_of
    later_tranches = _later(
        Disbursement.loan_id, Disbursement.amount, Disbursement.disbursed_on, day
    ).subquery()
    later_principal = _later(RA.loan_id, RA.principal, RA.paid_on, day).subquery()
    approved = Restructure.status == "approved"
    later_capitalised = (
        _later(Restructure.loan_id, Restructure.capitalised, Restructure.effective_on, day)
        .where(approved)
        .subquery()
    )
    late = _late_from_schedule(scope) if late_too else None
    disbursed = Loan.disbursed_amount - func.coalesce(later_tranches.c.amount, ZERO)
    capitalised = Loan.capitalised_amount - func.coalesce(later_capitalised.c.amount, ZERO)
    repaid = Loan.principal_repaid - func.coalesce(later_principal.c.amount, ZERO)

    def joined(query: Select) -> Select:
        query = query.outerjoin(later_tranches, later_tranches.c.loan_id == Loan.id)
        query = query.outerjoin(later_principal, later_principal.c.loan_id == Loan.id)
        query = query.outerjoin(later_capitalised, later_capitalised.c.loan_id == Loan.id)
        return query if late is None else query.outerjoin(late, late.c.loan_id == Loan.id)

    oldest = null() if late is None else late.c.oldest_due
    return disbursed + capitalised - repaid, oldest, oldest, joined


def _stored(scope: Scope):
    """(outstanding, oldest late due date, what to compare with, no join) from the position on
    each loan's row: for an as_of on or after today, the oldest open due date is late when it is
    before as_of."""
    oldest = case((Loan.oldest_due_on < scope.as_of, Loan.oldest_due_on), else_=null())
    # every test of lateness compares with a day before as_of, which the open due date itself meets
    # only when it is before as_of: the bare column serves them (no CASE per comparison)
    return Loan.outstanding_principal, oldest, Loan.oldest_due_on, lambda query: query


def positions(scope: Scope, *, detail: bool = False, exact: bool = False) -> Select:
    """One row per loan active at as_of: outstanding principal, oldest late due date, bucket,
    class and PAR balances (detail adds the household, site and lender, for the visit list).
    As of today (scope.current) they are read off the positions the ledger keeps on the loans
    (one scan of the loans, no schedule nor payment read, but for a restructured loan's watch);
    as of an earlier day, or with `exact`, from the whole schedule and the movements after as_of."""
    day, policy = scope.as_of, scope.policy
    outstanding, oldest, late_on, joined = _exact(scope) if exact or not scope.current else _stored(scope)
    bucket_whens = [(late_on <= _days_before(day, s), BUCKETS[k + 1]) for k, s in enumerate(_bucket_starts())]
    grade = case(
        (_short_term(policy) == 1, _grade(late_on, policy.short_term_bounds, day)),
        else_=_grade(late_on, policy.long_term_bounds, day),
    )

    restructured = _restructured_by(day)

    def par(days: int):
        # SEEP: the whole outstanding principal of a loan more than `days` late, and of every
        # restructured loan (restructuring must not take a loan out of the portfolio at risk)
        return case((or_(late_on < _days_before(day, days), restructured), outstanding), else_=ZERO)

    grade = case((and_(restructured, grade == CLASSES[0], _on_watch(day, policy)), CLASSES[1]), else_=grade)

    above_cap = _apr_above_cap(scope.rate_cap_percent)

    columns = [
        *_keys(scope),
        Loan.id.label("loan_id"),
        Loan.currency,
        Loan.household_id,
        outstanding.label("outstanding"),
        oldest.label("oldest_due"),
        case(*reversed(bucket_whens), else_=BUCKETS[0]).label("bucket"),
        grade.label("class"),
        par(1).label("par1"),
        par(30).label("par30"),
        par(90).label("par90"),
        case((above_cap, 1), else_=0).label("apr_above_cap"),
        case((above_cap, outstanding), else_=ZERO).label("apr_above_cap_balance"),
        case((restructured, 1), else_=0).label("restructured"),
        case((restructured, outstanding), else_=ZERO).label("restructured_balance"),
    ]
    query = joined(select(*columns).select_from(Loan))
    if detail:  # the visit list: ungrouped, with the household and its site
        assert scope.group_by is None
        people = (Household.head_name, Household.phone, Household.parcel_code, Household.site_id)
        query = query.add_columns(Loan.lender_id, *people, Site.name.label("site_name"))
        query = query.join(Household, Household.id == Loan.household_id).join(
            Site, Site.id == Household.site_id
        )
    return _scoped(query.where(active_at(day)), scope)


def _rows(session: Session, query) -> list[dict]:
    return [dict(row) for row in session.execute(query).mappings()]


def _later_flags(scope: Scope) -> tuple:
    """The flags (lending.borrowers) that make a loan not its household's first: in the group's
    borrowers, and in the currency's. A partner's report counts its own lender's borrowers."""
    if scope.lender_id is not None:
        group = Loan.later_with_lender_product if scope.group_by == "product" else Loan.later_with_lender
        return group, Loan.later_with_lender
    group = {"lender": Loan.later_with_lender, "product": Loan.later_in_product}.get(
        scope.group_by, Loan.later_in_currency
    )
    return group, Loan.later_in_currency


def watched_ids(session: Session, scope: Scope) -> list[str]:
    """The restructured active loans still on watch as of today (their schedules read through
    ix_loans_active_restructured: the few restructured loans, each one's watch worked out from its
    new installments), read before the positions' scan so that the scan has no subquery: on
    PostgreSQL it may then be split between parallel workers."""
    day, policy = scope.as_of, scope.policy
    query = select(Loan.id).where(
        Loan.status == "active",
        Loan.restructured_on.is_not(None),
        Loan.restructured_on <= day,
        on_watch_sql(Loan, day, policy),
    )
    return sorted(session.scalars(_scoped(query, scope)))


def _watch(ids: Sequence[str], postgresql: bool):
    """1 for the loans of `ids`, else 0 (on PostgreSQL one array parameter, however many ids)."""
    if not ids:
        return literal_column("0")
    if postgresql:
        return case((Loan.id == any_(bindparam("watched", list(ids), type_=ARRAY(String))), 1), else_=0)
    return case((Loan.id.in_(list(ids)), 1), else_=0)


def _stored_positions(
    scope: Scope,
    *,
    expected: bool = False,
    borrowers: bool = False,
    watched: Sequence[str] = (),
    postgresql: bool = False,
) -> Select:
    """position_rows' "position" part from the stored positions, in two steps: the loans grouped by
    what their bucket, class and PAR depend on (their oldest open due date, short or long term,
    restructured and still on watch, above the cap), a few thousand groups whatever the number of
    loans; then bucket, class and PAR worked out once per group (the same CASEs as `positions`).
    `watched`: the restructured loans still on watch (watched_ids, read first).
    With `expected`, the same scan also sums the expected dues of the loans anchored at as_of and
    counts the others (EXPECTED_SUMS, read by expected_rows in place of its own scan). With
    `borrowers`, each row also counts its loans that are their household's first in the group
    ("firsts") and in the currency ("currency_firsts"): summed over a group's rows, its borrowers."""
    day, policy = scope.as_of, scope.policy
    restructured = _restructured_by(day)
    watch = _watch(watched, postgresql)
    flags = [
        Loan.oldest_due_on.label("due"),
        _short_term(policy).label("short"),
        case((restructured, 1), else_=0).label("restructured"),
        watch.label("watch"),
        case((_apr_above_cap(scope.rate_cap_percent), 1), else_=0).label("above_cap"),
    ]
    inner = select(*_keys(scope), Loan.currency, *flags, func.count().label("loans"))
    inner = inner.select_from(Loan)
    inner = inner.add_columns(_money(func.sum(Loan.outstanding_principal)).label("principal"))
    if expected:
        inner = inner.add_columns(*_expected_sums(scope))
    if borrowers:
        later_in_group, later_in_currency = _later_flags(scope)
        inner = inner.add_columns(
            func.sum(later_in_group).label("later"), func.sum(later_in_currency).label("currency_later")
        )
    # no loan on watch: the flag is the constant 0, not grouped by (a constant would read as a
    # column's position in GROUP BY)
    grouped = [*_keys(scope), Loan.currency, *(f for f in flags if watched or f.name != "watch")]
    g = _scoped(inner.where(_portfolio(scope)), scope).group_by(*grouped).subquery("loan_groups")
    due, principal = g.c.due, g.c.principal
    bucket = case(
        *reversed([(due <= _days_before(day, b), BUCKETS[k + 1]) for k, b in enumerate(_bucket_starts())]),
        else_=BUCKETS[0],
    )
    grade = case(
        (g.c.short == 1, _grade(due, policy.short_term_bounds, day)),
        else_=_grade(due, policy.long_term_bounds, day),
    )
    grade = case((and_(g.c.restructured == 1, grade == CLASSES[0], g.c.watch == 1), CLASSES[1]), else_=grade)

    def when(condition, value):
        return func.sum(case((condition, value), else_=ZERO))

    def par(days: int):
        return _money(when(or_(due < _days_before(day, days), g.c.restructured == 1), principal))

    key = [g.c.group_key] if scope.group_by else []
    dims = [*key, g.c.currency, bucket.label("bucket"), grade.label("class")]
    query = select(
        *dims,
        func.sum(g.c.loans).label("loans"),
        _money(func.sum(principal)).label("principal"),
        par(1).label("par1"),
        par(30).label("par30"),
        par(90).label("par90"),
        when(g.c.above_cap == 1, g.c.loans).label("apr_above_cap"),
        _money(when(g.c.above_cap == 1, principal)).label("apr_above_cap_balance"),
        when(g.c.restructured == 1, g.c.loans).label("restructured"),
        _money(when(g.c.restructured == 1, principal)).label("restructured_balance"),
        null().label("borrowers"),
        literal("position").label("part"),
    )
    if borrowers:
        query = query.add_columns(
            (func.sum(g.c.loans) - func.sum(g.c.later)).label("firsts"),
            (func.sum(g.c.loans) - func.sum(g.c.currency_later)).label("currency_firsts"),
        )
    if expected:
        sums = [_money(func.sum(g.c[name])).label(name) for name in EXPECTED_COLUMNS]
        query = query.add_columns(*sums, func.sum(g.c.others).label("others"))
    return query.group_by(*key, g.c.currency, bucket, grade)


def trend_rows(session: Session, scope: Scope) -> list[dict]:
    """As of today, what a PAR-trend point reads (frames.trend_point) per currency: the loans, the
    principal and the PAR30 and PAR90 balances, the same sums as position_rows' "position" rows
    (PAR: the whole outstanding principal of a loan late more than so many days, and of every
    restructured loan), in one aggregate over ix_loans_active_positions with no grouping by
    bucket or class, which PostgreSQL may split between parallel workers."""
    assert scope.current and scope.group_by is None
    day = scope.as_of
    restructured = _restructured_by(day)

    def par(days: int):
        late = or_(Loan.oldest_due_on < _days_before(day, days), restructured)
        return _money(func.sum(case((late, Loan.outstanding_principal), else_=ZERO)))

    query = select(
        Loan.currency,
        func.count().label("loans"),
        _money(func.sum(Loan.outstanding_principal)).label("principal"),
        par(30).label("par30"),
        par(90).label("par90"),
    )
    return _rows(session, _scoped(query.where(_portfolio(scope)), scope).group_by(Loan.currency))


EXPECTED_SUMS = (*EXPECTED_COLUMNS, "others")


def _expected_sums(scope: Scope) -> list:
    """Per group of loans: the expected dues (expected_1..6) of those anchored at as_of, and the
    number of the others (never anchored, or at another day), whose dues the installments give.
    Read as of today only, over the active loans (_portfolio): the status is not tested again, so
    that ix_loans_active_positions serves the statement alone."""
    assert scope.current
    anchored = Loan.expected_as_of == scope.as_of
    # FILTER, not a CASE per due: a loan not anchored adds nothing, instead of a zero (a tenth of the
    # positions statement at 300k loans); a group without an anchored loan sums to NULL, read as 0
    sums = [_money(func.sum(getattr(Loan, name)).filter(anchored)).label(name) for name in EXPECTED_COLUMNS]
    return [*sums, func.sum(case((anchored, 0), else_=1)).label("others")]


_BLANK_COLUMNS = (
    "bucket",
    "class",
    "loans",
    "principal",
    "par1",
    "par30",
    "par90",
    "apr_above_cap",
    "apr_above_cap_balance",
    "restructured",
    "restructured_balance",
)


def position_rows(
    session: Session,
    scope: Scope,
    *,
    borrowers: bool = True,
    all_currencies: Sequence[str] = (),
    expected: bool = False,
) -> list[dict]:
    """One statement over the loans' positions (computed once, as a CTE), its rows told apart by
    `part`: "position" per group, currency, bucket and class (loans, principal, PAR balances);
    with borrowers, "borrowers" (distinct households) per group and currency and "currency_borrowers"
    per currency; with all_currencies, "all_borrowers" over those currencies together. With
    `expected`, as of today, "expected" rows too: per group and currency, the sums expected_rows
    reads (EXPECTED_SUMS and the loans), from the same scan of the loans."""
    if scope.current:  # the stored positions: grouped twice, the households apart (below)
        return _current_position_rows(session, scope, borrowers, all_currencies, expected)
    loans = positions(scope).cte("positions")
    key = [loans.c.group_key] if scope.group_by else []
    dims = [*key, loans.c.currency, loans.c.bucket, loans.c["class"]]
    sums = [_money(func.sum(loans.c.outstanding)).label("principal")]
    sums += [_money(func.sum(loans.c[name])).label(name) for name in ("par1", "par30", "par90")]
    sums += [
        func.sum(loans.c.apr_above_cap).label("apr_above_cap"),
        _money(func.sum(loans.c.apr_above_cap_balance)).label("apr_above_cap_balance"),
        func.sum(loans.c.restructured).label("restructured"),
        _money(func.sum(loans.c.restructured_balance)).label("restructured_balance"),
    ]
    loans_per_dim = select(*dims, func.count().label("loans"), *sums, null().label("borrowers"))
    parts = [loans_per_dim.add_columns(literal("position").label("part")).group_by(*dims)]
    blanks = [null().label(c) for c in _BLANK_COLUMNS]

    def people(part: str, by_group: bool, by_currency: bool, *where) -> Select:
        # the distinct households first, then counted (a hash, where count(DISTINCT) sorts)
        dims = [*(key if by_group else []), *([loans.c.currency] if by_currency else [])]
        distinct = select(*dims, loans.c.household_id).where(*where).distinct().subquery()
        mine = [distinct.c[c.name] for c in dims]
        group = mine[: len(key)] if by_group else [null().label("group_key")] * len(key)
        currency = distinct.c.currency if by_currency else null().label("currency")
        query = select(
            *group, currency, *blanks, func.count().label("borrowers"), literal(part).label("part")
        )
        return query.select_from(distinct).group_by(*mine)

    if borrowers:
        parts += [people("borrowers", True, True), people("currency_borrowers", False, True)]
    if all_currencies:
        parts.append(people("all_borrowers", False, False, loans.c.currency.in_(all_currencies)))
    return _rows(session, union_all(*parts) if len(parts) > 1 else parts[0])


def _current_position_rows(
    session: Session, scope: Scope, borrowers: bool, all_currencies: Sequence[str], expected: bool
) -> list[dict]:
    """position_rows as of today, from ix_loans_active_positions alone (index-only scans): the
    positions, their expected dues and their borrowers in one scan (_stored_positions; a
    household's later loans are flagged by the ledger, lending.borrowers). Borrowers over several
    currencies together (all_currencies, the converted totals, on request only) are the distinct
    household ids of those currencies, hashed."""
    grouped = scope.group_by is not None
    postgresql = session.get_bind().dialect.name == "postgresql"
    watched = watched_ids(session, scope)
    query = _stored_positions(
        scope, expected=expected, borrowers=borrowers, watched=watched, postgresql=postgresql
    )
    rows = _rows_planned_for_few_groups(session, query) if postgresql else _rows(session, query)
    rows = _expected_apart(rows, grouped) if expected else rows
    rows = _borrowers_apart(rows, grouped) if borrowers else rows
    if all_currencies:
        active = _scoped(select(Loan.household_id).where(_portfolio(scope)), scope)
        every = active.where(Loan.currency.in_(all_currencies)).distinct().subquery("all_households")
        count = session.scalar(select(func.count()).select_from(every))
        rows.append(_borrowers_row("all_borrowers", grouped, None, None, count))
    return rows


# The positions' groups are few (a few thousand: lender x currency x oldest due date x flags), but
# PostgreSQL estimates a tenth of the rows (100,000 at 1M loans): it then prices a hash of them
# above its memory and moving them out of parallel workers above a scan in one process, and picks
# a sort or a single process. For that one statement: room for the estimate, and the rows a worker
# hands on priced as what they are (a few thousand). Measured at 1M loans (docs/benchmarks.md).
_FEW_GROUPS = {"work_mem": "64MB", "parallel_tuple_cost": "0.01"}


def _rows_planned_for_few_groups(session: Session, query) -> list[dict]:
    for name, value in _FEW_GROUPS.items():
        session.execute(text(f"SET LOCAL {name} = '{value}'"))
    rows = _rows(session, query)
    for name in _FEW_GROUPS:  # the transaction's other statements keep the server's settings
        session.execute(text(f"RESET {name}"))
    return rows


def _borrowers_apart(rows: list[dict], grouped: bool) -> list[dict]:
    """The position rows without their firsts, and those summed: "borrowers" per group and
    currency, "currency_borrowers" per currency."""
    out, per_group, per_currency = [], {}, {}
    for r in rows:
        if r["part"] == "position":
            firsts, currency_firsts = r.pop("firsts"), r.pop("currency_firsts")
            key = (r.get("group_key"), r["currency"])
            per_group[key] = per_group.get(key, 0) + firsts
            per_currency[r["currency"]] = per_currency.get(r["currency"], 0) + currency_firsts
        out.append(r)
    for (group_key, currency), count in sorted(per_group.items(), key=str):
        out.append(_borrowers_row("borrowers", grouped, group_key, currency, count))
    for currency, count in sorted(per_currency.items()):
        out.append(_borrowers_row("currency_borrowers", grouped, None, currency, count))
    return out


def _borrowers_row(part: str, grouped: bool, group_key, currency, count: int) -> dict:
    """A row of borrowers, shaped as position_rows' other rows (the position columns blank)."""
    key = {"group_key": group_key} if grouped else {}
    return {**key, "currency": currency, **dict.fromkeys(_BLANK_COLUMNS), "borrowers": count, "part": part}


def _expected_apart(rows: list[dict], grouped: bool) -> list[dict]:
    """The rows without their expected sums, and those sums per group and currency ("expected")."""
    out, sums = [], {}
    for r in rows:
        moved = {name: r.pop(name) for name in EXPECTED_SUMS}
        out.append(r)
        if r["part"] != "position":
            continue
        key = (r.get("group_key"), r["currency"])
        into = sums.setdefault(key, {name: 0 for name in ("loans", *EXPECTED_SUMS)})
        into["loans"] += r["loans"]
        for name, value in moved.items():
            into[name] += value or 0
    for (group_key, currency), into in sums.items():
        out.append(
            {
                **({"group_key": group_key} if grouped else {}),
                "currency": currency,
                **into,
                "part": "expected",
            }
        )
    return out


def _received(session: Session, scope: Scope, start: date, kind: str, label: str) -> list[dict]:
    """Payments of `kind` received in (start, as_of], reversed ones left out."""
    dims = [*_keys(scope), Loan.currency]
    query = select(*dims, _money(func.sum(Repayment.amount)).label(label))
    query = query.select_from(Repayment).join(Loan, Loan.id == Repayment.loan_id)
    reversed_ = select(RepaymentReversal.id).where(RepaymentReversal.repayment_id == Repayment.id).exists()
    query = query.where(
        ~reversed_, Repayment.kind == kind, Repayment.paid_on > start, Repayment.paid_on <= scope.as_of
    )
    return _rows(session, _scoped(query, scope).group_by(*dims))


def collected_rows(session: Session, scope: Scope, start: date) -> list[dict]:
    """Repayments received in (start, as_of], reversed ones and recoveries left out."""
    return _received(session, scope, start, "repayment", "collected")


def recovered_rows(session: Session, scope: Scope, start: date) -> list[dict]:
    """Recoveries (payments on written-off loans) received in (start, as_of]."""
    return _received(session, scope, start, "recovery", "recoveries")


def portfolio_rows(session: Session, scope: Scope) -> list[dict]:
    """The gross loan portfolio at as_of per group and currency (for the period's average): the
    outstanding principal alone, so no schedule is read (only the movements after as_of)."""
    if scope.current:
        outstanding, joined = Loan.outstanding_principal, lambda query: query
    else:
        outstanding, _, _, joined = _exact(scope, late_too=False)
    query = joined(select(*_keys(scope), Loan.currency, outstanding.label("outstanding")).select_from(Loan))
    loans = _scoped(query.where(_portfolio(scope)), scope).subquery()
    dims = ([loans.c.group_key] if scope.group_by else []) + [loans.c.currency]
    query = select(*dims, _money(func.sum(loans.c.outstanding)).label("portfolio")).group_by(*dims)
    return _rows(session, query)


def fallen_due_rows(session: Session, scope: Scope, start: date) -> list[dict]:
    """Installments due in (start, as_of], and what was paid on them by their due date, of the
    loans still open at the start of the period and not written off before the due date."""
    dims = [*_keys(scope), Loan.currency]
    query = select(
        *dims,
        _money(func.sum(SI.total)).label("fallen_due"),
        _money(func.sum(SI.paid_by_due_date)).label("paid_by_due_date"),
    )
    query = query.select_from(SI).join(Loan, _current())
    query = query.where(
        SI.due_date > start,
        SI.due_date <= scope.as_of,
        Loan.status.in_(BOOKED),
        or_(Loan.closed_on.is_(None), Loan.closed_on > start),
        or_(Loan.written_off_on.is_(None), Loan.written_off_on >= SI.due_date),
    )
    return _rows(session, _scoped(query, scope).group_by(*dims))


def disbursed_rows(session: Session, scope: Scope, start: date) -> list[dict]:
    """Disbursed in (start, as_of], cash and materials apart."""
    dims = [*_keys(scope), Loan.currency, Disbursement.kind]
    query = select(*dims, _money(func.sum(Disbursement.amount)).label("amount"))
    query = query.select_from(Disbursement).join(Loan, Loan.id == Disbursement.loan_id)
    query = query.where(Disbursement.disbursed_on > start, Disbursement.disbursed_on <= scope.as_of)
    return _rows(session, _scoped(query, scope).group_by(*dims))


def written_off_rows(session: Session, scope: Scope, start: date) -> list[dict]:
    """Principal written off in (start, as_of]."""
    dims = [*_keys(scope), Loan.currency]
    query = select(*dims, _money(func.sum(Loan.written_off_principal)).label("written_off"))
    query = query.where(
        Loan.status == "written_off", Loan.written_off_on > start, Loan.written_off_on <= scope.as_of
    )
    return _rows(session, _scoped(query, scope).group_by(*dims))


PAID_NOW = SI.paid_principal + SI.paid_interest + SI.paid_fees + SI.paid_penalty
ALLOCATED = RA.principal + RA.interest + RA.fees + RA.penalty


def _paid_later(day: date) -> Select:
    """Allocations dated after `day`, joined to their installment of the current schedule."""
    query = select().select_from(RA).join(SI, and_(SI.loan_id == RA.loan_id, SI.number == RA.number))
    return query.join(Loan, _current()).where(RA.paid_on > day)


def expected_rows(
    session: Session, scope: Scope, windows: list[tuple[str, date, date]], stored: list[dict] | None = None
) -> list[dict]:
    """Per window (label, start exclusive, end inclusive) after as_of, what the installments of the
    loans active at as_of still owed at as_of, in two parts added by the caller: what they owe now
    ("owed") and what was paid on them after as_of ("paid_later").

    As of today (scope.current, the report's own windows) from the dues the loans keep
    (lending.expected), hybrid: one scan of the loans in scope sums expected_1..6 of those anchored
    at as_of (active, expected_as_of = as_of: they hold as_of's windows) and counts the others in
    the same statement. None left (every day after the nightly refresh): that is the answer, one
    statement, no installment read. Else the exact statement adds the installments of those others
    only (never anchored, reopened; or every loan before the day's refresh: then it runs unfiltered);
    nothing is paid after an as_of on or after today, so no "paid_later" part is read: two
    statements at most, as before. `stored`: those sums already read (position_rows' "expected"
    rows, from its own scan of the loans): then the loans are not read again.
    As of an earlier day: the exact statement over the installments, and the payments after as_of."""
    first, last = windows[0][1], windows[-1][2]
    keys = _keys(scope)
    month = case(*((and_(SI.due_date > start, SI.due_date <= end), label) for label, start, end in windows))

    def grouped(kind: str, amount, query: Select) -> list[dict]:
        inner = query.add_columns(*keys, Loan.currency, amount.label("amount"), month.label("month"))
        inner = _scoped(inner.where(SI.due_date > first, SI.due_date <= last, active_at(scope.as_of)), scope)
        rows = inner.subquery()
        dims = ([rows.c.group_key] if keys else []) + [rows.c.currency, rows.c.month]
        query = select(*dims, _money(func.sum(rows.c.amount)).label("amount")).group_by(*dims)
        return [{**r, "kind": kind} for r in _rows(session, query)]

    owed = select().select_from(SI).join(Loan, _current())
    owing = SI.total + SI.penalty - PAID_NOW
    if not scope.current or windows != months_after(scope.as_of):
        return grouped("owed", owing, owed) + grouped("paid_later", ALLOCATED, _paid_later(scope.as_of))
    others = or_(Loan.status != "active", Loan.expected_as_of.is_(None), Loan.expected_as_of != scope.as_of)
    if stored is None:  # else the sums position_rows(expected=True) read in its own scan
        dims = [*keys, Loan.currency]
        query = select(*dims, *_expected_sums(scope), func.count().label("loans"))
        stored = _rows(session, _scoped(query.where(_portfolio(scope)), scope).group_by(*dims))
    totals: dict[tuple, Decimal] = {}
    left = every = 0
    for r in stored:
        left += r["others"]
        every += r["loans"]
        for (label, _, _), name in zip(windows, EXPECTED_COLUMNS, strict=True):
            key = (r.get("group_key"), r["currency"], label)
            totals[key] = totals.get(key, Decimal(0)) + (r[name] or Decimal(0))
    if left:
        # every loan unanchored (before the day's refresh): the exact statement itself, unfiltered
        for r in grouped("owed", owing, owed if left == every else owed.where(others)):
            key = (r.get("group_key"), r["currency"], r["month"])
            totals[key] = totals.get(key, Decimal(0)) + r["amount"]
    ordered = sorted(totals.items(), key=lambda item: tuple(str(v) for v in item[0]))
    return [
        {**({"group_key": k} if keys else {}), "currency": c, "month": m, "amount": a, "kind": "owed"}
        for (k, c, m), a in ordered
        if a != 0
    ]


def delinquent_rows(
    session: Session,
    scope: Scope,
    min_days: int,
    limit: int,
    offset: int,
    *,
    after: tuple[date, str] | None = None,
    count_bound: int | None = None,
) -> tuple[list[dict], int]:
    """Loans at least `min_days` late at as_of, the longest late first (oldest late due date, then
    id), with where to find them; and their number, counted no further than `count_bound` + 1
    (None: all of them, see db.query.bounded_count). `after` (oldest late due date, loan id): only
    the loans after that one in the list's order (keyset); `offset` then skips loans from there.

    As of today (scope.current) the late loans are the active ones whose stored oldest open due
    date is on or before the cutoff: read through ix_loans_status_oldest_due (or, for a partner,
    ix_loans_lender_oldest_due) in the list's order, so a page reads `limit` index entries (after
    `offset`), never the rows before it nor a sort of every late loan; each row's position, its
    household and site are then joined for the page's loans only."""
    cutoff = _days_before(scope.as_of, min_days)

    def _after(due, loan_id, after: tuple[date, str]) -> tuple:
        # the redundant `due >= ...` is where an index scan starts (an OR alone reads from the top)
        day, key = after
        return due >= day, or_(due > day, loan_id > key)

    if scope.current:
        # active_at(today) is status = 'active' (nothing is dated after today), and only an active
        # loan holds an oldest open due date: the bare columns let the index serve the order
        late = select(Loan.id, Loan.oldest_due_on).where(
            Loan.status == "active", Loan.oldest_due_on <= cutoff
        )
        late = _scoped(late, scope)
        total = bounded_count(session, late, count_bound)
        if after is not None:
            late = late.where(*_after(Loan.oldest_due_on, Loan.id, after))
        keys = late.order_by(Loan.oldest_due_on, Loan.id).limit(limit).offset(offset).subquery("page")
        query = positions(scope, detail=True).join(keys, keys.c.id == Loan.id)
        return _rows(session, query.order_by(keys.c.oldest_due_on, keys.c.id)), total
    loans = positions(scope, detail=True).subquery()
    late = select(loans).where(loans.c.oldest_due <= cutoff)
    total = bounded_count(session, late, count_bound)
    if after is not None:
        late = late.where(*_after(loans.c.oldest_due, loans.c.loan_id, after))
    query = late.order_by(loans.c.oldest_due, loans.c.loan_id).limit(limit).offset(offset)
    return _rows(session, query), total


def group_names(session: Session, group_by: str, keys: Sequence[str]) -> dict[str, str]:
    """{id: name} of the report's groups (lenders, sites or products), in one statement."""
    if group_by not in GROUP_NAMES or not keys:
        return {}
    table = {"lender": Lender, "site": Site, "product": Product}[group_by]
    query = select(table.id, table.name).where(table.id.in_(sorted(set(keys))))
    return {row.id: row.name for row in session.execute(query)}


# --- the period's flows, per kind ------------------------------------------------------------------
# Each flow of the report's period is a sum of movements dated in it, so it adds up day by day: the
# nightly fill stores each day's sums (loansvc.snapshots.flows) and a report adds the days stored
# to these same statements over the days not stored yet. The portfolio at the period's start is the
# portfolio at as_of less the principal movements of the period (service.portfolio_at_start).


def flow_parts(scope: Scope, since: date, until: date, *, period_start: date | None = None) -> list[Select]:
    """One statement per kind over the movements dated in (since, until].

    With `period_start` (a report's period, which may start before `since`): rows of (group_key,
    currency, kind, amount) for the report's group and lender, the installments fallen due counted
    only for the loans not closed by the period's start. Without it (the nightly fill): rows of
    (day, lender_id, site_id, product_id, currency, kind, closed_before, amount) for every lender,
    `closed_before` being the day a loan closed when that was before the installment fell due."""
    per_day = period_start is None

    def part(kind, amount, day, query: Select, *where, closed_before=None, of=Loan) -> Select:
        # `kind`: a name, or an expression naming each row's kind (several kinds in one scan);
        # `of`: what carries the loan's keys (the loan, or a movement that copies them)
        label = literal(kind) if isinstance(kind, str) else kind
        by_kind = [] if isinstance(kind, str) else [label]
        if per_day:
            dims = [day.label("day"), *(getattr(of, name) for name in LOAN_KEYS)]
            before = (closed_before if closed_before is not None else null()).label("closed_before")
            grouped = [*dims, *by_kind, *([closed_before] if closed_before is not None else [])]
            columns = [*dims, label.label("kind"), before]
        else:
            query = _scoped(query, scope, of)
            dims = [*_keys(scope, of), of.currency]
            grouped = [*dims, *by_kind]
            columns = [*dims, label.label("kind")]
        query = query.add_columns(*columns, _money(func.sum(amount)).label("amount"))
        return query.where(day > since, day <= until, *where).group_by(*grouped)

    # payments and allocations carry their loan's keys: a day's rows alone, no loan read
    payments = select().select_from(Repayment)
    reversed_ = select(RepaymentReversal.id).where(RepaymentReversal.repayment_id == Repayment.id).exists()
    tranches = select().select_from(Disbursement).join(Loan, Loan.id == Disbursement.loan_id)
    allocations = select().select_from(RA)
    restructures = select().select_from(Restructure).join(Loan, Loan.id == Restructure.loan_id)
    # each installment twice, once per kind: what fell due, and what was paid on it by then
    due_kinds = union_all(
        select(literal("fallen_due").label("kind")), select(literal("paid_by_due_date").label("kind"))
    ).subquery("due_kinds")
    installments = select().select_from(SI).join(Loan, _current()).join(due_kinds, true())
    falling = [
        Loan.status.in_(BOOKED),
        or_(Loan.written_off_on.is_(None), Loan.written_off_on >= SI.due_date),
    ]
    closed_before = None
    if per_day:
        closed_before = case((Loan.closed_on < SI.due_date, Loan.closed_on), else_=null())
    else:
        falling.append(or_(Loan.closed_on.is_(None), Loan.closed_on > period_start))
    received = case((Repayment.kind == "repayment", "collected"), else_="recoveries")
    disbursed = case((Disbursement.kind == "cash", "disbursed_cash"), else_="disbursed_materials")
    due_amount = case((due_kinds.c.kind == "fallen_due", SI.total), else_=SI.paid_by_due_date)
    return [
        part(received, Repayment.amount, Repayment.paid_on, payments, ~reversed_, of=Repayment),
        part(disbursed, Disbursement.amount, Disbursement.disbursed_on, tranches),
        part("principal_repaid", RA.principal, RA.paid_on, allocations, of=RA),
        part(
            "capitalised",
            Restructure.capitalised,
            Restructure.effective_on,
            restructures,
            Restructure.status == "approved",
        ),
        part(
            due_kinds.c.kind,
            _money(due_amount),
            SI.due_date,
            installments,
            *falling,
            closed_before=closed_before,
        ),
    ]


def flow_rows(session: Session, scope: Scope, since: date, period_start: date) -> list[dict]:
    """The report's flows over the days (since, as_of] not stored, in one statement."""
    if since >= scope.as_of:
        return []
    return _rows(session, union_all(*flow_parts(scope, since, scope.as_of, period_start=period_start)))


def left_rows(session: Session, scope: Scope, start: date) -> list[dict]:
    """Per group and currency, what the loans that closed or were written off in (start, as_of]
    still carry in the ledger's running projection (disbursed + capitalised - repaid): nothing for
    a closed loan, the principal written off for a written-off one. With the period's principal
    movements, it gives the portfolio at the period's start (service.portfolio_at_start)."""
    dims = [*_keys(scope), Loan.currency]
    carried = Loan.disbursed_amount + Loan.capitalised_amount - Loan.principal_repaid
    query = select(*dims, _money(func.sum(carried)).label("left"))
    left = or_(
        and_(Loan.status == "closed", Loan.closed_on > start, Loan.closed_on <= scope.as_of),
        and_(Loan.status == "written_off", Loan.written_off_on > start, Loan.written_off_on <= scope.as_of),
    )
    return _rows(session, _scoped(query.where(left), scope).group_by(*dims))
