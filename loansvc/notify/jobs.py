"""The cron jobs behind `loansvc reminders run` and `loansvc webhooks deliver`."""

from __future__ import annotations

from datetime import date
from typing import Any

from loansvc.config import Settings
from loansvc.notify import delivery, gateways, service
from loansvc.notify.schemas import RunOut
from loansvc.notify.worker import transactions


def reminders_run(database: Any, settings: Settings, as_of: date | None, today: date) -> tuple[RunOut, dict]:
    """The run in one transaction (its advisory lock held until it commits), then the queued
    messages sent through the gateway in short transactions of their own."""
    transaction = transactions(database)
    with transaction() as session:
        result = service.run_reminders(session, as_of, today, settings, ran_by="cli-reminders")
    sent = gateways.deliver_due(transaction, settings) if result.queued else {}
    return result, sent


def webhooks_deliver(database: Any, settings: Settings) -> dict[str, int]:
    """One pass of the delivery worker for webhooks: dispatch new events, send what is due."""
    return delivery.deliver_due(transactions(database), settings)
