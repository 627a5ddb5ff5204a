"""The reminder run: what is due, what is late, and each message written once to the outbox.

A run as of a day handles every trigger day from the day after the latest earlier run (at most
`catch_up_days` back; a first run handles its own day) up to that day, so days no run handled are
caught up. Per active loan and rule:

* `before_due:d`: installment n, due on D, triggers on D - d while it still owes something and D
  has not passed by as_of (a reminder for a past due date helps no one);
* `past_due:d`: installment n triggers on D + d when it is, that day, the oldest installment not
  yet paid (the loan is then d days past due), and still owes something at as_of. The message
  names the loan's overdue amount at as_of.

The outbox row's key is (installment, rule, trigger day): a unique constraint with ON CONFLICT DO
NOTHING, so the same installment and rule never give two messages, whichever runs overlap. On
PostgreSQL a run also takes a transaction-scoped advisory lock: a second run at the same time does
nothing and says so. A household that opted out (on or before the trigger day) gets no message.

The same run compares each active loan's days past due at as_of with the last threshold reported
(0, 1, 30, 90) and emits `loan.arrears_changed` when it crossed one, either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from loansvc.db.base import new_id, utcnow
from loansvc.db.models import Loan, LoanArrearsMark, ReminderMessage, ReminderRun
from loansvc.domain.errors import InvalidInput
from loansvc.events import emit
from loansvc.lending import reads
from loansvc.lending import repository as ledger_rows
from loansvc.notify import repository
from loansvc.notify.texts import DEFAULT_RULES, Rule, render

ARREARS_THRESHOLDS = (1, 30, 90)


@dataclass(frozen=True)
class RunResult:
    as_of: date
    window_from: date | None
    ran: bool
    created: int = 0
    skipped_opted_out: int = 0
    arrears_events: int = 0
    message_ids: tuple[str, ...] = ()
    note: str | None = None


def threshold_of(days_past_due: int) -> int:
    return max((t for t in ARREARS_THRESHOLDS if days_past_due >= t), default=0)


def lender_rules(stored: list) -> list[Rule]:
    """A lender's active rules; the defaults while it has stored none."""
    if not stored:
        return list(DEFAULT_RULES)
    return [Rule(r.kind, r.days, r.template_km, r.template_en, r.active) for r in stored if r.active]


def window(session: Session, as_of: date, catch_up_days: int) -> date:
    last = repository.last_run_before(session, as_of)
    earliest = as_of - timedelta(days=catch_up_days - 1)
    return as_of if last is None else max(last + timedelta(days=1), earliest)


def _unpaid_on(row, day: date) -> bool:
    return row.total > 0 and (row.fully_paid_on is None or row.fully_paid_on > day)


def _candidates(loan: Loan, rows, views, overdue: Decimal, rules: list[Rule], start: date, as_of: date):
    """(rule, row, trigger day, amount) for every trigger day of this loan in start..as_of."""
    remaining = {v.number: v.remaining for v in views}
    for rule in rules:
        for k, row in enumerate(rows):
            if remaining.get(row.number, Decimal(0)) <= 0:
                continue  # nothing left to pay on it at as_of
            if rule.kind == "before_due":
                trigger = row.due_date - timedelta(days=rule.days)
                if start <= trigger <= as_of and row.due_date >= as_of:
                    yield rule, row, trigger, remaining[row.number]
                continue
            trigger = row.due_date + timedelta(days=rule.days)
            if not start <= trigger <= as_of or not _unpaid_on(row, trigger):
                continue
            if any(_unpaid_on(earlier, trigger) for earlier in rows[:k]):
                continue  # an older installment is the one the loan is late on
            if overdue > 0:
                yield rule, row, trigger, overdue


def run(session: Session, as_of: date, today: date, *, catch_up_days: int, ran_by: str) -> RunResult:
    """Write the messages of every trigger day not yet handled up to `as_of` (flushes, never commits)."""
    if as_of > today:
        raise InvalidInput("as_of cannot be in the future", code="DATE_IN_FUTURE", field="as_of")
    if not repository.try_job_lock(session, repository.REMINDER_RUN_LOCK):
        return RunResult(as_of, None, ran=False, note="another reminder run holds the lock; nothing done")
    start = window(session, as_of, catch_up_days)
    loans = repository.active_loans(session)
    figures = reads.figures_for(session, loans, as_of, today)
    rows_of = ledger_rows.installments_of(session, loans)
    homes = repository.households(session, (loan.household_id for loan in loans))
    names = repository.lender_names(session, (loan.lender_id for loan in loans))
    stored = repository.rules_of(session, (loan.lender_id for loan in loans))
    opted = repository.opt_outs(session, homes)
    now = utcnow()
    messages, skipped = [], 0
    for loan in loans:
        f = figures[loan.id]
        household = homes[loan.household_id]
        language = household.language or "km"
        rules = lender_rules(stored.get(loan.lender_id, []))
        for rule, row, trigger, amount in _candidates(
            loan, rows_of[loan.id], f.installments, f.overdue_amount, rules, start, as_of
        ):
            if loan.household_id in opted and opted[loan.household_id] <= trigger:
                skipped += 1
                continue
            days = rule.days
            body = render(
                rule.template(language),
                amount=amount,
                currency=loan.currency,
                due_on=row.due_date,
                days=days,
                lender=names[loan.lender_id],
                language=language,
            )
            messages.append(
                {
                    "id": new_id(),
                    "created_at": now,
                    "subject": f"{loan.id}:{row.number}",
                    "rule_key": rule.key,
                    "trigger_on": trigger,
                    "loan_id": loan.id,
                    "household_id": loan.household_id,
                    "lender_id": loan.lender_id,
                    "installment_number": row.number,
                    "due_on": row.due_date,
                    "amount": amount,
                    "currency": loan.currency,
                    "language": language,
                    "body": body,
                    "status": "queued",
                    "attempts": 0,
                    "next_attempt_at": now,
                }
            )
    created = repository.insert_or_ignore(
        session, ReminderMessage, messages, ("subject", "rule_key", "trigger_on")
    )
    later_run = repository.last_run_before(session, date.max) or as_of
    events = _arrears_changes(session, loans, figures, as_of) if later_run <= as_of else 0
    session.add(
        ReminderRun(
            as_of=as_of,
            window_from=start,
            created_messages=len(created),
            arrears_events=events,
            ran_by=ran_by,
        )
    )
    session.flush()
    return RunResult(as_of, start, True, len(created), skipped, events, tuple(created))


def _arrears_changes(session: Session, loans: list[Loan], figures, as_of: date) -> int:
    """Emit loan.arrears_changed for each loan whose days past due crossed 1, 30 or 90 (up or down)
    since the last threshold reported, and remember the new one."""
    marks = repository.arrears_marks(session, [loan.id for loan in loans])
    emitted = 0
    for loan in loans:
        days = figures[loan.id].days_past_due
        mark = marks.get(loan.id)
        before = mark.threshold if mark else 0
        now = threshold_of(days)
        if mark is not None and mark.changed_on > as_of:
            continue  # a later day already reported on this loan
        if now == before:
            continue
        emit(
            session,
            "loan.arrears_changed",
            loan.lender_id,
            {
                "loan_id": loan.id,
                "household_id": loan.household_id,
                "as_of": as_of,
                "days_past_due": days,
                "threshold": now,
                "previous_threshold": before,
                "overdue_amount": str(figures[loan.id].overdue_amount),
                "currency": loan.currency,
            },
        )
        if mark is None:
            session.add(LoanArrearsMark(loan_id=loan.id, threshold=now, days_past_due=days, changed_on=as_of))
        else:
            mark.threshold, mark.days_past_due, mark.changed_on = now, days, as_of
        emitted += 1
    return emitted
