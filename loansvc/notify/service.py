"""The use cases of reminders and webhooks behind the HTTP endpoints and the command line."""

from __future__ import annotations

from datetime import date
from typing import get_args

from sqlalchemy.orm import Session

from loansvc.audit.service import record as audit
from loansvc.auth.principal import Principal
from loansvc.config import Settings
from loansvc.db.base import utcnow
from loansvc.db.models import HouseholdReminderOptOut, ReminderRule, Webhook
from loansvc.db.models.notify import EVENT_TYPES
from loansvc.db.query import page
from loansvc.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from loansvc.fields import Page
from loansvc.lending.access import check_date
from loansvc.notify import gateways, reminders, repository
from loansvc.notify.addresses import check_url
from loansvc.notify.schemas import (
    AttemptOut,
    DeliveryOut,
    EventType,
    MessageOut,
    OptOutIn,
    OptOutOut,
    RuleOut,
    RulesIn,
    RulesOut,
    RunOut,
    WebhookCreate,
)
from loansvc.notify.texts import DEFAULT_RULES, check_template, default_template
from loansvc.registry.service import get_household, get_lender

assert set(get_args(EventType)) == set(EVENT_TYPES)


# --- reminder runs and the outbox --------------------------------------------------------------


def run_reminders(
    session: Session, as_of: date | None, today: date, settings: Settings, ran_by: str
) -> RunOut:
    """Write the messages due up to `as_of` (default today); the log gateway sends them at once,
    in this transaction; the http gateway's wait for the delivery worker."""
    result = reminders.run(
        session, as_of or today, today, catch_up_days=settings.reminders_catch_up_days, ran_by=ran_by
    )
    sent = 0
    if settings.reminders_gateway == "log" and result.message_ids:
        sent = gateways.send_with_log(
            session, repository.messages_by_ids(session, result.message_ids), utcnow()
        )
    return RunOut(
        as_of=result.as_of,
        window_from=result.window_from,
        ran=result.ran,
        created=result.created,
        skipped_opted_out=result.skipped_opted_out,
        arrears_events=result.arrears_events,
        sent=sent,
        queued=result.created - sent,
        note=result.note,
    )


def _message_out(m) -> MessageOut:
    return MessageOut(
        id=m.id,
        household_id=m.household_id,
        loan_id=m.loan_id,
        lender_id=m.lender_id,
        installment_number=m.installment_number,
        rule=m.rule_key,
        trigger_on=m.trigger_on,
        due_on=m.due_on,
        amount=m.amount,
        currency=m.currency,
        language=m.language,
        body=m.body,
        status=m.status,
        gateway=m.gateway,
        attempts=m.attempts,
        sent_at=m.sent_at,
        failure_reason=m.failure_reason,
        created_at=m.created_at,
    )


def outbox(
    session: Session, principal: Principal, status: str | None, limit: int, offset: int
) -> Page[MessageOut]:
    query = repository.messages_query(lender_id=principal.lender_scope, status=status)
    items, total = page(session, query, limit, offset)
    return Page[MessageOut](items=[_message_out(m) for m in items], total=total, limit=limit, offset=offset)


def household_messages(
    session: Session, principal: Principal, household_id: str, limit: int, offset: int
) -> Page[MessageOut]:
    get_household(session, principal, household_id)  # 404 unless the caller may see it
    query = repository.messages_query(lender_id=principal.lender_scope, household_id=household_id)
    items, total = page(session, query, limit, offset)
    return Page[MessageOut](items=[_message_out(m) for m in items], total=total, limit=limit, offset=offset)


# --- rules per lender --------------------------------------------------------------------------


def _lender_for(session: Session, principal: Principal, lender_id: str):
    if principal.is_partner and principal.lender_id != lender_id:
        raise NotFound(f"no lender {lender_id}", code="LENDER_NOT_FOUND")
    return get_lender(session, lender_id)


def get_rules(session: Session, principal: Principal, lender_id: str) -> RulesOut:
    lender = _lender_for(session, principal, lender_id)
    stored = repository.rules_of(session, [lender.id]).get(lender.id, [])
    rules = stored or DEFAULT_RULES
    return RulesOut(
        lender_id=lender.id,
        defaults=not stored,
        rules=[
            RuleOut(
                kind=r.kind,
                days=r.days,
                template_km=r.template_km,
                template_en=r.template_en,
                active=r.active,
            )
            for r in rules
        ],
    )


def put_rules(session: Session, principal: Principal, lender_id: str, body: RulesIn) -> RulesOut:
    """Replace the lender's rules (the defaults no longer apply once a lender has its own)."""
    lender = _lender_for(session, principal, lender_id)
    seen = set()
    for k, rule in enumerate(body.rules):
        if (rule.kind, rule.days) in seen:
            raise InvalidInput(
                f"two rules {rule.kind} {rule.days} days", code="DUPLICATE_RULE", field=f"rules[{k}]"
            )
        seen.add((rule.kind, rule.days))
        if rule.kind == "past_due" and rule.days == 0:
            raise InvalidInput(
                "a past_due rule counts at least 1 day after the due date",
                code="INVALID_RULE",
                field=f"rules[{k}].days",
            )
        for language in ("km", "en"):
            text = getattr(rule, f"template_{language}")
            if text is not None:
                check_template(text, f"rules[{k}].template_{language}")
    before = get_rules(session, principal, lender.id).model_dump(mode="json")
    repository.delete_rules(session, lender.id)
    for rule in body.rules:
        session.add(
            ReminderRule(
                lender_id=lender.id,
                kind=rule.kind,
                days=rule.days,
                template_km=rule.template_km or default_template(rule.kind, "km"),
                template_en=rule.template_en or default_template(rule.kind, "en"),
                active=rule.active,
            )
        )
    session.flush()
    after = get_rules(session, principal, lender.id)
    audit(
        session,
        principal,
        entity_type="lender",
        entity_id=lender.id,
        action="reminder_rules_changed",
        before={"rules": before["rules"], "defaults": before["defaults"]},
        after={"rules": after.model_dump(mode="json")["rules"]},
    )
    return after


# --- opting out --------------------------------------------------------------------------------


def _opt_out_out(o: HouseholdReminderOptOut) -> OptOutOut:
    return OptOutOut(
        household_id=o.household_id,
        opted_out=True,
        opted_out_on=o.opted_out_on,
        reason=o.reason,
        created_at=o.created_at,
    )


def get_opt_out(session: Session, principal: Principal, household_id: str) -> OptOutOut:
    get_household(session, principal, household_id)
    record = session.get(HouseholdReminderOptOut, household_id)
    if record is None:
        return OptOutOut(
            household_id=household_id, opted_out=False, opted_out_on=None, reason=None, created_at=None
        )
    return _opt_out_out(record)


def opt_out(
    session: Session, principal: Principal, household_id: str, body: OptOutIn, today: date
) -> OptOutOut:
    """From `opted_out_on` the household gets no reminder (and queued ones are not sent)."""
    household = get_household(session, principal, household_id)
    on = body.opted_out_on or today
    check_date(on, today=today, not_before=None, field="opted_out_on")
    if session.get(HouseholdReminderOptOut, household.id) is not None:
        raise Conflict("the household has already opted out of reminders", code="ALREADY_OPTED_OUT")
    record = HouseholdReminderOptOut(household_id=household.id, opted_out_on=on, reason=body.reason)
    session.add(record)
    session.flush()
    audit(
        session,
        principal,
        entity_type="household",
        entity_id=household.id,
        action="reminders_opted_out",
        after={"opted_out_on": on.isoformat(), "reason": body.reason},
    )
    return _opt_out_out(record)


def opt_in(session: Session, principal: Principal, household_id: str, today: date) -> None:
    """The household takes reminders again (the opt-out stays in its history)."""
    household = get_household(session, principal, household_id)
    record = session.get(HouseholdReminderOptOut, household.id)
    if record is None:
        raise NotFound("the household has not opted out of reminders", code="NOT_OPTED_OUT")
    before = {"opted_out_on": record.opted_out_on.isoformat(), "reason": record.reason}
    session.delete(record)
    session.flush()
    audit(
        session,
        principal,
        entity_type="household",
        entity_id=household.id,
        action="reminders_opted_in",
        before=before,
        after={"opted_in_on": today.isoformat()},
    )


# --- webhooks ----------------------------------------------------------------------------------


def register_webhook(
    session: Session, principal: Principal, body: WebhookCreate, settings: Settings
) -> Webhook:
    """A partner's webhook gets its own lender's events written from now on."""
    if principal.is_partner:
        if body.lender_id not in (None, principal.lender_id):
            raise Forbidden("a partner registers webhooks for its own lender", code="OTHER_LENDER")
        lender_id = principal.lender_id
    else:
        if body.lender_id is None:
            raise InvalidInput("an admin names the lender_id", code="LENDER_REQUIRED", field="lender_id")
        lender_id = body.lender_id
        try:
            get_lender(session, lender_id)
        except NotFound:
            raise InvalidInput(f"no lender {lender_id}", code="UNKNOWN_LENDER", field="lender_id") from None
    check_url(body.url, allow_private=settings.webhooks_allow_private)
    hook = Webhook(
        lender_id=lender_id,
        url=body.url,
        events=list(body.events),
        secret=body.secret,
        active=True,
        created_by_key_id=principal.key_id,
        created_at=utcnow(),
    )
    session.add(hook)
    session.flush()
    audit(
        session,
        principal,
        entity_type="webhook",
        entity_id=hook.id,
        action="registered",
        after={"lender_id": lender_id, "url": hook.url, "events": hook.events},
    )
    return hook


def list_webhooks(
    session: Session, principal: Principal, limit: int, offset: int
) -> tuple[list[Webhook], int]:
    return page(session, repository.webhooks_query(principal.lender_scope), limit, offset)


def _visible_webhook(session: Session, principal: Principal, webhook_id: str) -> Webhook:
    hook = repository.webhook(session, webhook_id, principal.lender_scope)
    if hook is None:
        raise NotFound(f"no webhook {webhook_id}", code="WEBHOOK_NOT_FOUND")
    return hook


def get_webhook(session: Session, principal: Principal, webhook_id: str) -> Webhook:
    return _visible_webhook(session, principal, webhook_id)


def delete_webhook(session: Session, principal: Principal, webhook_id: str) -> None:
    """Stops the deliveries (pending ones are not sent); the deliveries stay listed."""
    hook = _visible_webhook(session, principal, webhook_id)
    if hook.deleted_at is not None:
        raise NotFound(f"no webhook {webhook_id}", code="WEBHOOK_NOT_FOUND")
    hook.active, hook.deleted_at = False, utcnow()
    session.flush()
    audit(
        session,
        principal,
        entity_type="webhook",
        entity_id=hook.id,
        action="deleted",
        before={"url": hook.url},
    )


def deliveries(
    session: Session, principal: Principal, webhook_id: str, status: str | None, limit: int, offset: int
) -> Page[DeliveryOut]:
    hook = _visible_webhook(session, principal, webhook_id)
    items, total = page(session, repository.deliveries_query(hook.id, status), limit, offset)
    events = repository.events_by_ids(session, (d.event_id for d in items))
    attempts = repository.attempts_of(session, [d.id for d in items])
    out = [
        DeliveryOut(
            id=d.id,
            event_id=d.event_id,
            event_type=events[d.event_id].type,
            occurred_at=events[d.event_id].occurred_at,
            status=d.status,
            attempt_count=d.attempts,
            next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
            delivered_at=d.delivered_at,
            last_error=d.last_error,
            attempts=[AttemptOut.model_validate(a) for a in attempts[d.id]],
        )
        for d in items
    ]
    return Page[DeliveryOut](items=out, total=total, limit=limit, offset=offset)
