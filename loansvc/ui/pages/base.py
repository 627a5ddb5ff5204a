"""What every page module shares: its router (outside the OpenAPI document, CSRF on every POST)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from loansvc.ui.web import check_csrf


def page_router() -> APIRouter:
    return APIRouter(prefix="/ui", include_in_schema=False, dependencies=[Depends(check_csrf)])
