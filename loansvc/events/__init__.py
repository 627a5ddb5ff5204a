"""Events for partners' systems: `emit` writes one to the outbox in the caller's transaction.

Nothing is sent here: the row commits or rolls back with the change it describes, so a change that
rolled back leaves no event, and the delivery worker (loansvc.notify.webhooks) sends what committed.
`data` holds JSON-ready values; a Decimal, date or datetime left in it is written as its string.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from loansvc.db.base import new_id, utcnow
from loansvc.db.models.notify import EVENT_TYPES, EventOutbox

__all__ = ["EVENT_TYPES", "emit"]


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def emit(
    session: Session,
    type: str,
    lender_id: str,
    data: dict[str, Any],
    occurred_at: datetime | None = None,
) -> str:
    """Add an event to the outbox in `session`'s transaction; returns its id."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    event = EventOutbox(
        id=new_id(),
        type=type,
        lender_id=lender_id,
        occurred_at=occurred_at or utcnow(),
        data=_json_ready(data),
        created_at=utcnow(),
    )
    session.add(event)
    return event.id
