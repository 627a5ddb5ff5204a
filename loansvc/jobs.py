"""The nightly jobs' guard: one run at a time across every machine.

`exclusive(session, name)` takes a PostgreSQL transaction-scoped advisory lock named after the job
(pg_try_advisory_xact_lock on a stable 63-bit key of the name) and answers whether it got it; a
second machine running the same job at the same time gets False and does nothing. The lock ends
with the transaction, so a crashed run never leaves it held. On SQLite every write already runs
under the database's single write lock (BEGIN IMMEDIATE), so the answer is always True.

`held(database, name)` is the same lock for a job that runs in several transactions of its own
(the reminders run, then the sending): a connection of its own holds the lock in a transaction that
writes nothing, for as long as the block runs, and lets go when it ends, however it ends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (the same on every machine and Python version)."""
    return int.from_bytes(hashlib.sha256(f"loansvc:{name}".encode()).digest()[:8], "big", signed=True)


def exclusive(session: Session, name: str) -> bool:
    """Take the job `name`'s lock for the rest of this transaction; False when another holds it."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(
        session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": lock_key(name)}).scalar()
    )


def exclusive_each(session: Session, names: Sequence[str]) -> list[str]:
    """`exclusive` for several jobs (or parts of one) in one statement: the names whose lock this
    transaction now holds, in their order; the others are held by another transaction."""
    if session.get_bind().dialect.name != "postgresql" or not names:
        return list(names)
    keys = {lock_key(name): name for name in names}
    query = text(
        "SELECT key FROM unnest(CAST(:keys AS bigint[])) AS key WHERE pg_try_advisory_xact_lock(key)"
    )
    got = set(session.scalars(query, {"keys": list(keys)}))
    return [name for name in names if lock_key(name) in got]


@contextmanager
def held(database: Any, name: str) -> Iterator[bool]:
    """The job `name`'s lock for the whole block, on a session of its own from `database`
    (loansvc.db.session.Database): True when this run got it, False when another run holds it."""
    session: Session = database.session_factory()
    try:
        yield exclusive(session, name)
    finally:
        session.rollback()  # ends the transaction, and with it the lock
        session.close()
