"""HTTP for reminders (runs, the outbox, rules per lender, opt-outs) and partners' webhooks."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from loansvc.auth.principal import Principal
from loansvc.fields import Date, Page
from loansvc.notify import service
from loansvc.notify.schemas import (
    DeliveryOut,
    MessageOut,
    OptOutIn,
    OptOutOut,
    RulesIn,
    RulesOut,
    RunOut,
    WebhookCreate,
    WebhookOut,
)
from loansvc.web.deps import ALL_ROLES, PageDep, SessionDep, SettingsDep, TodayDep, require
from loansvc.web.problems import AUTH_ERRORS, responses

router = APIRouter(prefix="/v1")

MessageStatus = Literal["queued", "sent", "failed"]
DeliveryStatus = Literal["pending", "delivered", "failed"]


@router.post(
    "/reminders/run", response_model=RunOut, tags=["reminders"], responses=responses(*AUTH_ERRORS, 422)
)
def run_reminders(
    session: SessionDep,
    today: TodayDep,
    settings: SettingsDep,
    as_of: Annotated[Date | None, Query(description="default: today; never in the future")] = None,
    principal: Principal = require(),
):
    """Writes the reminders and arrears notices of every trigger day up to `as_of` that no run
    has handled yet (catching up missed days), each installment and rule once however often or
    concurrently this runs, and emits `loan.arrears_changed` for loans whose days past due crossed
    1, 30 or 90. With the `log` gateway the messages are sent at once; with `http` the delivery
    worker sends them. `loansvc reminders run` does the same for cron."""
    return service.run_reminders(session, as_of, today, settings, ran_by=principal.name)


@router.get(
    "/reminders/outbox",
    response_model=Page[MessageOut],
    tags=["reminders"],
    responses=responses(*AUTH_ERRORS),
)
def reminders_outbox(
    session: SessionDep,
    page: PageDep,
    status: Annotated[MessageStatus | None, Query()] = None,
    principal: Principal = require("loan_officer", "partner"),
):
    """The messages written, newest trigger day first (a partner: its own lender's)."""
    return service.outbox(session, principal, status, page.limit, page.offset)


@router.get(
    "/households/{household_id}/messages",
    response_model=Page[MessageOut],
    tags=["households"],
    responses=responses(*AUTH_ERRORS, 404),
)
def household_messages(
    household_id: str,
    session: SessionDep,
    page: PageDep,
    principal: Principal = require("loan_officer", "partner"),
):
    """The reminders and notices written for the household (a partner: about its own loans)."""
    return service.household_messages(session, principal, household_id, page.limit, page.offset)


@router.get(
    "/lenders/{lender_id}/reminder-rules",
    response_model=RulesOut,
    tags=["reminders"],
    responses=responses(*AUTH_ERRORS, 404),
)
def get_reminder_rules(lender_id: str, session: SessionDep, principal: Principal = require(*ALL_ROLES)):
    """The lender's rules; until it sets its own, the defaults: 3 days before a due date, and 1, 7
    and 30 days after it. Templates name {amount}, {due_date}, {days} and {lender}."""
    return service.get_rules(session, principal, lender_id)


@router.put(
    "/lenders/{lender_id}/reminder-rules",
    response_model=RulesOut,
    tags=["reminders"],
    responses=responses(*AUTH_ERRORS, 404, 422),
)
def put_reminder_rules(
    lender_id: str, body: RulesIn, session: SessionDep, principal: Principal = require("partner")
):
    """Replaces the lender's rules (an admin, or the lender's own partner key). A template left out
    is the built-in text; a template naming anything but {amount}, {due_date}, {days} or {lender}
    is 422 TEMPLATE_INVALID. To stop a rule, send it with `active: false`."""
    return service.put_rules(session, principal, lender_id, body)


@router.get(
    "/households/{household_id}/reminders-opt-out",
    response_model=OptOutOut,
    tags=["households"],
    responses=responses(*AUTH_ERRORS, 404),
)
def get_opt_out(
    household_id: str, session: SessionDep, principal: Principal = require("loan_officer", "partner")
):
    """Whether the household opted out of reminders, since when and why."""
    return service.get_opt_out(session, principal, household_id)


@router.post(
    "/households/{household_id}/reminders-opt-out",
    status_code=201,
    response_model=OptOutOut,
    tags=["households"],
    responses=responses(*AUTH_ERRORS, 404, 409, 422),
)
def opt_out(
    household_id: str,
    body: OptOutIn,
    session: SessionDep,
    today: TodayDep,
    principal: Principal = require("loan_officer", "partner"),
):
    """The household asks for no more reminders, from `opted_out_on` (default today): no message
    is written for a trigger day from then, and queued ones are not sent."""
    return service.opt_out(session, principal, household_id, body, today)


@router.delete(
    "/households/{household_id}/reminders-opt-out",
    status_code=204,
    tags=["households"],
    responses=responses(*AUTH_ERRORS, 404),
)
def opt_in(
    household_id: str,
    session: SessionDep,
    today: TodayDep,
    principal: Principal = require("loan_officer", "partner"),
):
    """The household takes reminders again (both steps stay in the audit log)."""
    service.opt_in(session, principal, household_id, today)
    return Response(status_code=204)


@router.post(
    "/webhooks",
    status_code=201,
    response_model=WebhookOut,
    tags=["webhooks"],
    responses=responses(*AUTH_ERRORS, 422),
)
def register_webhook(
    body: WebhookCreate, session: SessionDep, settings: SettingsDep, principal: Principal = require("partner")
):
    """A partner's endpoint for its own lender's events written from now on: `loan.approved`,
    `disbursement.recorded`, `repayment.recorded`, `repayment.reversed`, `loan.arrears_changed`,
    `restructure.approved`, `loan.closed`, `title.due_for_return`. Each event is POSTed at least
    once as `{"id", "type", "occurred_at", "lender_id", "data"}` with `X-Loansvc-Event-Id` (to
    de-duplicate) and `X-Loansvc-Signature: sha256=<hex HMAC-SHA256 of the raw body with the
    secret>`; a failed delivery is retried with backoff. The URL must be http(s) (422
    WEBHOOK_URL_INVALID) and, unless LOANSVC_WEBHOOKS_ALLOW_PRIVATE, reach a public address (422
    WEBHOOK_URL_PRIVATE). An admin names the `lender_id`."""
    return service.register_webhook(session, principal, body, settings)


@router.get(
    "/webhooks", response_model=Page[WebhookOut], tags=["webhooks"], responses=responses(*AUTH_ERRORS)
)
def list_webhooks(session: SessionDep, page: PageDep, principal: Principal = require("partner")):
    items, total = service.list_webhooks(session, principal, page.limit, page.offset)
    return Page[WebhookOut](items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/webhooks/{webhook_id}",
    response_model=WebhookOut,
    tags=["webhooks"],
    responses=responses(*AUTH_ERRORS, 404),
)
def get_webhook(webhook_id: str, session: SessionDep, principal: Principal = require("partner")):
    return service.get_webhook(session, principal, webhook_id)


@router.delete(
    "/webhooks/{webhook_id}", status_code=204, tags=["webhooks"], responses=responses(*AUTH_ERRORS, 404)
)
def delete_webhook(webhook_id: str, session: SessionDep, principal: Principal = require("partner")):
    """No more deliveries (pending ones are dropped); the deliveries stay listed."""
    service.delete_webhook(session, principal, webhook_id)
    return Response(status_code=204)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=Page[DeliveryOut],
    tags=["webhooks"],
    responses=responses(*AUTH_ERRORS, 404),
)
def list_deliveries(
    webhook_id: str,
    session: SessionDep,
    page: PageDep,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    principal: Principal = require("partner"),
):
    """Each event sent (or being sent) to the webhook, newest first, with every attempt."""
    return service.deliveries(session, principal, webhook_id, status, page.limit, page.offset)
