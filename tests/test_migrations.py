"""The Alembic chain on empty databases of each kind: up, down to base, up again, and in step with the models.

`loansvc db upgrade` migrates, the `alembic downgrade base` command (run as a user would, in a
subprocess) empties the database, and the second upgrade must rebuild it exactly. After each upgrade
the schema is compared with the models the way `alembic check` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from loansvc import cli
from loansvc.config import get_settings
from loansvc.db import models  # noqa: F401  (every table on the metadata)
from loansvc.db.base import Base
from loansvc.db.session import make_engine
from loansvc.migrate import ROOT, upgrade

THROWAWAY_PG = "loansvc_migr_test"


def _schema_diff(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _cli_upgrade(url: str, monkeypatch) -> None:
    monkeypatch.setenv("LOANSVC_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli.app, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output


def _alembic_downgrade_base(url: str) -> None:
    env = {**os.environ, "LOANSVC_DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "downgrade", "base"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def _up_down_up(url: str, monkeypatch) -> None:
    assert _tables(url) == set(), "the database must start empty"

    _cli_upgrade(url, monkeypatch)
    expected = {table.name for table in Base.metadata.sorted_tables}
    assert _tables(url) == expected | {"alembic_version"}
    assert _schema_diff(url) == [], "the migrations and the models disagree (alembic check)"

    _alembic_downgrade_base(url)
    assert _tables(url) == {"alembic_version"}
    # the comparison has teeth: against an empty schema it reports every table missing
    assert {diff[1].name for diff in _schema_diff(url) if diff[0] == "add_table"} == expected

    upgrade(url, "head")
    assert _tables(url) == expected | {"alembic_version"}
    assert _schema_diff(url) == []


def test_migrations_up_down_up_on_a_fresh_sqlite_file(tmp_path, monkeypatch):
    _up_down_up(f"sqlite:///{tmp_path / 'migrations.db'}", monkeypatch)


@pytest.fixture()
def throwaway_pg(database_url: str) -> Iterator[str]:
    """An empty PostgreSQL database beside the test one, dropped afterwards."""
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("runs when the suite runs on PostgreSQL (LOANSVC_TEST_DATABASE_URL)")
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {THROWAWAY_PG} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {THROWAWAY_PG}"))
        yield make_url(database_url).set(database=THROWAWAY_PG).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {THROWAWAY_PG} WITH (FORCE)"))
    finally:
        admin.dispose()


def test_migrations_up_down_up_on_an_empty_postgresql_database(throwaway_pg, monkeypatch):
    _up_down_up(throwaway_pg, monkeypatch)
