"""Registry queries. Scoping for partner keys is applied here, in the WHERE clause."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from loansvc.db.models import Household, Lender, Product, Site
from loansvc.lending.households import applied_to
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
    query = _with_finances(select(Household)).order_by(Household.site_id, Household.parcel_code, Household.id)
    if site_id is not None:
        query = query.where(Household.site_id == site_id)
    if partner_lender_id is not None:
        query = query.where(applied_to(partner_lender_id))
    return query


def parcel_taken(session: Session, site_id: str, parcel_code: str, other_than: str | None = None) -> bool:
    query = select(Household.id).where(Household.site_id == site_id, Household.parcel_code == parcel_code)
    if other_than is not None:
        query = query.where(Household.id != other_than)
    return session.scalar(query) is not None


def name_taken(session: Session, model, name: str) -> bool:
    return session.scalar(select(model.id).where(model.name == name)) is not None


def product_name_taken(session: Session, lender_id: str, name: str) -> bool:
    return (
        session.scalar(select(Product.id).where(Product.lender_id == lender_id, Product.name == name))
        is not None
    )
