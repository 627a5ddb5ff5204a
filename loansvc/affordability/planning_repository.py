"""Queries of financing plans and programme coverage: the materials bank's products, and the
finances of every household of a site as plain rows (no ORM objects: coverage reads thousands)."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from loansvc.affordability.repository import COMMITTED_STATUSES
from loansvc.db.models import (
    Household,
    HouseholdDebt,
    HouseholdExpense,
    HouseholdIncome,
    Lender,
    Loan,
    Product,
    Site,
)


def materials_products(session: Session, currency: str) -> list[Product]:
    """The materials banks' products in `currency`, the oldest first."""
    query = (
        select(Product)
        .join(Lender, Lender.id == Product.lender_id)
        .where(Lender.kind == "materials_bank", Product.currency == currency)
        .order_by(Product.created_at, Product.id)
    )
    return list(session.scalars(query))


def lender_kind(session: Session, lender_id: str) -> str | None:
    return session.scalar(select(Lender.kind).where(Lender.id == lender_id))


def site_exists(session: Session, site_id: str) -> bool:
    return session.scalar(select(Site.id).where(Site.id == site_id)) is not None


def _of_site(query: Select, site_id: str | None, household_column) -> Select:
    if site_id is None:
        return query
    return query.join(Household, Household.id == household_column).where(Household.site_id == site_id)


def households(session: Session, site_id: str | None) -> list[tuple[str, int, list[str]]]:
    """(id, idpoor level, vulnerabilities) of each household, in parcel order."""
    query = select(Household.id, Household.idpoor_level, Household.vulnerabilities)
    if site_id is not None:
        query = query.where(Household.site_id == site_id)
    return [tuple(row) for row in session.execute(query.order_by(Household.site_id, Household.parcel_code))]


def income_lines(session: Session, site_id: str | None) -> list[tuple]:
    """(household id, amount, frequency, currency) of every declared income."""
    query = select(
        HouseholdIncome.household_id,
        HouseholdIncome.amount,
        HouseholdIncome.frequency,
        HouseholdIncome.currency,
    )
    return [tuple(r) for r in session.execute(_of_site(query, site_id, HouseholdIncome.household_id))]


def expense_lines(session: Session, site_id: str | None) -> list[tuple]:
    query = select(
        HouseholdExpense.household_id,
        HouseholdExpense.amount,
        HouseholdExpense.frequency,
        HouseholdExpense.currency,
    )
    return [tuple(r) for r in session.execute(_of_site(query, site_id, HouseholdExpense.household_id))]


def debt_lines(session: Session, site_id: str | None) -> list[tuple]:
    query = select(
        HouseholdDebt.household_id, HouseholdDebt.installment, HouseholdDebt.frequency, HouseholdDebt.currency
    )
    return [tuple(r) for r in session.execute(_of_site(query, site_id, HouseholdDebt.household_id))]


def households_with_committed_loans(session: Session, site_id: str | None) -> list[str]:
    """The site's households with an approved or active loan, with any lender in loansvc."""
    query = select(Loan.household_id).where(Loan.status.in_(COMMITTED_STATUSES)).distinct()
    return list(session.scalars(_of_site(query, site_id, Loan.household_id)))
