"""Affordability queries: policies, stored assessments, house models."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from loansvc.db.models import Assessment, HousingModel, Loan, Policy

COMMITTED_STATUSES = ("approved", "active")


def default_policy(session: Session) -> Policy | None:
    return session.scalars(select(Policy).where(Policy.is_default.is_(True))).first()


def policies_query() -> Select:
    return select(Policy).order_by(Policy.created_at, Policy.version)


def assessments_query(household_id: str, lender_id: str | None) -> Select:
    query = select(Assessment).where(Assessment.household_id == household_id)
    if lender_id is not None:
        query = query.where(Assessment.lender_id == lender_id)
    return query.order_by(Assessment.created_at.desc(), Assessment.id)


def committed_loans(session: Session, household_id: str, exclude_loan_id: str | None = None) -> list[Loan]:
    """The household's approved and active loans with every lender in loansvc."""
    query = select(Loan).where(Loan.household_id == household_id, Loan.status.in_(COMMITTED_STATUSES))
    if exclude_loan_id is not None:
        query = query.where(Loan.id != exclude_loan_id)
    return list(session.scalars(query.order_by(Loan.submitted_on, Loan.id)))


def housing_model(session: Session, code: str) -> HousingModel | None:
    return session.scalars(select(HousingModel).where(HousingModel.code == code)).first()
