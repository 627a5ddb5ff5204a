"""Names the pages show beside ids (lenders, sites, products), read through the registry service
with the caller's scope, and the API's JSON of a response model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from loansvc.auth.principal import Principal
from loansvc.registry import service as registry
from loansvc.registry.schemas import LenderOut, ProductOut, SiteOut

MANY = 500  # the programme has a handful of lenders, sites and products


def as_json(model: type[BaseModel], value: Any) -> dict[str, Any]:
    """What the API sends for `value` under `model` (its response model)."""
    return model.model_validate(value).model_dump(mode="json", by_alias=True)


def lenders(session: Session) -> dict[str, dict[str, Any]]:
    items, _ = registry.list_lenders(session, MANY, 0)
    return {lender.id: as_json(LenderOut, lender) for lender in items}


def sites(session: Session) -> dict[str, dict[str, Any]]:
    items, _ = registry.list_sites(session, MANY, 0)
    return {site.id: as_json(SiteOut, site) for site in items}


def products(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """The products the caller may use (a partner: its own lender's), with the lender's kind and name."""
    known = lenders(session)
    items, _ = registry.list_products(session, principal, MANY, 0)
    out = []
    for product in items:
        row = as_json(ProductOut, product)
        lender = known.get(product.lender_id, {})
        row["lender_kind"] = lender.get("kind")
        row["lender_name"] = lender.get("name", product.lender_id)
        out.append(row)
    return out
