"""The household's file as every feature reads it: with its finances and consents, and within a
partner's scope (a partner sees a household while it has a live consent to share its file with
that partner's lender: recorded by a loan officer or carried in an application, not withdrawn)."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, selectinload

from loansvc.db.models import Consent, Household


def with_finances(query):
    return query.options(
        selectinload(Household.incomes),
        selectinload(Household.expenses),
        selectinload(Household.existing_debts),
        selectinload(Household.collateral_held),
    )


def with_consents(query, lender_id: str | None = None):
    """The household's consents, withdrawn ones included (a partner: its own lender's only)."""
    if lender_id is None:
        return query.options(selectinload(Household.consents))
    # populate_existing: a household the session already holds gets the partner's view, never
    # the collection an unscoped read loaded before
    scoped = selectinload(Household.consents.and_(Consent.lender_id == lender_id))
    return query.options(scoped).execution_options(populate_existing=True)


def live_consent(lender_id: str):
    """The household has a live (not withdrawn) consent for this lender (the partner-scope test)."""
    return exists().where(
        Consent.household_id == Household.id,
        Consent.lender_id == lender_id,
        Consent.withdrawn_on.is_(None),
    )


def household(session: Session, household_id: str, partner_lender_id: str | None = None) -> Household | None:
    query = with_consents(with_finances(select(Household)), partner_lender_id)
    query = query.where(Household.id == household_id)
    if partner_lender_id is not None:
        query = query.where(live_consent(partner_lender_id))
    return session.scalars(query).first()
