"""Sending reminder messages through a gateway, with retries and a status per message.

* `log` (the default): the message is marked sent and one line is logged with its id, loan, rule
  and language, never the household's phone number or name.
* `http`: POSTs {"id", "to", "language", "text", "household_id", "loan_id"} as JSON to
  `reminders_http_url` (an SMS provider's adapter), with `Authorization: Bearer` when a token is
  set. A 2xx sends it; a 4xx other than 408 and 429 fails it at once (the adapter refused it); any
  other outcome is retried after `reminders_retry_seconds`, doubling, until
  `reminders_max_attempts`, then it fails with the last reason.

Statuses: queued -> sent | failed (with `failure_reason`). Each message is taken by one sender at a
time (a claim moves its next attempt forward first), in short transactions: nothing is held open
while a gateway answers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from loansvc.config import Settings
from loansvc.db.base import utcnow
from loansvc.db.models import Household, HouseholdReminderOptOut, ReminderMessage
from loansvc.notify import http, repository

log = logging.getLogger("loansvc.reminders")

Transaction = Callable[[], AbstractContextManager[Session]]


def log_sent(message: ReminderMessage) -> None:
    log.info(
        "reminder %s sent via log gateway: loan=%s installment=%s rule=%s language=%s",
        message.id,
        message.loan_id,
        message.installment_number,
        message.rule_key,
        message.language,
    )


def send_with_log(session: Session, messages: list[ReminderMessage], now: datetime) -> int:
    """The log gateway, in the caller's transaction (it talks to nobody)."""
    sent = 0
    for message in messages:
        if message.status != "queued":
            continue
        message.status, message.gateway, message.sent_at = "sent", "log", now
        message.attempts += 1
        message.next_attempt_at = None
        log_sent(message)
        sent += 1
    session.flush()
    return sent


def _retry_delay(settings: Settings, attempts: int) -> timedelta:
    return timedelta(seconds=settings.reminders_retry_seconds * 2 ** max(attempts - 1, 0))


def _http_send(settings: Settings, message: ReminderMessage, phone: str) -> http.Answer:
    body = json.dumps(
        {
            "id": message.id,
            "to": phone,
            "language": message.language,
            "text": message.body,
            "household_id": message.household_id,
            "loan_id": message.loan_id,
        },
        ensure_ascii=False,
    ).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "loansvc-reminders"}
    if settings.reminders_http_token:
        headers["Authorization"] = f"Bearer {settings.reminders_http_token}"
    return http.post(
        settings.reminders_http_url or "", body, headers, settings.reminders_http_timeout_seconds
    )


def _permanent(answer: http.Answer) -> bool:
    return answer.status is not None and 400 <= answer.status < 500 and answer.status not in (408, 429)


def deliver_due(
    transaction: Transaction, settings: Settings, *, limit: int = 200, read: Transaction | None = None
) -> dict[str, int]:
    """Send the queued messages whose next attempt is due, each in its own short transactions."""
    counts = {"sent": 0, "failed": 0, "retrying": 0}
    now = utcnow()
    with (read or transaction)() as session:
        ids = repository.due_message_ids(session, now, limit)
    lease = timedelta(seconds=settings.reminders_http_timeout_seconds + 30)
    for message_id in ids:
        with transaction() as session:
            if not repository.claim_message(session, message_id, now, utcnow() + lease):
                continue  # another sender took it
            message = session.get(ReminderMessage, message_id)
            household = session.get(Household, message.household_id)
            phone = household.phone
            opted_out = session.get(HouseholdReminderOptOut, message.household_id) is not None
        outcome = _attempt(settings, message, phone, opted_out)
        with transaction() as session:
            message = session.get(ReminderMessage, message_id)
            counts[_record(settings, message, *outcome)] += 1
    return counts


def _attempt(settings: Settings, message, phone: str | None, opted_out: bool) -> tuple[str, str | None]:
    """("sent" | "failed" | "retry", reason)."""
    if opted_out:
        return "failed", "the household opted out of reminders"
    if settings.reminders_gateway == "log":
        return "sent", None
    if not settings.reminders_http_url:
        return "failed", "no reminders_http_url configured for the http gateway"
    if not phone:
        return "failed", "no phone number on file"
    answer = _http_send(settings, message, phone)
    if answer.ok:
        return "sent", None
    reason = answer.error or f"HTTP {answer.status}"
    return ("failed", f"gateway refused it: {reason}") if _permanent(answer) else ("retry", reason)


def _record(settings: Settings, message: ReminderMessage, outcome: str, reason: str | None) -> str:
    now = utcnow()
    message.attempts += 1
    message.gateway = settings.reminders_gateway
    if outcome == "sent":
        message.status, message.sent_at, message.next_attempt_at = "sent", now, None
        message.failure_reason = None
        if settings.reminders_gateway == "log":
            log_sent(message)
        return "sent"
    if outcome == "retry" and message.attempts < settings.reminders_max_attempts:
        message.failure_reason = reason
        message.next_attempt_at = now + _retry_delay(settings, message.attempts)
        return "retrying"
    message.status, message.next_attempt_at = "failed", None
    message.failure_reason = (
        reason if outcome == "failed" else f"gave up after {message.attempts} attempts: {reason}"
    )
    log.warning("reminder %s failed: %s", message.id, message.failure_reason)
    return "failed"
