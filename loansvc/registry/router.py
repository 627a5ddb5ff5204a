"""HTTP for the registry: parse, call the service, shape the response."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from loansvc.auth.principal import Principal
from loansvc.fields import Page
from loansvc.registry import service
from loansvc.registry.schemas import (
    HouseholdCreate,
    HouseholdOut,
    HouseholdPatch,
    LenderCreate,
    LenderOut,
    ProductCreate,
    ProductOut,
    SiteCreate,
    SiteOut,
)
from loansvc.web.deps import ALL_ROLES, PageDep, SessionDep, SettingsDep, WriteSessionDep, require
from loansvc.web.problems import AUTH_ERRORS, responses

router = APIRouter(prefix="/v1")
IdQuery = Annotated[str | None, Query(max_length=36)]
SearchQuery = Annotated[
    str | None,
    Query(
        max_length=200,
        description="part of the head's name (any case or accents, Latin or Khmer script), the parcel"
        " code, title number or phone (with or without spaces); exact matches first",
    ),
]


@router.post(
    "/lenders",
    status_code=201,
    response_model=LenderOut,
    tags=["registry"],
    responses=responses(*AUTH_ERRORS, 409, 422),
)
def create_lender(body: LenderCreate, session: SessionDep, principal: Principal = require("admin")):
    return service.create_lender(session, body)


@router.get("/lenders", response_model=Page[LenderOut], tags=["registry"], responses=responses(*AUTH_ERRORS))
def list_lenders(session: SessionDep, page: PageDep, principal: Principal = require(*ALL_ROLES)):
    items, total = service.list_lenders(session, page.limit, page.offset)
    return Page[LenderOut](items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/lenders/{lender_id}",
    response_model=LenderOut,
    tags=["registry"],
    responses=responses(*AUTH_ERRORS, 404),
)
def get_lender(lender_id: str, session: SessionDep, principal: Principal = require(*ALL_ROLES)):
    return service.get_lender(session, lender_id)


@router.post(
    "/products",
    status_code=201,
    response_model=ProductOut,
    tags=["registry"],
    responses=responses(*AUTH_ERRORS, 409, 422),
)
def create_product(
    body: ProductCreate, session: SessionDep, settings: SettingsDep, principal: Principal = require("partner")
):
    """Refused with 422 RATE_ABOVE_LEGAL_CAP above `LOANSVC_RATE_CAP_PERCENT` (18) a year, and
    FLAT_RATE_PROHIBITED for flat interest, whatever the lender."""
    return service.create_product(
        session,
        principal,
        body,
        rate_cap_percent=settings.rate_cap_percent,
        khr_per_usd=settings.khr_per_usd,
    )


@router.get(
    "/products", response_model=Page[ProductOut], tags=["registry"], responses=responses(*AUTH_ERRORS)
)
def list_products(
    session: SessionDep, page: PageDep, lender_id: IdQuery = None, principal: Principal = require(*ALL_ROLES)
):
    items, total = service.list_products(session, principal, page.limit, page.offset, lender_id)
    return Page[ProductOut](items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/products/{product_id}",
    response_model=ProductOut,
    tags=["registry"],
    responses=responses(*AUTH_ERRORS, 404),
)
def get_product(product_id: str, session: SessionDep, principal: Principal = require(*ALL_ROLES)):
    return service.get_product(session, principal, product_id)


@router.post(
    "/sites",
    status_code=201,
    response_model=SiteOut,
    tags=["registry"],
    responses=responses(*AUTH_ERRORS, 409, 422),
)
def create_site(body: SiteCreate, session: SessionDep, principal: Principal = require("loan_officer")):
    return service.create_site(session, body)


@router.get("/sites", response_model=Page[SiteOut], tags=["registry"], responses=responses(*AUTH_ERRORS))
def list_sites(session: SessionDep, page: PageDep, principal: Principal = require(*ALL_ROLES)):
    items, total = service.list_sites(session, page.limit, page.offset)
    return Page[SiteOut](items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/sites/{site_id}", response_model=SiteOut, tags=["registry"], responses=responses(*AUTH_ERRORS, 404)
)
def get_site(site_id: str, session: SessionDep, principal: Principal = require(*ALL_ROLES)):
    return service.get_site(session, site_id)


@router.post(
    "/households",
    status_code=201,
    response_model=HouseholdOut,
    tags=["households"],
    responses=responses(*AUTH_ERRORS, 409, 422),
)
def create_household(
    body: HouseholdCreate, session: WriteSessionDep, principal: Principal = require("loan_officer")
):
    """A parcel code taken on the site is 409 PARCEL_TAKEN; a title number another household holds
    is 409 TITLE_TAKEN (a title belongs to one parcel)."""
    return service.create_household(session, body)


@router.get(
    "/households",
    response_model=Page[HouseholdOut],
    tags=["households"],
    responses=responses(*AUTH_ERRORS, 422),
)
def list_households(
    session: SessionDep,
    page: PageDep,
    site_id: IdQuery = None,
    q: SearchQuery = None,
    parcel_code: Annotated[str | None, Query(max_length=50, description="this parcel code only")] = None,
    idpoor_level: Annotated[int | None, Query(ge=0, le=2, description="this ID Poor level only")] = None,
    principal: Principal = require("loan_officer", "partner"),
):
    """A partner lists only the families visible to its lender, whatever it searches for."""
    items, total = service.list_households(
        session,
        principal,
        site_id,
        page.limit,
        page.offset,
        q=q,
        parcel_code=parcel_code,
        idpoor_level=idpoor_level,
    )
    return Page[HouseholdOut](items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/households/{household_id}",
    response_model=HouseholdOut,
    tags=["households"],
    responses=responses(*AUTH_ERRORS, 404),
)
def get_household(
    household_id: str, session: SessionDep, principal: Principal = require("loan_officer", "partner")
):
    return service.get_household(session, principal, household_id)


@router.patch(
    "/households/{household_id}",
    response_model=HouseholdOut,
    tags=["households"],
    responses=responses(*AUTH_ERRORS, 404, 409, 422),
)
def patch_household(
    household_id: str,
    body: HouseholdPatch,
    session: WriteSessionDep,
    principal: Principal = require("loan_officer"),
):
    """A parcel or title number another household holds is 409 (PARCEL_TAKEN, TITLE_TAKEN)."""
    return service.patch_household(session, principal, household_id, body)
