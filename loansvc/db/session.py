"""Engines and sessions: one transaction per request, committed at the request boundary.

SQLite is the embedded default; PostgreSQL (psycopg 3) is the production store.

SQLite: the driver's own transaction handling is switched off so that SQLAlchemy emits BEGIN
itself: savepoints then work (tests roll back each test), and every write transaction takes the
write lock at its start (`BEGIN IMMEDIATE`, through `write_session_factory`). In WAL mode readers
never wait for the writer; a writer that finds the lock taken waits up to `lock_timeout` seconds
(busy timeout) instead of failing at once, and one that still cannot have it raises
"database is locked", which the HTTP edge answers with 503 and Retry-After. A deferred
transaction that reads and then writes could not wait: SQLite refuses its upgrade at once when
another writer committed meanwhile (SQLITE_BUSY_SNAPSHOT), hence IMMEDIATE for every write.

Both: statement parameters never reach a log line or an exception's text (`hide_parameters`), and
the pool's size and the time a request waits for a connection are settings (`Database.configured`).

A read replica (`read_url`, the setting `read_database_url`): `read_session_factory` opens its
sessions there, each transaction read-only on PostgreSQL (a hot standby refuses writes anyway; the
primary used as its stand-in in tests must too), with `session.info["read_only"]` True so a report
that would store something it computed (a month-end snapshot) knows to compute without storing.
Without a replica it is the primary's ordinary session factory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# SQLAlchemy's own defaults, for a Database built without settings (scripts, tests)
DEFAULT_LOCK_TIMEOUT = 30.0
IMMEDIATE = {"sqlite_begin": "BEGIN IMMEDIATE"}


def normalise_url(url: str) -> str:
    """Accept the common spellings of a PostgreSQL URL and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(normalise_url(url)).get_backend_name() == "sqlite"


def make_engine(url: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT, **kwargs: Any) -> Engine:
    """An engine that never logs or shows statement parameters; on SQLite, WAL and a busy timeout."""
    url = normalise_url(url)
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        in_memory = make_url(url).database in (None, "", ":memory:")
        for pool_only in ("pool_size", "max_overflow", "pool_timeout") if in_memory else ():
            kwargs.pop(pool_only, None)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": lock_timeout}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout * 1000)}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            mode = conn.get_execution_options().get("sqlite_begin", "BEGIN")
            conn.exec_driver_sql(mode)

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    # no JIT: the report statements are costed high (the restructured-watch subquery) and PostgreSQL
    # then spends seconds compiling each one that runs in tens of milliseconds (docs/benchmarks.md)
    connect_args = {"options": "-c jit=off", **kwargs.pop("connect_args", {})}
    return create_engine(url, connect_args=connect_args, **kwargs)


class Database:
    """An engine and its session factories; the app holds one.

    `session_factory` opens ordinary transactions (reads); `write_session_factory` opens
    transactions that take SQLite's write lock when they begin (on PostgreSQL the same: the
    services lock the rows they change). Both are lazy: the connection is taken at the first
    statement, so a request authenticates before it holds one."""

    def __init__(self, url: str, *, read_url: str | None = None, **engine_kwargs: Any):
        self.engine = make_engine(url, **engine_kwargs)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self.write_session_factory = sessionmaker(
            self.engine.execution_options(**IMMEDIATE), expire_on_commit=False, autoflush=False
        )
        replica = bool(read_url) and normalise_url(read_url or "") != normalise_url(url)
        self.read_engine = make_engine(read_url or url, **engine_kwargs) if replica else self.engine
        if replica:
            read_only = {"postgresql_readonly": True} if self.read_engine.dialect.name == "postgresql" else {}
            self.read_session_factory = sessionmaker(
                self.read_engine.execution_options(**read_only),
                expire_on_commit=False,
                autoflush=False,
                info={"read_only": True},
            )
        else:
            self.read_session_factory = self.session_factory

    @classmethod
    def configured(cls, settings: Any) -> Database:
        """The database of `settings` (loansvc.config.Settings), with its pool and lock timeouts."""
        return cls(
            settings.database_url,
            read_url=getattr(settings, "read_database_url", None),
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_seconds,
            lock_timeout=settings.db_lock_timeout_seconds,
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        """Close the pooled connections of the primary and of the replica."""
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """A unit of work for the CLI and scripts: commit on success, roll back on error. A write
        (the default) takes SQLite's write lock at its start, as a request's write does."""
        session = (self.write_session_factory if write else self.session_factory)()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
