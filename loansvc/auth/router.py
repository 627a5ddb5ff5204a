"""HTTP: admins onboard partners without shell access (POST/GET /v1/api-keys, DELETE by name)."""

from __future__ import annotations

from fastapi import APIRouter

from loansvc.auth import service
from loansvc.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from loansvc.fields import Page
from loansvc.web.deps import Principal, SessionDep, require
from loansvc.web.problems import AUTH_ERRORS, responses

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])


@router.post("", status_code=201, response_model=ApiKeyCreated, responses=responses(*AUTH_ERRORS, 409, 422))
def create_api_key(body: ApiKeyCreate, session: SessionDep, principal: Principal = require("admin")):
    issued = service.create_key(
        session, name=body.name, role=body.role, lender_id=body.lender_id, created_by=principal.name
    )
    return ApiKeyCreated(**ApiKeyOut.model_validate(issued.record).model_dump(), key=issued.key)


@router.get("", response_model=Page[ApiKeyOut], responses=responses(*AUTH_ERRORS))
def list_api_keys(session: SessionDep, principal: Principal = require("admin")):
    keys = service.list_keys(session)
    return Page[ApiKeyOut](items=keys, total=len(keys), limit=len(keys), offset=0)


@router.delete("/{name}", response_model=ApiKeyOut, responses=responses(*AUTH_ERRORS, 404, 409))
def revoke_api_key(name: str, session: SessionDep, principal: Principal = require("admin")):
    """Revoke a key at once. The last active admin key cannot be revoked: 409 LAST_ADMIN_KEY."""
    return service.revoke_key(session, name)
