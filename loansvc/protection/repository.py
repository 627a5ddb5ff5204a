"""Consent and review queries."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from loansvc.db.models import Consent, LoanReview


def consent(session: Session, household_id: str, consent_id: str, *, lock: bool = False) -> Consent | None:
    query = select(Consent).where(Consent.id == consent_id, Consent.household_id == household_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def live_consents(session: Session, household_id: str, lender_id: str) -> list[Consent]:
    """The household's consents for the lender that are not withdrawn, earliest given first."""
    query = (
        select(Consent)
        .where(
            Consent.household_id == household_id,
            Consent.lender_id == lender_id,
            Consent.withdrawn_on.is_(None),
        )
        .order_by(Consent.given_on, Consent.created_at, Consent.id)
    )
    return list(session.scalars(query))


def reviews_query(loan_id: str) -> Select:
    """A loan's reviews, oldest first (the last one is the one in force)."""
    return (
        select(LoanReview).where(LoanReview.loan_id == loan_id).order_by(LoanReview.created_at, LoanReview.id)
    )


def latest_review(session: Session, loan_id: str) -> LoanReview | None:
    query = (
        select(LoanReview)
        .where(LoanReview.loan_id == loan_id)
        .order_by(LoanReview.created_at.desc(), LoanReview.id.desc())
    )
    return session.scalars(query.limit(1)).first()
