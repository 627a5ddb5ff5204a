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


# rows as the app wrote them before 0005: amounts bound as decimal text, kept by SQLite's NUMERIC
# affinity as REAL (an INTEGER when whole); 999999999999.9999 is a REAL of 16 digits, beyond what
# ROUND(x * 10000) recovers in SQL, so the migration converts it the way the old reader read it
LEGACY_ROWS = [
    "INSERT INTO lenders (id, name, kind, default_currency, created_at)"
    " VALUES ('lender-1', 'Old MFI', 'mfi', 'USD', '2026-01-01 00:00:00.000000')",
    "INSERT INTO products (id, lender_id, name, currency, annual_rate_percent, interest_method, amortization,"
    " frequency, interest_calculation, day_count, min_amount, max_amount, min_term, max_term, fees,"
    " max_grace_principal_periods, installment_multiple, milestones, created_at, late_fee)"
    " VALUES ('product-1', 'lender-1', 'Old loan', 'USD', '18.5', 'declining_balance', 'equal_installments',"
    " 'monthly', 'per_period', 'actual/365', '0.1', '1234.5678', 12, 48, '[]', 0, NULL, '[]',"
    " '2026-01-01 00:00:00.000000', '5')",
    "INSERT INTO materials (id, sku, name, unit, unit_cost, currency, quantity_on_hand, updated_at,"
    " created_at) VALUES ('material-1', 'OLD-1', 'cement', 'bag', '0.1', 'USD', '999999999999.9999',"
    " '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')",
]


def _legacy_values(url: str) -> dict[str, tuple]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            product = conn.execute(
                text(
                    "SELECT annual_rate_percent, min_amount, max_amount, installment_multiple, late_fee"
                    " FROM products"
                )
            ).one()
            material = conn.execute(text("SELECT unit_cost, quantity_on_hand FROM materials")).one()
            return {"products": tuple(product), "materials": tuple(material)}
    finally:
        engine.dispose()


def test_amounts_written_before_0005_on_sqlite_read_back_exactly_after_it(tmp_path):
    from decimal import Decimal

    from sqlalchemy import select

    from loansvc.db.models import Material, Product
    from loansvc.migrate import downgrade

    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    upgrade(url, "0004")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for statement in LEGACY_ROWS:
                conn.execute(text(statement))
    finally:
        engine.dispose()
    reals = {"products": (18.5, 0.1, 1234.5678, None, 5), "materials": (0.1, 999999999999.9999)}
    scaled = {"products": (185000, 1000, 12345678, None, 50000), "materials": (1000, 9999999999999999)}
    assert _legacy_values(url) == reals

    upgrade(url, "0005")
    assert _legacy_values(url) == scaled
    downgrade(url, "0004")  # back to the REAL values
    assert _legacy_values(url) == reals

    upgrade(url, "head")
    assert _legacy_values(url) == scaled
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            product = conn.execute(
                select(
                    Product.annual_rate_percent,
                    Product.min_amount,
                    Product.max_amount,
                    Product.installment_multiple,
                    Product.late_fee,
                )
            ).one()
            material = conn.execute(select(Material.unit_cost, Material.quantity_on_hand)).one()
    finally:
        engine.dispose()
    assert list(product) == [Decimal("18.5"), Decimal("0.1"), Decimal("1234.5678"), None, Decimal(5)]
    assert [str(v) for v in product if v is not None] == ["18.5000", "0.1000", "1234.5678", "5.0000"]
    assert list(material) == [Decimal("0.1"), Decimal("999999999999.9999")]


def test_0020_copies_each_loans_report_keys_on_its_payments_and_allocations(tmp_path):
    """Rows written before 0020 get their loan's lender, site, product and currency; down again,
    the copies go."""
    import sqlite3

    from loansvc.migrate import downgrade

    path = tmp_path / "keys.db"
    url = f"sqlite:///{path}"
    upgrade(url, "0019")
    loans = {
        "loan-usd": ("mfi-a", "site-1", "product-a", "USD"),
        "loan-khr": ("mfi-b", "site-2", "product-b", "KHR"),
    }
    # a plain connection: SQLite leaves foreign keys unchecked, so the loans alone stand for the registry
    with sqlite3.connect(path) as conn:
        for n, (loan_id, (lender, site, product, currency)) in enumerate(loans.items()):
            conn.execute(
                "INSERT INTO loans (id, household_id, site_id, product_id, lender_id, currency, amount, term,"
                " purpose, status, submitted_on, submitted_by, submitted_by_key_id, disbursed_amount,"
                " last_event_on, schedule_version, updated_at, created_at) VALUES (?, 'h', ?, ?, ?, ?, 1000,"
                " 12, 'house', 'active', '2026-01-01', 't', 't', 1000, '2026-01-01', 1,"
                " '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')",
                (loan_id, site, product, lender, currency),
            )
            for k in (1, 2):
                conn.execute(
                    "INSERT INTO repayments (id, loan_id, amount, paid_on, reference, created_by, created_at)"
                    " VALUES (?, ?, 90, '2026-02-01', ?, 't', '2026-02-01 00:00:00.000000')",
                    (f"pay-{n}-{k}", loan_id, f"R{k}"),
                )
                conn.execute(
                    "INSERT INTO repayment_allocations (repayment_id, loan_id, number, paid_on, principal,"
                    " interest, fees, penalty) VALUES (?, ?, ?, '2026-02-01', 80, 10, 0, 0)",
                    (f"pay-{n}-{k}", loan_id, k),
                )

    def copies(table: str) -> dict[str, set[tuple]]:
        with sqlite3.connect(path) as conn:
            rows = conn.execute(f"SELECT loan_id, lender_id, site_id, product_id, currency FROM {table}")
            out: dict[str, set[tuple]] = {}
            for loan_id, *keys in rows:
                out.setdefault(loan_id, set()).add(tuple(keys))
            return out

    upgrade(url, "0020")
    for table in ("repayments", "repayment_allocations"):
        assert copies(table) == {loan_id: {keys} for loan_id, keys in loans.items()}, table
    downgrade(url, "0019")
    with sqlite3.connect(path) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(repayments)")}
    assert "lender_id" not in columns and "loan_id" in columns
