"""The snapshot tables' statements: storing a month end (one INSERT ... SELECT over the report's
exact position query), and reading them back for a trend or a report, a few rows per month.

Money is summed in the database as the position query does (exact on both engines: a scaled
integer on SQLite) and read back through the money type.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, Select, delete, func, insert, literal, null, select, type_coerce, union_all
from sqlalchemy.orm import Session, aliased

from loansvc.db.base import Money, UTCDateTime
from loansvc.db.models import Household, Loan, PortfolioSnapshot, PortfolioSnapshotMonth
from loansvc.reports import queries
from loansvc.reports.queries import Scope

S = PortfolioSnapshot
M = PortfolioSnapshotMonth
MONEY = ("principal", "par1", "par30", "par90")
# the figures of position_rows' rows and of the snapshot table, in the same order
FIGURES = ("loans", *MONEY, "apr_above_cap", "apr_above_cap_balance", "restructured", "restructured_balance")
KEYS = ("month_end", "lender_id", "site_id", "product_id", "currency", "bucket", "loan_class")


def _money(expr):
    return type_coerce(expr, Money())


def taken_months(session: Session, month_ends: Sequence[date]) -> dict[date, Decimal | None]:
    """{month end: the rate cap it was counted against} of the month ends already taken."""
    rows = session.execute(select(M.month_end, M.rate_cap_percent).where(M.month_end.in_(list(month_ends))))
    return {row.month_end: row.rate_cap_percent for row in rows}


def month_select(month_end: date, rate_cap_percent: Decimal | None, taken_at: datetime) -> Select:
    """The snapshot rows of `month_end`, from the report's exact position query at that day
    (every lender), grouped by lender, site, product, currency, bucket and class."""
    loans = queries.positions(Scope(as_of=month_end, rate_cap_percent=rate_cap_percent)).subquery()
    owner = aliased(Loan)
    dims = [owner.lender_id, Household.site_id, owner.product_id, loans.c.currency, loans.c.bucket]
    dims.append(loans.c["class"].label("loan_class"))
    sums = [_money(func.sum(loans.c.outstanding)).label("principal")]
    sums += [_money(func.sum(loans.c[name])).label(name) for name in ("par1", "par30", "par90")]
    query = select(
        literal(month_end, Date()).label("month_end"),
        *dims,
        func.count().label("loans"),
        *sums,
        func.sum(loans.c.apr_above_cap).label("apr_above_cap"),
        _money(func.sum(loans.c.apr_above_cap_balance)).label("apr_above_cap_balance"),
        func.sum(loans.c.restructured).label("restructured"),
        _money(func.sum(loans.c.restructured_balance)).label("restructured_balance"),
        literal(taken_at, UTCDateTime()).label("taken_at"),
    )
    query = query.select_from(loans).join(owner, owner.id == loans.c.loan_id)
    query = query.join(Household, Household.id == loans.c.household_id)
    return query.group_by(*dims[:-1], loans.c["class"])


def store_month(
    session: Session, month_end: date, rate_cap_percent: Decimal | None, taken_at: datetime
) -> None:
    """Replace whatever the month end holds with its snapshot, and mark it taken."""
    session.execute(delete(S).where(S.month_end == month_end))
    session.execute(delete(M).where(M.month_end == month_end))
    columns = [*KEYS, *FIGURES, "taken_at"]
    session.execute(insert(S).from_select(columns, month_select(month_end, rate_cap_percent, taken_at)))
    session.execute(
        insert(M).values(month_end=month_end, rate_cap_percent=rate_cap_percent, taken_at=taken_at)
    )


def rows_stored(session: Session, month_end: date) -> int:
    """The snapshot rows of a month end (counted: psycopg reports no rowcount for an INSERT ...
    SELECT with parameters)."""
    return session.scalar(select(func.count()).select_from(S).where(S.month_end == month_end)) or 0


def trend_rows(session: Session, month_ends: Sequence[date], lender_id: str | None) -> dict[date, list[dict]]:
    """{month end: its rows per currency (loans, principal, par30, par90)} of the month ends taken,
    in one statement whatever their number (a taken month with no loans has no rows)."""
    on = S.month_end == M.month_end
    if lender_id is not None:
        on = on & (S.lender_id == lender_id)
    query = select(
        M.month_end,
        S.currency,
        func.sum(S.loans).label("loans"),
        *(_money(func.sum(S.__table__.c[name])).label(name) for name in ("principal", "par30", "par90")),
    )
    query = query.select_from(M).outerjoin(S, on).where(M.month_end.in_(list(month_ends)))
    out: dict[date, list[dict]] = {}
    for row in session.execute(query.group_by(M.month_end, S.currency)).mappings():
        rows = out.setdefault(row["month_end"], [])
        if row["currency"] is not None:
            rows.append({k: row[k] for k in ("currency", "loans", "principal", "par30", "par90")})
    return out


def _snapshot_key(group_by: str | None) -> list:
    if group_by is None:
        return []
    return [
        {"lender": S.lender_id, "site": S.site_id, "product": S.product_id, "currency": S.currency}[group_by]
    ]


def _loan_key(group_by: str | None) -> list:
    if group_by is None:
        return []
    column = {"lender": Loan.lender_id, "site": Household.site_id, "product": Loan.product_id}
    return [column.get(group_by, Loan.currency).label("group_key")]


def position_rows(session: Session, scope: Scope, all_currencies: Sequence[str] = ()) -> list[dict]:
    """queries.position_rows' rows at a month end taken, in one statement: the "position" part
    summed over the snapshot rows by the report's group; the borrowers (distinct households, which
    cannot be summed) from the loans active that day, per group and currency, per currency and,
    with all_currencies, over those currencies together."""
    day = scope.as_of
    key = _snapshot_key(scope.group_by)
    dims = [*(k.label("group_key") for k in key), S.currency, S.bucket, S.loan_class.label("class")]
    sums = [func.sum(S.loans).label("loans")]
    sums += [_money(func.sum(S.__table__.c[name])).label(name) for name in MONEY]
    sums += [
        func.sum(S.apr_above_cap).label("apr_above_cap"),
        _money(func.sum(S.apr_above_cap_balance)).label("apr_above_cap_balance"),
        func.sum(S.restructured).label("restructured"),
        _money(func.sum(S.restructured_balance)).label("restructured_balance"),
    ]
    snapshot = select(*dims, *sums, null().label("borrowers"), literal("position").label("part"))
    snapshot = snapshot.where(S.month_end == day)
    if scope.lender_id is not None:
        snapshot = snapshot.where(S.lender_id == scope.lender_id)
    snapshot = snapshot.group_by(*key, S.currency, S.bucket, S.loan_class)

    loans = select(*_loan_key(scope.group_by), Loan.currency, Loan.household_id).where(queries.active_at(day))
    if scope.group_by == "site":
        loans = loans.join(Household, Household.id == Loan.household_id)
    if scope.lender_id is not None:
        loans = loans.where(Loan.lender_id == scope.lender_id)
    active = loans.cte("active_loans")  # read once for the three counts
    group = [active.c.group_key] if key else []
    blanks = [null().label(c) for c in ("bucket", "class", *FIGURES)]
    households = func.count(func.distinct(active.c.household_id)).label("borrowers")

    def people(part: str, by_group: bool, by_currency: bool) -> Select:
        keys = group if by_group else [null().label("group_key")] * len(group)
        currency = active.c.currency if by_currency else null().label("currency")
        query = select(*keys, currency, *blanks, households, literal(part).label("part"))
        return query.group_by(*(group if by_group else []), *([active.c.currency] if by_currency else []))

    parts = [snapshot, people("borrowers", True, True), people("currency_borrowers", False, True)]
    if all_currencies:
        parts.append(people("all_borrowers", False, False).where(active.c.currency.in_(all_currencies)))
    return [dict(row) for row in session.execute(union_all(*parts)).mappings()]
