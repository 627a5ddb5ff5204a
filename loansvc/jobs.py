"""The nightly jobs' guard: one run at a time across every machine.

`exclusive(session, name)` takes a PostgreSQL transaction-scoped advisory lock named after the job
(pg_try_advisory_xact_lock on a stable 63-bit key of the name) and answers whether it got it; a
second machine running the same job at the same time gets False and does nothing. The lock ends
with the transaction, so a crashed run never leaves it held. On SQLite every write already runs
under the database's single write lock (BEGIN IMMEDIATE), so the answer is always True.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.orm import Session


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (the same on every machine and Python version)."""
    return int.from_bytes(hashlib.sha256(f"loansvc:{name}".encode()).digest()[:8], "big", signed=True)


def exclusive(session: Session, name: str) -> bool:
    """Take the job `name`'s lock for the rest of this transaction; False when another holds it."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": lock_key(name)}).scalar())
