"""Complaint queries: one complaint, the filtered list, and the report's counts and durations."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from loansvc.db.models import Complaint, Lender


def get(session: Session, complaint_id: str, *, lock: bool = False) -> Complaint | None:
    query = select(Complaint).where(Complaint.id == complaint_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def _filtered(query: Select, lender_id: str | None, received_from: date | None, received_to: date | None):
    if lender_id is not None:
        query = query.where(Complaint.lender_id == lender_id)
    if received_from is not None:
        query = query.where(Complaint.received_on >= received_from)
    if received_to is not None:
        query = query.where(Complaint.received_on <= received_to)
    return query


def list_query(
    *,
    status: str | None,
    lender_id: str | None,
    category: str | None,
    household_id: str | None,
    loan_id: str | None,
) -> Select:
    query = select(Complaint).order_by(
        Complaint.received_on.desc(), Complaint.created_at.desc(), Complaint.id
    )
    for column, value in (
        (Complaint.status, status),
        (Complaint.lender_id, lender_id),
        (Complaint.category, category),
        (Complaint.household_id, household_id),
        (Complaint.loan_id, loan_id),
    ):
        if value is not None:
            query = query.where(column == value)
    return query


def counts(
    session: Session, lender_id: str | None, received_from: date | None, received_to: date | None
) -> list[tuple[str | None, str | None, str, str, int]]:
    """(lender id, lender name, category, status, complaints), grouped in SQL."""
    query = (
        select(Complaint.lender_id, Lender.name, Complaint.category, Complaint.status, func.count())
        .select_from(Complaint)
        .outerjoin(Lender, Lender.id == Complaint.lender_id)
        .group_by(Complaint.lender_id, Lender.name, Complaint.category, Complaint.status)
    )
    query = _filtered(query, lender_id, received_from, received_to)
    return [(r[0], r[1], r[2], r[3], r[4]) for r in session.execute(query)]


def resolution_dates(
    session: Session, lender_id: str | None, received_from: date | None, received_to: date | None
) -> list[tuple[date, date]]:
    """(received_on, resolved_on) of the resolved complaints, for the median (complaints are few
    beside loans: the dates are read, the days counted here, with no dialect's date arithmetic)."""
    query = select(Complaint.received_on, Complaint.resolved_on).where(Complaint.status == "resolved")
    query = _filtered(query, lender_id, received_from, received_to)
    return [(r[0], r[1]) for r in session.execute(query)]
