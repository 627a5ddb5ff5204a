"""Idempotency-Key handling for money- and stock-moving POSTs.

The first request with a key records itself before doing any work, in the same transaction as the
work. A concurrent retry blocks on the unique key until the first commits, then replays its
response; a retry after the fact replays at once. The same key with another body is 409.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loansvc.auth.principal import Principal
from loansvc.db.base import utcnow
from loansvc.db.models import IdempotencyRecord
from loansvc.domain.errors import Conflict, InvalidInput

HEADER = "Idempotency-Key"
# the optional request header, as every money- or stock-moving endpoint declares it
IdempotencyKey = Annotated[str | None, Header(alias=HEADER, max_length=200)]
KEEP_DAYS = 30


def _canonical(value: Any) -> Any:
    """Equal amounts hash alike: "1000" and "1000.00" are the same request."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value


def _request_hash(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(jsonable_encoder(_canonical(body)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def _find(session: Session, principal: Principal, key: str) -> IdempotencyRecord | None:
    query = select(IdempotencyRecord).where(
        IdempotencyRecord.key_id == principal.key_id, IdempotencyRecord.idempotency_key == key
    )
    return session.scalars(query).first()


def _replay(record: IdempotencyRecord, request_hash: str) -> JSONResponse:
    if record.request_hash != request_hash:
        raise Conflict(
            "this Idempotency-Key was already used with a different request",
            code="IDEMPOTENCY_KEY_REUSED",
        )
    return JSONResponse(
        record.response_body, status_code=record.status_code, headers={"Idempotent-Replayed": "true"}
    )


def run(
    session: Session,
    principal: Principal,
    request: Request,
    key: str | None,
    body: BaseModel | dict | None,
    action: Callable[[], tuple[int, Any]],
) -> JSONResponse:
    """Run `action` (returning status and a response model) at most once per Idempotency-Key."""
    if key is None:
        status, payload = action()
        return JSONResponse(jsonable_encoder(payload), status_code=status)
    if not 1 <= len(key) <= 200:
        raise InvalidInput("Idempotency-Key must have 1 to 200 characters", code="BAD_IDEMPOTENCY_KEY")
    raw = body.model_dump(mode="python") if isinstance(body, BaseModel) else body
    digest = _request_hash(request.method, request.url.path, raw)
    existing = _find(session, principal, key)
    if existing is not None:
        return _replay(existing, digest)
    record = IdempotencyRecord(
        key_id=principal.key_id,
        idempotency_key=key,
        method=request.method,
        path=request.url.path[:300],
        request_hash=digest,
        status_code=0,
        response_body=None,
    )
    try:
        with session.begin_nested():
            session.add(record)
            session.flush()
    except IntegrityError:
        # a concurrent request with the same key committed first: replay what it answered
        existing = _find(session, principal, key)
        if existing is None:  # pragma: no cover - the unique key guarantees a committed row
            raise
        return _replay(existing, digest)
    status, payload = action()
    encoded = jsonable_encoder(payload)
    record.status_code = status
    record.response_body = encoded
    session.flush()
    return JSONResponse(encoded, status_code=status)


def purge_expired(session: Session, days: int = KEEP_DAYS) -> int:
    """Forget keys older than `days` (at least 30): kept for a month, as partners retry within days."""
    cutoff = utcnow() - timedelta(days=max(days, KEEP_DAYS))
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return result.rowcount or 0
