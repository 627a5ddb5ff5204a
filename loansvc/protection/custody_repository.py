"""Collateral queries: one title's hold, a loan's items, the titles report and its per-lender count.

A status as of a day is a WHERE clause over the item's dates and its loan's closed_on, with the
dates worked out here (no dialect's date arithmetic): at as_of an item received by then is
released (released_on <= as_of), else held while the loan is not closed by then, due for return
while closed_on >= as_of - return_days, overdue before that.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from loansvc.db.models import Collateral, Household, Lender, Loan

C = Collateral


def get(session: Session, collateral_id: str, *, lock: bool = False) -> Collateral | None:
    query = select(C).where(C.id == collateral_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def held_title(session: Session, title_number: str) -> Collateral | None:
    """The unreleased hold on a title number, if any (at most one: uq_collateral_held_title)."""
    return session.scalars(select(C).where(C.title_number == title_number, C.released_on.is_(None))).first()


def of_loan_query(loan_id: str) -> Select:
    return select(C).where(C.loan_id == loan_id).order_by(C.received_on, C.created_at, C.id)


def unreleased_of_loan(session: Session, loan_id: str) -> list[Collateral]:
    return list(session.scalars(of_loan_query(loan_id).where(C.released_on.is_(None))))


def status_is(status: str | None, as_of: date, return_days: int):
    """The WHERE clause of an item (joined to its loan) with this status at as_of (None: any)."""
    received = C.received_on <= as_of
    released = and_(C.released_on.is_not(None), C.released_on <= as_of)
    kept = or_(C.released_on.is_(None), C.released_on > as_of)
    cut = as_of - timedelta(days=return_days)  # overdue <=> as_of > closed_on + days <=> closed_on < cut
    closed = and_(Loan.closed_on.is_not(None), Loan.closed_on <= as_of)
    where = {
        None: received,
        "released": and_(received, released),
        "held": and_(received, kept, or_(Loan.closed_on.is_(None), Loan.closed_on > as_of)),
        "due_for_return": and_(received, kept, closed, Loan.closed_on >= cut),
        "overdue": and_(received, kept, closed, Loan.closed_on < cut),
    }
    return where[status]


def titles_query(as_of: date, return_days: int, status: str | None, lender_id: str | None) -> Select:
    """Land titles with their loan, household and lender; the longest closed first, then the open."""
    query = (
        select(
            C,
            Loan.status.label("loan_status"),
            Loan.closed_on,
            Household.head_name,
            Lender.name.label("lender_name"),
        )
        .join(Loan, Loan.id == C.loan_id)
        .join(Household, Household.id == C.household_id)
        .join(Lender, Lender.id == C.held_by_lender_id)
        .where(C.kind == "land_title", status_is(status, as_of, return_days))
    )
    if lender_id is not None:
        query = query.where(C.held_by_lender_id == lender_id)
    never_closed = case((Loan.closed_on.is_(None), 1), else_=0)
    return query.order_by(never_closed, Loan.closed_on, C.received_on, C.id)


def titles_page(session: Session, query: Select, limit: int, offset: int) -> tuple[list, int]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    return list(session.execute(query.limit(limit).offset(offset))), total


def overdue_titles_by_lender(
    session: Session, as_of: date, return_days: int, lender_id: str | None
) -> list[tuple[str, str, int]]:
    """(lender id, name, land titles overdue at as_of) of each lender with one, by name."""
    query = (
        select(C.held_by_lender_id, Lender.name, func.count())
        .join(Loan, Loan.id == C.loan_id)
        .join(Lender, Lender.id == C.held_by_lender_id)
        .where(C.kind == "land_title", status_is("overdue", as_of, return_days))
        .group_by(C.held_by_lender_id, Lender.name)
        .order_by(Lender.name, C.held_by_lender_id)
    )
    if lender_id is not None:
        query = query.where(C.held_by_lender_id == lender_id)
    return [(row[0], row[1], row[2]) for row in session.execute(query)]


def held_on_loans(session: Session, loan_ids: Sequence[str], as_of: date) -> dict[str, list[Collateral]]:
    """Per loan, the items received by as_of and not released by then, in one statement."""
    if not loan_ids:
        return {}
    query = (
        select(C)
        .where(
            C.loan_id.in_(sorted(set(loan_ids))),
            C.received_on <= as_of,
            or_(C.released_on.is_(None), C.released_on > as_of),
        )
        .order_by(C.loan_id, C.received_on, C.created_at, C.id)
    )
    out: dict[str, list[Collateral]] = {}
    for item in session.scalars(query):
        out.setdefault(item.loan_id, []).append(item)
    return out
