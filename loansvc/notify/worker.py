"""The service's own sender: a thread that, every `worker_poll_seconds`, dispatches new events to
webhooks, sends the deliveries and queued reminder messages that are due, each in short
transactions. `loansvc webhooks deliver` runs the same pass once (for cron)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from loansvc.config import Settings
from loansvc.notify import delivery, gateways

log = logging.getLogger("loansvc.worker")


def transactions(database: Any, *, write: bool = True):
    """A factory of short transactions on `database` (loansvc.db.session.Database, or any object
    with a session_factory): commit on success, roll back on error. A write transaction takes
    SQLite's write lock when it begins; a read one does not (an idle worker locks nothing)."""
    writer = getattr(database, "write_session_factory", None) if write else None
    factory = writer or database.session_factory

    @contextmanager
    def transaction() -> Iterator[Session]:
        session = factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    return transaction


def run_once(database: Any, settings: Settings) -> dict[str, int]:
    transaction, read = transactions(database), transactions(database, write=False)
    counts = delivery.deliver_due(transaction, settings, read=read)
    messages = gateways.deliver_due(transaction, settings, read=read)
    return counts | {f"messages_{k}": v for k, v in messages.items()}


class Worker:
    def __init__(self, database: Any, settings: Settings):
        self.database, self.settings = database, settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="loansvc-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                run_once(self.database, self.settings)
            except Exception as exc:  # the next pass tries again; never the statement's parameters
                log.warning("delivery worker pass failed: %s", type(exc).__name__)
            self._stop.wait(self.settings.worker_poll_seconds)
