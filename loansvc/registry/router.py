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
from loansvc.web.deps import ALL_ROLES, PageDep, SessionDep, SettingsDep, require
from loansvc.web.problems import AUTH_ERRORS, responses

router = APIRouter(prefix="/v1")
IdQuery = Annotated[str | None, Query(max_length=36)]


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
    return service.create_product(session, principal, body, khr_per_usd=settings.khr_per_usd)


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
    body: HouseholdCreate, session: SessionDep, principal: Principal = require("loan_officer")
):
    return service.create_household(session, body)


@router.get(
    "/households", response_model=Page[HouseholdOut], tags=["households"], responses=responses(*AUTH_ERRORS)
)
def list_households(
    session: SessionDep,
    page: PageDep,
    site_id: IdQuery = None,
    principal: Principal = require("loan_officer", "partner"),
):
    items, total = service.list_households(session, principal, site_id, page.limit, page.offset)
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
    session: SessionDep,
    principal: Principal = require("loan_officer"),
):
    return service.patch_household(session, principal, household_id, body)
