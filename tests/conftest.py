"""Test fixtures: a database migrated once with Alembic, each test in a transaction rolled back.

The database is SQLite by default (a file in a temporary folder) and PostgreSQL when
LOANSVC_TEST_DATABASE_URL says so. Under CI=true an unreachable PostgreSQL fails the run; outside
CI the PostgreSQL run is skipped with the reason shown.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, MetaData, select, text
from sqlalchemy.orm import sessionmaker

from loansvc.auth.service import create_key
from loansvc.config import Settings
from loansvc.db.base import Base
from loansvc.db.session import make_engine, normalise_url
from loansvc.main import create_app
from loansvc.migrate import upgrade

DEFAULT_PG = "postgresql+psycopg://root@127.0.0.1:5432/test"
# the in-process delivery worker (webhooks, reminders) is off: a test that wants it turns it on
os.environ.setdefault("LOANSVC_WORKER_ENABLED", "false")
# every test's app starts and stops: no full collection and freeze each time (tests/api/test_lifespan.py)
os.environ.setdefault("LOANSVC_GC_FREEZE", "false")


def _test_url(tmp_path_factory) -> str:
    url = os.environ.get("LOANSVC_TEST_DATABASE_URL")
    if url:
        return normalise_url(url)
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    return _test_url(tmp_path_factory)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    if engine.dialect.name == "postgresql":
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            message = f"PostgreSQL at {database_url} does not answer: {exc.__class__.__name__}"
            if os.environ.get("CI") == "true":
                pytest.exit(message, returncode=3)
            pytest.skip(message)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(database_url)
    yield engine
    engine.dispose()


class _TestDatabase:
    """The app's Database, bound to the test's connection: commits become savepoint releases."""

    def __init__(self, engine: Engine, connection: Connection):
        self.engine = engine
        self.session_factory = sessionmaker(
            bind=connection, expire_on_commit=False, autoflush=False, join_transaction_mode="create_savepoint"
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


@pytest.fixture()
def connection(engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    outer = conn.begin()
    try:
        yield conn
    finally:
        outer.rollback()
        conn.close()


@pytest.fixture()
def db(engine: Engine, connection: Connection) -> _TestDatabase:
    return _TestDatabase(engine, connection)


@pytest.fixture()
def session(db: _TestDatabase):
    s = db.session_factory()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture()
def app(db: _TestDatabase, database_url: str):
    return create_app(Settings(database_url=database_url), database=db)


@pytest.fixture()
def client(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture()
def make_key(session):
    """Issue a key of a role (a partner key needs its lender id) and return the bearer header."""

    counter = {"n": 0}

    def _make(role: str, lender_id: str | None = None) -> dict[str, str]:
        counter["n"] += 1
        issued = create_key(
            session, name=f"test-{role}-{counter['n']}", role=role, lender_id=lender_id, created_by="tests"
        )
        session.commit()
        return {"Authorization": f"Bearer {issued.key}"}

    return _make


@pytest.fixture()
def admin(make_key) -> dict[str, str]:
    return make_key("admin")


@pytest.fixture()
def officer(make_key) -> dict[str, str]:
    return make_key("loan_officer")


@pytest.fixture()
def finance(make_key) -> dict[str, str]:
    return make_key("finance_lead")


@pytest.fixture()
def db_state(connection: Connection):
    """A function returning every row of every table, to show a refused request changed nothing."""

    def _state() -> dict[str, list[tuple]]:
        out = {}
        for table in Base.metadata.sorted_tables:
            rows = connection.execute(select(table)).all()
            out[table.name] = sorted(tuple(str(v) for v in row) for row in rows)
        return out

    return _state


__all__ = ["DEFAULT_PG", "MetaData"]
