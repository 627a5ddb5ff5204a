"""The household's file as every feature reads it: with its finances, and within a partner's scope
(a partner sees a household once it has applied to that partner's lender)."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, selectinload

from loansvc.db.models import Household, HouseholdLender


def with_finances(query):
    return query.options(
        selectinload(Household.incomes),
        selectinload(Household.expenses),
        selectinload(Household.existing_debts),
    )


def applied_to(lender_id: str):
    """The household has applied to this lender (the partner-scope test)."""
    return exists().where(
        HouseholdLender.household_id == Household.id, HouseholdLender.lender_id == lender_id
    )


def household(session: Session, household_id: str, partner_lender_id: str | None = None) -> Household | None:
    query = with_finances(select(Household)).where(Household.id == household_id)
    if partner_lender_id is not None:
        query = query.where(applied_to(partner_lender_id))
    return session.scalars(query).first()
