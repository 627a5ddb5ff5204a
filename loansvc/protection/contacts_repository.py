"""Contact and promise queries. What counts toward a promise is read from the ledger's payments:
those of the loan dated from the contact day to the promise's due date (and not after as_of),
reversed ones left out, summed in SQL beside each promise (exact on both databases: money)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Select, and_, case, func, literal_column, select, type_coerce
from sqlalchemy.orm import Session

from loansvc.db.base import Money
from loansvc.db.models import CollectionContact, Household, Loan, Repayment, RepaymentReversal, Site

CC = CollectionContact
ZERO = literal_column("0")  # a bare SQL zero (a bound 0 would reach SQLite as money text)


def paid_toward(as_of: date):
    """Per contact row, what was paid toward its promise by as_of (0 without a promise)."""
    reversed_ = select(RepaymentReversal.id).where(RepaymentReversal.repayment_id == Repayment.id).exists()
    paid = (
        select(func.coalesce(func.sum(Repayment.amount), ZERO))
        .where(
            Repayment.loan_id == CC.loan_id,
            Repayment.paid_on >= CC.contacted_on,
            Repayment.paid_on <= CC.promise_due_on,
            Repayment.paid_on <= as_of,
            ~reversed_,
        )
        .correlate(CC)
        .scalar_subquery()
    )
    return type_coerce(paid, Money())


def contacts_query(loan_id: str, as_of: date) -> Select:
    """A loan's contacts, oldest first, each with what was paid toward its promise by as_of."""
    query = select(CC, paid_toward(as_of).label("paid")).where(CC.loan_id == loan_id)
    return query.order_by(CC.contacted_on, CC.created_at, CC.id)


def paid_of(session: Session, contact_id: str, as_of: date):
    """What was paid toward one contact's promise by as_of."""
    return session.scalar(select(paid_toward(as_of)).select_from(CC).where(CC.id == contact_id))


def contacts_page(session: Session, query: Select, limit: int, offset: int) -> tuple[list, int]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    return list(session.execute(query.limit(limit).offset(offset))), total


def _latest(as_of: date, *, promises: bool):
    """The latest contact (or promise) of each loan made by as_of: ranked 1 per loan."""
    rank = func.row_number().over(
        partition_by=CC.loan_id, order_by=(CC.contacted_on.desc(), CC.created_at.desc(), CC.id.desc())
    )
    query = select(CC.id.label("contact_id"), CC.loan_id, rank.label("rank")).where(CC.contacted_on <= as_of)
    if promises:
        query = query.where(CC.promise_due_on.is_not(None))
    return query


def latest_on_loans(
    session: Session, loan_ids: Sequence[str], as_of: date, *, promises: bool
) -> dict[str, tuple[CollectionContact, object]]:
    """Per loan, its latest contact (or latest promise) made by as_of, with what was paid toward
    the promise by then; one statement."""
    if not loan_ids:
        return {}
    ranked = _latest(as_of, promises=promises).where(CC.loan_id.in_(sorted(set(loan_ids)))).subquery()
    query = (
        select(CC, paid_toward(as_of).label("paid"))
        .join(ranked, and_(ranked.c.contact_id == CC.id, ranked.c.rank == 1))
        .order_by(CC.loan_id)
    )
    return {
        row.CollectionContact.loan_id: (row.CollectionContact, row.paid) for row in session.execute(query)
    }


def latest_contacts(as_of: date):
    """A subquery of each loan's latest contact by as_of: loan_id, contacted_by, contacted_on."""
    ranked = _latest(as_of, promises=False).subquery()
    return (
        select(CC.loan_id, CC.contacted_by, CC.contacted_on)
        .join(ranked, and_(ranked.c.contact_id == CC.id, ranked.c.rank == 1))
        .subquery("latest_contact")
    )


def promise_counts(session: Session, as_of: date, due_after: date, lender_id: str | None) -> list[dict]:
    """Per site and officer (the promise's `by`): promises due in (due_after, as_of] kept and
    broken by as_of, and promises made by as_of and due after it that are not yet kept."""
    paid = paid_toward(as_of)
    query = (
        select(
            Household.site_id,
            Site.name.label("site_name"),
            CC.contacted_by.label("officer"),
            CC.promise_amount,
            CC.promise_due_on,
            paid.label("paid"),
        )
        .join(Loan, Loan.id == CC.loan_id)
        .join(Household, Household.id == Loan.household_id)
        .join(Site, Site.id == Household.site_id)
        .where(CC.promise_due_on.is_not(None), CC.promise_due_on > due_after, CC.contacted_on <= as_of)
    )
    if lender_id is not None:
        query = query.where(Loan.lender_id == lender_id)
    rows = query.subquery()
    kept = rows.c.paid >= rows.c.promise_amount
    due = rows.c.promise_due_on <= as_of

    def count(condition):
        return func.sum(case((condition, 1), else_=0))

    grouped = select(
        rows.c.site_id,
        rows.c.site_name,
        rows.c.officer,
        count(and_(due, kept)).label("promises_kept"),
        count(and_(due, ~kept)).label("promises_broken"),
        count(and_(~due, ~kept)).label("promises_open"),
    ).group_by(rows.c.site_id, rows.c.site_name, rows.c.officer)
    return [dict(r) for r in session.execute(grouped).mappings()]
