"""LOANSVC_READ_DATABASE_URL: the reports, charts and exports read the replica; everything else,
and every write, the primary.

Two databases beside the test one, made and migrated here and dropped afterwards (on PostgreSQL
two databases of the same server, the replica's stand-in; on SQLite two files). The "replica"
holds what the primary does not: a lender "Replica MFI" with one active loan of 1,200.00 disbursed
2026-01-01 (12 x 100, from 1 February). The primary holds the API keys and nothing else. So:
- the portfolio report (and its CSV export) through the primary-and-replica app shows the
  replica's lender, with its one loan, though the primary has no loan at all;
- GET /v1/loans (not a report) reads the primary: no loan;
- a new lender (a write) lands in the primary and not in the replica;
- the replica's sessions are read-only on PostgreSQL: an INSERT there is refused by the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from loansvc.auth.service import create_key
from loansvc.config import Settings
from loansvc.db.models import Lender
from loansvc.db.session import Database
from loansvc.main import create_app
from loansvc.migrate import upgrade
from tests.api.helpers import create_household, create_lender, create_product, create_site
from tests.api.report_book import book_loan, monthly


def _fresh_databases(database_url: str, tmp_path) -> Iterator[tuple[str, str]]:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'primary.db'}", f"sqlite:///{tmp_path / 'replica.db'}"
        return
    names = (f"{url.database}_primary", f"{url.database}_replica")
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                conn.execute(text(f"CREATE DATABASE {name}"))
        yield tuple(url.set(database=n).render_as_string(hide_password=False) for n in names)
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        admin.dispose()


@pytest.fixture(scope="module")
def databases(database_url, tmp_path_factory) -> Iterator[tuple[str, str]]:
    """Made and migrated once for the module (a migration of two databases takes seconds)."""
    for primary, replica in _fresh_databases(database_url, tmp_path_factory.mktemp("replica")):
        upgrade(primary)
        upgrade(replica)
        yield primary, replica


def _key(database: Database, role: str) -> dict[str, str]:
    with database.transaction() as session:
        issued = create_key(session, name=f"replica test {role}", role=role, lender_id=None, created_by="t")
    return {"Authorization": f"Bearer {issued.key}"}


def _replica_book(replica_url: str) -> str:
    """Replica MFI and its one loan, written in the replica alone; the lender's id."""
    database = Database(replica_url)
    try:
        admin, officer = _key(database, "admin"), _key(database, "loan_officer")
        settings = Settings(database_url=replica_url)
        with TestClient(create_app(settings, database=database)) as client:
            world = {"A": create_lender(client, admin, name="Replica MFI")}
            world["PA"] = create_product(client, admin, world["A"]["id"])
            world["H1"] = create_household(client, officer, create_site(client, officer)["id"])
        with database.transaction() as session:
            tranche = (date(2026, 1, 1), "cash", "1200")
            schedule = monthly(2026, 2, 1, 12, "100")
            book_loan(session, world, "L1", "A", "H1", "PA", 12, "monthly", "USD", tranche, schedule)
        return world["A"]["id"]
    finally:
        database.dispose()


def test_reports_read_the_replica_and_writes_go_to_the_primary(databases):
    primary_url, replica_url = databases
    replica_lender = _replica_book(replica_url)
    settings = Settings(database_url=primary_url, read_database_url=replica_url, auth_cache_seconds=0)
    database = Database.configured(settings)
    try:
        admin = _key(database, "admin")
        with TestClient(create_app(settings, database=database)) as client:
            report = client.get("/v1/reports/portfolio", headers=admin, params={"as_of": "2026-06-30"})
            assert report.status_code == 200, report.text
            groups = [
                (g["group"]["lender_id"], g["group"]["lender_name"], g["currency"], g["active_loans"])
                for g in report.json()["groups"]
            ]
            assert groups == [(replica_lender, "Replica MFI", "USD", 1)]
            export = client.get(
                "/v1/reports/portfolio", headers=admin, params={"as_of": "2026-06-30", "format": "csv"}
            )
            assert export.status_code == 200 and replica_lender in export.text
            chart = client.get("/v1/reports/charts/aging.png", headers=admin, params={"as_of": "2026-06-30"})
            assert chart.status_code == 200 and chart.content.startswith(b"\x89PNG")

            loans = client.get("/v1/loans", headers=admin, params={"count": "true"})
            assert loans.status_code == 200 and loans.json()["total"] == 0  # the primary's list

            created = create_lender(client, admin, name="Written to the primary")
        with database.transaction(write=False) as session:
            assert session.scalar(select(Lender.name).where(Lender.id == created["id"])) is not None
        with database.read_session_factory() as session:
            names = set(session.scalars(select(Lender.name)))
            assert names == {"Replica MFI"}
            assert session.info["read_only"] is True
    finally:
        database.dispose()


def test_a_replica_session_cannot_write_on_postgresql(databases):
    primary_url, replica_url = databases
    if make_url(primary_url).get_backend_name() != "postgresql":
        pytest.skip("a read-only transaction is PostgreSQL's")
    database = Database(primary_url, read_url=replica_url)
    try:
        with database.read_session_factory() as session, pytest.raises(DBAPIError, match="read-only"):
            session.execute(
                text(
                    "INSERT INTO lenders (id, name, kind, default_currency, created_at)"
                    " VALUES ('x', 'x', 'mfi', 'USD', now())"
                )
            )
    finally:
        database.dispose()


def test_without_a_replica_the_reports_read_the_primary(database_url):
    for database in (Database(database_url), Database(database_url, read_url=database_url)):
        try:
            assert database.read_session_factory is database.session_factory
            assert database.read_engine is database.engine
        finally:
            database.dispose()
