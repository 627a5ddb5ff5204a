"""Loan queries of the loans feature: the list (ordered on the indexes of migration 0015: newest
submission first, then id; read by offset or keyset), applications' assessments, tranches and
deliveries, inspections. A loan's money reads go through `loansvc.lending`."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from loansvc.db.models import Assessment, DisbursementLine, Inspection, Loan
from loansvc.db.models.lending import OPEN_APPLICATION_STATUSES
from loansvc.db.query import for_lender


def loans_query(
    *, lender_id: str | None, status: str | None, household_id: str | None, product_id: str | None = None
) -> Select:
    query = for_lender(select(Loan).order_by(Loan.submitted_on.desc(), Loan.id), Loan.lender_id, lender_id)
    if status is not None:
        query = query.where(Loan.status == status)
    if household_id is not None:
        query = query.where(Loan.household_id == household_id)
    if product_id is not None:
        query = query.where(Loan.product_id == product_id)
    return query


def after(query: Select, submitted_on: date, loan_id: str) -> Select:
    """The loans after (submitted_on, loan_id) in the list's order (submitted_on descending, then
    id): the redundant `submitted_on <= ...` is where the index scan starts, so a deep page reads
    only its own rows (an OR alone would make the database scan the list from its top)."""
    return query.where(
        Loan.submitted_on <= submitted_on, or_(Loan.submitted_on < submitted_on, Loan.id > loan_id)
    )


def sort_key(loan: Loan) -> list[str]:
    """What `after` needs to continue the list after `loan`."""
    return [loan.submitted_on.isoformat(), loan.id]


def page_rows(session: Session, query: Select, limit: int, offset: int) -> list[Loan]:
    return list(session.scalars(query.limit(limit).offset(offset)))


def assessments(session: Session, ids: list[str]) -> dict[str, Assessment]:
    if not ids:
        return {}
    return {a.id: a for a in session.scalars(select(Assessment).where(Assessment.id.in_(set(ids))))}


def disbursement_lines(session: Session, disbursement_ids: list[str]) -> dict[str, list[DisbursementLine]]:
    out: dict[str, list[DisbursementLine]] = {d: [] for d in disbursement_ids}
    if disbursement_ids:
        query = select(DisbursementLine).where(DisbursementLine.disbursement_id.in_(disbursement_ids))
        for line in session.scalars(query.order_by(DisbursementLine.sku)):
            out[line.disbursement_id].append(line)
    return out


def inspections_query(loan_id: str) -> Select:
    query = select(Inspection).where(Inspection.loan_id == loan_id)
    return query.order_by(Inspection.inspected_on, Inspection.created_at, Inspection.id)


def inspections(session: Session, loan_id: str) -> list[Inspection]:
    return list(session.scalars(inspections_query(loan_id)))


def open_application(session: Session, household_id: str, lender_id: str) -> Loan | None:
    """The household's open application (submitted or approved) to the lender, if any."""
    query = select(Loan).where(
        Loan.household_id == household_id,
        Loan.lender_id == lender_id,
        Loan.status.in_(OPEN_APPLICATION_STATUSES),
    )
    return session.scalars(query.order_by(Loan.submitted_on, Loan.id)).first()
