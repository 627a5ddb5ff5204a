"""HTTP for housing models: POST/GET /v1/housing-models, GET /v1/housing-models/{code}."""

from __future__ import annotations

from fastapi import APIRouter

from loansvc.affordability import housing
from loansvc.affordability.schemas import HousingModelCreate, HousingModelOut
from loansvc.auth.principal import Principal
from loansvc.fields import Page
from loansvc.web.deps import ALL_ROLES, SessionDep, require
from loansvc.web.problems import AUTH_ERRORS, responses

router = APIRouter(prefix="/v1/housing-models", tags=["housing models"])


@router.post("", status_code=201, response_model=HousingModelOut, responses=responses(*AUTH_ERRORS, 409, 422))
def create_housing_model(
    body: HousingModelCreate, session: SessionDep, principal: Principal = require("loan_officer")
):
    """A house design: stages, each with a bill of materials from the catalog and a labour cost."""
    return housing.costed(session, housing.create(session, principal, body))


@router.get("", response_model=Page[HousingModelOut], responses=responses(*AUTH_ERRORS))
def list_housing_models(session: SessionDep, principal: Principal = require(*ALL_ROLES)):
    models = [housing.costed(session, m) for m in housing.list_all(session)]
    return Page[HousingModelOut](items=models, total=len(models), limit=len(models), offset=0)


@router.get("/{code}", response_model=HousingModelOut, responses=responses(*AUTH_ERRORS, 404))
def get_housing_model(code: str, session: SessionDep, principal: Principal = require(*ALL_ROLES)):
    """The model with its cost per stage and in total, at the catalog's current unit costs."""
    return housing.costed(session, housing.get(session, code))
