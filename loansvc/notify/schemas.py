"""Requests and responses of reminders (rules, runs, the outbox, opt-outs) and webhooks."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from loansvc.fields import Date, DecimalStr, Note, OutModel, StrictModel

EventType = Literal[
    "loan.approved",
    "disbursement.recorded",
    "repayment.recorded",
    "repayment.reversed",
    "loan.arrears_changed",
    "restructure.approved",
    "loan.closed",
    "title.due_for_return",
]
Template = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=480)]


class RunOut(OutModel):
    as_of: date
    window_from: date | None = Field(description="the first trigger day this run handled (catch-up)")
    ran: bool = Field(description="false when another run held the lock: nothing was done")
    created: int = Field(description="messages written by this run (each installment and rule once)")
    skipped_opted_out: int
    arrears_events: int = Field(description="loan.arrears_changed events emitted")
    sent: int = Field(description="messages sent by this run (the log gateway sends at once)")
    queued: int = Field(description="messages of this run left for the delivery worker (http gateway)")
    note: str | None = None


class MessageOut(OutModel):
    id: str
    household_id: str
    loan_id: str
    lender_id: str
    installment_number: int | None
    rule: str = Field(description='"before_due:3", "past_due:7", ...')
    trigger_on: date
    due_on: date
    amount: DecimalStr
    currency: str
    language: str
    body: str
    status: str = Field(description="queued | sent | failed")
    gateway: str | None
    attempts: int
    sent_at: datetime | None
    failure_reason: str | None
    created_at: datetime


class RuleIn(StrictModel):
    kind: Literal["before_due", "past_due"]
    days: int = Field(ge=0, le=365, description="days before (before_due) or after (past_due) the due date")
    template_km: Template | None = Field(default=None, description="default: the built-in Khmer text")
    template_en: Template | None = Field(default=None, description="default: the built-in English text")
    active: bool = True


class RulesIn(StrictModel):
    rules: list[RuleIn] = Field(min_length=1, max_length=12)


class RuleOut(OutModel):
    kind: str
    days: int
    template_km: str
    template_en: str
    active: bool


class RulesOut(OutModel):
    lender_id: str
    defaults: bool = Field(description="true: the lender has set no rules; these defaults apply")
    rules: list[RuleOut]


class OptOutIn(StrictModel):
    opted_out_on: Date | None = Field(default=None, description="default: today; not in the future")
    reason: Note | None = None


class OptOutOut(OutModel):
    household_id: str
    opted_out: bool = Field(description="false: the household takes reminders")
    opted_out_on: date | None
    reason: str | None
    created_at: datetime | None


class WebhookCreate(StrictModel):
    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    events: list[EventType] = Field(min_length=1, max_length=8)
    secret: Annotated[str, StringConstraints(min_length=16, max_length=200)] = Field(
        description="the HMAC-SHA256 key of X-Loansvc-Signature (never shown back)"
    )
    lender_id: str | None = Field(
        default=None, max_length=36, description="an admin names the lender; a partner key's own lender"
    )

    @field_validator("events")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class WebhookOut(OutModel):
    id: str
    lender_id: str
    url: str
    events: list[str]
    active: bool
    created_at: datetime


class AttemptOut(OutModel):
    number: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(OutModel):
    id: str
    event_id: str
    event_type: str
    occurred_at: datetime
    status: str = Field(description="pending | delivered | failed")
    attempt_count: int
    next_attempt_at: datetime | None = Field(description="while pending")
    delivered_at: datetime | None
    last_error: str | None
    attempts: list[AttemptOut]
