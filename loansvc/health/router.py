"""GET /health: the only endpoint without a key. It answers within a second, whatever the load:
200 `ok`; 200 `degraded` while every pooled connection is in use (requests past the pool timeout
get 503 with Retry-After); 503 when the database does not answer."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from loansvc.health.service import database_answers, pool_state

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str = Field(description="ok | degraded")
    database: str = Field(description="ok | unavailable")
    pool: str = Field(default="ok", description="ok | exhausted (every connection of this worker in use)")
    connections_in_use: int = Field(default=0, description="of this worker's pool")


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(request: Request):
    engine = request.app.state.db.engine
    pool = pool_state(engine)
    answers = await database_answers(engine)
    body = Health(
        status="ok" if answers and not pool.exhausted else "degraded",
        database="ok" if answers else "unavailable",
        pool="exhausted" if pool.exhausted else "ok",
        connections_in_use=pool.in_use,
    )
    if not answers:
        return JSONResponse(body.model_dump(), status_code=503)
    return body
