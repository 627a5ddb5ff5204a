"""GET /health: the only endpoint without a key; it checks the database answers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from loansvc.health.service import database_answers

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: str


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(request: Request):
    if not database_answers(request.app.state.db.engine):
        return JSONResponse({"status": "degraded", "database": "unavailable"}, status_code=503)
    return Health(status="ok", database="ok")
