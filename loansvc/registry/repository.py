"""Registry queries. Scoping for partner keys is applied here, in the WHERE clause."""

from __future__ import annotations

from sqlalchemy import Select, case, or_, select
from sqlalchemy.orm import Session

from loansvc.db.models import Household, Lender, Product, Site
from loansvc.domain.text import SEPARATOR, SearchTerms
from loansvc.lending.households import live_consent, with_consents
from loansvc.lending.households import with_finances as _with_finances


def lenders_query() -> Select:
    return select(Lender).order_by(Lender.created_at, Lender.id)


def products_query(lender_id: str | None = None) -> Select:
    query = select(Product).order_by(Product.created_at, Product.id)
    if lender_id is not None:
        query = query.where(Product.lender_id == lender_id)
    return query


def sites_query() -> Select:
    return select(Site).order_by(Site.created_at, Site.id)


def households_query(site_id: str | None = None, partner_lender_id: str | None = None) -> Select:
    query = with_consents(_with_finances(select(Household)), partner_lender_id)
    query = query.order_by(Household.site_id, Household.parcel_code, Household.id)
    if site_id is not None:
        query = query.where(Household.site_id == site_id)
    if partner_lender_id is not None:
        query = query.where(live_consent(partner_lender_id))
    return query


def parcel_taken(session: Session, site_id: str, parcel_code: str, other_than: str | None = None) -> bool:
    query = select(Household.id).where(Household.site_id == site_id, Household.parcel_code == parcel_code)
    if other_than is not None:
        query = query.where(Household.id != other_than)
    return session.scalar(query) is not None


def title_taken(session: Session, title_number: str, other_than: str | None = None) -> bool:
    query = select(Household.id).where(Household.title_number == title_number)
    if other_than is not None:
        query = query.where(Household.id != other_than)
    return session.scalar(query) is not None


def households_matching(
    query: Select,
    terms: SearchTerms | None = None,
    parcel_code: str | None = None,
    idpoor_level: int | None = None,
) -> Select:
    """`query` (households, already scoped to the caller) narrowed by the list's filters. A search
    matches the folded `search_text` as a substring, exact matches of a whole field first."""
    if parcel_code is not None:
        query = query.where(Household.parcel_code == parcel_code)
    if idpoor_level is not None:
        query = query.where(Household.idpoor_level == idpoor_level)
    if terms is None:
        return query
    wanted = [terms.text] if terms.digits is None else [terms.text, terms.digits]
    text = Household.search_text
    found = or_(*(text.contains(w, autoescape=True) for w in wanted))
    # each field sits between two separators, so a separator on both sides is the whole field
    exact = or_(*(text.contains(SEPARATOR + w + SEPARATOR, autoescape=True) for w in wanted))
    first = case((exact, 0), else_=1)
    return query.where(found).order_by(None).order_by(first, Household.head_name, Household.id)


def name_taken(session: Session, model, name: str) -> bool:
    return session.scalar(select(model.id).where(model.name == name)) is not None


def product_name_taken(session: Session, lender_id: str, name: str) -> bool:
    return (
        session.scalar(select(Product.id).where(Product.lender_id == lender_id, Product.name == name))
        is not None
    )
