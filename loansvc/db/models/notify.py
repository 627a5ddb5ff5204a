"""Messages to households and events to partners' systems (issue 15).

* `event_outbox`: every event, written in the transaction of the change it describes, so a change
  that rolled back leaves no event; the delivery worker fans each one out to the webhooks.
* `webhooks`, `webhook_deliveries` (one per webhook and event, unique) and their attempts.
* `reminder_rules` (per lender; none stored means the defaults), `reminder_messages` (the outbox of
  messages, unique per installment or loan, rule and trigger day), `household_reminder_opt_outs`,
  `reminder_runs` (what each run handled, for the catch-up), `loan_arrears_marks` (the last
  days-past-due threshold emitted per loan).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from loansvc.db.base import Base, IdMixin, Money, TimestampMixin, UTCDateTime
from loansvc.db.models.enums import one_of

EVENT_TYPES = (
    "loan.approved",
    "disbursement.recorded",
    "repayment.recorded",
    "repayment.reversed",
    "loan.arrears_changed",
    "restructure.approved",
    "loan.closed",
    "title.due_for_return",
)
DELIVERY_STATUSES = ("pending", "delivered", "failed")
MESSAGE_STATUSES = ("queued", "sent", "failed")
RULE_KINDS = ("before_due", "past_due")


class EventOutbox(IdMixin, TimestampMixin, Base):
    """One event; `dispatched_at` is set once it has been fanned out to the webhooks."""

    __tablename__ = "event_outbox"
    __table_args__ = (
        Index("ix_event_outbox_dispatch", "dispatched_at", "created_at"),
        Index("ix_event_outbox_lender", "lender_id", "created_at"),
    )

    type: Mapped[str] = mapped_column(String(50))
    lender_id: Mapped[str] = mapped_column(ForeignKey("lenders.id"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict] = mapped_column(JSON)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Webhook(IdMixin, TimestampMixin, Base):
    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_lender", "lender_id", "active"),)

    lender_id: Mapped[str] = mapped_column(ForeignKey("lenders.id"))
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON)
    # kept as given: the HMAC needs it (never shown back)
    secret: Mapped[str] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_key_id: Mapped[str | None] = mapped_column(String(36))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookDelivery(IdMixin, TimestampMixin, Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_webhook_event"),
        one_of("status", DELIVERY_STATUSES, "status_valid"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id"))
    event_id: Mapped[str] = mapped_column(ForeignKey("event_outbox.id"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # also the lease: a worker that takes a delivery moves it forward before it sends
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))


class WebhookAttempt(IdMixin, Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "number"),)

    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id"))
    number: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


class ReminderRule(IdMixin, TimestampMixin, Base):
    """A lender's rule: `days` before a due date (before_due) or after it (past_due)."""

    __tablename__ = "reminder_rules"
    __table_args__ = (
        UniqueConstraint("lender_id", "kind", "days", name="uq_reminder_rules_lender_kind_days"),
        one_of("kind", RULE_KINDS, "kind_valid"),
    )

    lender_id: Mapped[str] = mapped_column(ForeignKey("lenders.id"))
    kind: Mapped[str] = mapped_column(String(20))
    days: Mapped[int] = mapped_column(Integer)
    template_km: Mapped[str] = mapped_column(Text)
    template_en: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ReminderMessage(IdMixin, TimestampMixin, Base):
    """One message. `subject` names what it is about (an installment, or the loan for past-due
    notices) and `rule_key` the rule ("before_due:3"); with the trigger day they are unique, so
    however many runs overlap, an installment and rule give one message."""

    __tablename__ = "reminder_messages"
    __table_args__ = (
        UniqueConstraint("subject", "rule_key", "trigger_on", name="uq_reminder_messages_subject"),
        one_of("status", MESSAGE_STATUSES, "status_valid"),
        Index("ix_reminder_messages_status", "status", "next_attempt_at"),
        Index("ix_reminder_messages_household", "household_id", "created_at"),
    )

    subject: Mapped[str] = mapped_column(String(80))
    rule_key: Mapped[str] = mapped_column(String(40))
    trigger_on: Mapped[date] = mapped_column(Date)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"))
    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"))
    lender_id: Mapped[str] = mapped_column(ForeignKey("lenders.id"))
    installment_number: Mapped[int | None] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    language: Mapped[str] = mapped_column(String(5))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    gateway: Mapped[str | None] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failure_reason: Mapped[str | None] = mapped_column(String(500))


class ReminderRun(IdMixin, TimestampMixin, Base):
    """One run that wrote messages for the trigger days `window_from`..`as_of`; the next run
    catches up from the day after the latest `as_of` before its own."""

    __tablename__ = "reminder_runs"
    __table_args__ = (Index("ix_reminder_runs_as_of", "as_of"),)

    as_of: Mapped[date] = mapped_column(Date)
    window_from: Mapped[date] = mapped_column(Date)
    created_messages: Mapped[int] = mapped_column(Integer, default=0)
    arrears_events: Mapped[int] = mapped_column(Integer, default=0)
    ran_by: Mapped[str] = mapped_column(String(100))


class HouseholdReminderOptOut(TimestampMixin, Base):
    __tablename__ = "household_reminder_opt_outs"

    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"), primary_key=True)
    opted_out_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(String(500))


class LoanArrearsMark(Base):
    """The last days-past-due threshold (0, 1, 30, 90) a loan.arrears_changed event reported."""

    __tablename__ = "loan_arrears_marks"

    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), primary_key=True)
    threshold: Mapped[int] = mapped_column(Integer, default=0)
    days_past_due: Mapped[int] = mapped_column(Integer, default=0)
    changed_on: Mapped[date] = mapped_column(Date)
