"""Delivering events to partners' webhooks, at least once.

1. Dispatch: each event of the outbox not yet dispatched gets one delivery per active webhook of
   its lender that subscribed to its type and was registered before the event was written
   (unique per webhook and event, insert-or-ignore), and is marked dispatched.
2. Send: a delivery that is due is claimed (its next attempt moved past the request's timeout),
   POSTed outside any transaction, and its attempt recorded. A 2xx delivers it; anything else is
   retried after `webhooks_retry_seconds`, doubling up to `webhooks_retry_max_seconds`, until
   `webhooks_max_attempts`, then it is `failed`. A sender that dies between the POST and the
   record leaves the claim to expire, and the event is sent again: receivers de-duplicate by
   `X-Loansvc-Event-Id`.

The body is {"id", "type", "occurred_at", "lender_id", "data"} (compact JSON, UTF-8), signed with
the webhook's secret: `X-Loansvc-Signature: sha256=<hex HMAC-SHA256 of the raw body>`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta

from sqlalchemy.orm import Session

from loansvc.config import Settings
from loansvc.db.base import new_id, utcnow
from loansvc.db.models import EventOutbox, Webhook, WebhookAttempt, WebhookDelivery
from loansvc.domain.errors import InvalidInput
from loansvc.notify import http, repository
from loansvc.notify.addresses import check_url

log = logging.getLogger("loansvc.webhooks")

Transaction = Callable[[], AbstractContextManager[Session]]


def body_of(event: EventOutbox) -> bytes:
    payload = {
        "id": event.id,
        "type": event.type,
        "occurred_at": event.occurred_at.isoformat(),
        "lender_id": event.lender_id,
        "data": event.data,
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def dispatch(session: Session, *, limit: int = 500) -> int:
    """Fan the undispatched events out to their webhooks; the number of deliveries created."""
    events = repository.events_to_dispatch(session, limit)
    if not events:
        return 0
    hooks = repository.active_webhooks(session, (e.lender_id for e in events))
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "created_at": now,
            "webhook_id": hook.id,
            "event_id": event.id,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
        }
        for event in events
        for hook in hooks.get(event.lender_id, [])
        if event.type in hook.events and event.created_at >= hook.created_at
    ]
    created = repository.insert_or_ignore(session, WebhookDelivery, rows, ("webhook_id", "event_id"))
    for event in events:
        event.dispatched_at = now
    session.flush()
    return len(created)


def retry_delay(settings: Settings, attempts: int) -> timedelta:
    seconds = settings.webhooks_retry_seconds * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.webhooks_retry_max_seconds))


def _send(settings: Settings, hook: Webhook, event: EventOutbox, number: int) -> http.Answer:
    try:
        check_url(hook.url, allow_private=settings.webhooks_allow_private)
    except InvalidInput as refused:
        return http.Answer(None, refused.message, 0)
    body = body_of(event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "loansvc-webhooks",
        "X-Loansvc-Event-Id": event.id,
        "X-Loansvc-Event-Type": event.type,
        "X-Loansvc-Delivery-Attempt": str(number),
        "X-Loansvc-Signature": signature(hook.secret, body),
    }
    return http.post(hook.url, body, headers, settings.webhooks_timeout_seconds)


def deliver_due(
    transaction: Transaction, settings: Settings, *, limit: int = 100, read: Transaction | None = None
) -> dict[str, int]:
    """One pass: dispatch new events, then send every delivery that is due. `read`: transactions
    that only look (nothing is locked while there is nothing to do)."""
    counts = {"dispatched": 0, "delivered": 0, "retrying": 0, "failed": 0}
    read = read or transaction
    with read() as session:
        waiting = repository.has_undispatched(session)
    if waiting:
        with transaction() as session:
            counts["dispatched"] = dispatch(session)
    now = utcnow()
    with read() as session:
        ids = repository.due_delivery_ids(session, now, limit)
    lease = timedelta(seconds=settings.webhooks_timeout_seconds + 30)
    for delivery_id in ids:
        with transaction() as session:
            if not repository.claim_delivery(session, delivery_id, now, utcnow() + lease):
                continue  # another sender took it
            delivery = session.get(WebhookDelivery, delivery_id)
            hook = session.get(Webhook, delivery.webhook_id)
            event = session.get(EventOutbox, delivery.event_id)
            number = delivery.attempts + 1
        attempted_at = utcnow()
        answer = _send(settings, hook, event, number)
        with transaction() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            counts[_record(session, settings, delivery, number, attempted_at, answer)] += 1
    return counts


def _record(session: Session, settings: Settings, delivery: WebhookDelivery, number: int, at, answer) -> str:
    session.add(
        WebhookAttempt(
            id=new_id(),
            delivery_id=delivery.id,
            number=number,
            attempted_at=at,
            status_code=answer.status,
            error=None if answer.ok else (answer.error or f"HTTP {answer.status}")[:500],
            duration_ms=answer.duration_ms,
        )
    )
    delivery.attempts = number
    if answer.ok:
        delivery.status, delivery.delivered_at, delivery.last_error = "delivered", utcnow(), None
        return "delivered"
    delivery.last_error = (answer.error or f"HTTP {answer.status}")[:500]
    if number >= settings.webhooks_max_attempts:
        delivery.status = "failed"
        log.warning("webhook delivery %s failed after %s attempts", delivery.id, number)
        return "failed"
    delivery.next_attempt_at = utcnow() + retry_delay(settings, number)
    return "retrying"
