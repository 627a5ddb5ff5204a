"""The queries of reminders and webhooks: rules, the outbox of messages, opt-outs, runs, arrears
marks, webhooks, their deliveries and attempts, and the event outbox.

Writes that two workers (or two runs) could make at once are race-safe in the database itself:
`insert_or_ignore` relies on a unique constraint (ON CONFLICT DO NOTHING on both engines), a claim
is an UPDATE guarded by the row's state, and a nightly run takes a transaction-scoped advisory lock
on PostgreSQL (SQLite's write transactions queue anyway: BEGIN IMMEDIATE).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from loansvc.db.models import (
    EventOutbox,
    Household,
    HouseholdReminderOptOut,
    Lender,
    Loan,
    LoanArrearsMark,
    ReminderMessage,
    ReminderRule,
    ReminderRun,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from loansvc.db.query import for_lender

# pg_try_advisory_xact_lock keys (any fixed 64-bit numbers, one per job)
REMINDER_RUN_LOCK = 0x15_0001
CHUNK = 500


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def try_job_lock(session: Session, key: int) -> bool:
    """PostgreSQL: this transaction holds the job's advisory lock (False: another run has it).
    SQLite: always True, the write transaction (BEGIN IMMEDIATE) already excludes other writers."""
    if dialect(session) != "postgresql":
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}))


def insert_or_ignore(
    session: Session, model, rows: Sequence[dict[str, Any]], conflict: Sequence[str]
) -> list[str]:
    """Insert `rows`, skipping each that a unique constraint over `conflict` already holds (written
    by this or a concurrent transaction); the ids of the rows inserted."""
    inserted: list[str] = []
    build = postgresql.insert if dialect(session) == "postgresql" else sqlite.insert
    for start in range(0, len(rows), CHUNK):
        chunk = list(rows[start : start + CHUNK])
        statement = build(model).values(chunk).on_conflict_do_nothing(index_elements=list(conflict))
        inserted += session.scalars(statement.returning(model.id)).all()
    return inserted


# --- reminders ---------------------------------------------------------------------------------


def rules_of(session: Session, lender_ids: Iterable[str]) -> dict[str, list[ReminderRule]]:
    ids = sorted(set(lender_ids))
    out: dict[str, list[ReminderRule]] = defaultdict(list)
    if ids:
        query = select(ReminderRule).where(ReminderRule.lender_id.in_(ids))
        for rule in session.scalars(query.order_by(ReminderRule.kind, ReminderRule.days)):
            out[rule.lender_id].append(rule)
    return out


def delete_rules(session: Session, lender_id: str) -> None:
    for rule in session.scalars(select(ReminderRule).where(ReminderRule.lender_id == lender_id)):
        session.delete(rule)
    session.flush()


def active_loans(session: Session) -> list[Loan]:
    return list(session.scalars(select(Loan).where(Loan.status == "active").order_by(Loan.id)))


def households(session: Session, ids: Iterable[str]) -> dict[str, Household]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return {h.id: h for h in session.scalars(select(Household).where(Household.id.in_(ids)))}


def lender_names(session: Session, ids: Iterable[str]) -> dict[str, str]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return {
        row[0]: row[1] for row in session.execute(select(Lender.id, Lender.name).where(Lender.id.in_(ids)))
    }


def opt_outs(session: Session, household_ids: Iterable[str]) -> dict[str, date]:
    ids = sorted(set(household_ids))
    if not ids:
        return {}
    query = select(HouseholdReminderOptOut.household_id, HouseholdReminderOptOut.opted_out_on).where(
        HouseholdReminderOptOut.household_id.in_(ids)
    )
    return {row[0]: row[1] for row in session.execute(query)}


def last_run_before(session: Session, as_of: date) -> date | None:
    return session.scalar(select(func.max(ReminderRun.as_of)).where(ReminderRun.as_of < as_of))


def arrears_marks(session: Session, loan_ids: Sequence[str]) -> dict[str, LoanArrearsMark]:
    if not loan_ids:
        return {}
    out = {}
    for start in range(0, len(loan_ids), CHUNK):
        query = select(LoanArrearsMark).where(LoanArrearsMark.loan_id.in_(loan_ids[start : start + CHUNK]))
        out |= {mark.loan_id: mark for mark in session.scalars(query)}
    return out


def messages_by_ids(session: Session, ids: Sequence[str]) -> list[ReminderMessage]:
    if not ids:
        return []
    query = select(ReminderMessage).where(ReminderMessage.id.in_(ids)).order_by(ReminderMessage.created_at)
    return list(session.scalars(query))


def messages_query(
    *, lender_id: str | None, status: str | None = None, household_id: str | None = None
) -> Select:
    query = for_lender(select(ReminderMessage), ReminderMessage.lender_id, lender_id)
    if status is not None:
        query = query.where(ReminderMessage.status == status)
    if household_id is not None:
        query = query.where(ReminderMessage.household_id == household_id)
    return query.order_by(
        ReminderMessage.trigger_on.desc(), ReminderMessage.created_at.desc(), ReminderMessage.id
    )


def due_message_ids(session: Session, now: datetime, limit: int) -> list[str]:
    query = (
        select(ReminderMessage.id)
        .where(ReminderMessage.status == "queued", ReminderMessage.next_attempt_at <= now)
        .order_by(ReminderMessage.next_attempt_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def claim_message(session: Session, message_id: str, now: datetime, until: datetime) -> bool:
    """Take a queued message due by `now` for one sender: it is not due again before `until`."""
    statement = (
        update(ReminderMessage)
        .where(
            ReminderMessage.id == message_id,
            ReminderMessage.status == "queued",
            ReminderMessage.next_attempt_at <= now,
        )
        .values(next_attempt_at=until)
    )
    return session.execute(statement).rowcount == 1


# --- webhooks and events -----------------------------------------------------------------------


def webhooks_query(lender_id: str | None) -> Select:
    query = select(Webhook).where(Webhook.deleted_at.is_(None))
    return for_lender(query, Webhook.lender_id, lender_id).order_by(Webhook.created_at, Webhook.id)


def webhook(session: Session, webhook_id: str, lender_id: str | None) -> Webhook | None:
    query = for_lender(select(Webhook).where(Webhook.id == webhook_id), Webhook.lender_id, lender_id)
    return session.scalars(query).first()


def has_undispatched(session: Session) -> bool:
    query = select(EventOutbox.id).where(EventOutbox.dispatched_at.is_(None)).limit(1)
    return session.scalar(query) is not None


def events_to_dispatch(session: Session, limit: int) -> list[EventOutbox]:
    query = select(EventOutbox).where(EventOutbox.dispatched_at.is_(None)).order_by(EventOutbox.created_at)
    query = query.limit(limit)
    if dialect(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def active_webhooks(session: Session, lender_ids: Iterable[str]) -> dict[str, list[Webhook]]:
    ids = sorted(set(lender_ids))
    out: dict[str, list[Webhook]] = defaultdict(list)
    if ids:
        query = select(Webhook).where(Webhook.lender_id.in_(ids), Webhook.active.is_(True))
        for hook in session.scalars(query):
            out[hook.lender_id].append(hook)
    return out


def due_delivery_ids(session: Session, now: datetime, limit: int) -> list[str]:
    query = (
        select(WebhookDelivery.id)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            Webhook.active.is_(True),
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def claim_delivery(session: Session, delivery_id: str, now: datetime, until: datetime) -> bool:
    """Take a pending delivery due by `now` for one sender: it is not due again before `until`
    (if the sender dies, another sends it then: at least once)."""
    statement = (
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
        )
        .values(next_attempt_at=until)
    )
    return session.execute(statement).rowcount == 1


def deliveries_query(webhook_id: str, status: str | None = None) -> Select:
    query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    return query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)


def events_by_ids(session: Session, ids: Iterable[str]) -> dict[str, EventOutbox]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return {e.id: e for e in session.scalars(select(EventOutbox).where(EventOutbox.id.in_(ids)))}


def attempts_of(session: Session, delivery_ids: Sequence[str]) -> dict[str, list[WebhookAttempt]]:
    out: dict[str, list[WebhookAttempt]] = {d: [] for d in delivery_ids}
    if delivery_ids:
        query = select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(delivery_ids))
        for attempt in session.scalars(query.order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)):
            out[attempt.delivery_id].append(attempt)
    return out
