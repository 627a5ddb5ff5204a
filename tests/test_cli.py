"""The `loansvc` command on a fresh SQLite file: migrate, manage keys, check openapi.yaml, seed the demo."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text
from typer.testing import CliRunner

from loansvc import cli
from loansvc.auth.service import authenticate
from loansvc.config import get_settings
from loansvc.db.models import ApiKey, Household, Lender, Loan, Repayment, Site
from loansvc.db.session import Database
from loansvc.migrate import alembic_config
from loansvc.registry.schemas import LenderCreate
from loansvc.registry.service import create_lender

runner = CliRunner()
ROLES = {"admin", "loan_officer", "finance_lead", "partner"}


@pytest.fixture()
def cli_db(tmp_path, monkeypatch) -> Iterator[Database]:
    """A fresh SQLite file that the command sees through LOANSVC_DATABASE_URL."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("LOANSVC_DATABASE_URL", url)
    get_settings.cache_clear()
    db = Database(url)
    yield db
    db.engine.dispose()
    get_settings.cache_clear()


def invoke(*args: str):
    return runner.invoke(cli.app, list(args))


@pytest.fixture()
def migrated(cli_db) -> Database:
    result = invoke("db", "upgrade")
    assert result.exit_code == 0, result.output
    return cli_db


@pytest.fixture()
def lender_id(migrated) -> str:
    with migrated.transaction() as session:
        return create_lender(session, LenderCreate(name="Angkor Housing Microfinance", kind="mfi")).id


def _principal(db: Database, key: str):
    with db.transaction() as session:
        return authenticate(session, key)


def test_db_upgrade_migrates_an_empty_file_to_head(cli_db):
    assert inspect(cli_db.engine).get_table_names() == []

    result = invoke("db", "upgrade")

    assert result.exit_code == 0, result.output
    tables = set(inspect(cli_db.engine).get_table_names())
    assert {"lenders", "products", "sites", "households", "api_keys", "alembic_version"} <= tables
    head = ScriptDirectory.from_config(alembic_config(str(cli_db.engine.url))).get_current_head()
    with cli_db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head
    # a second upgrade is a no-op, not an error
    assert invoke("db", "upgrade").exit_code == 0


def test_keys_create_prints_the_key_alone_on_its_last_line(migrated, lender_id):
    result = invoke("keys", "create", "--role", "partner", "--lender", lender_id, "--name", "angkor-api")

    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert " " not in key and len(key) >= 43
    principal = _principal(migrated, key)
    assert principal is not None
    assert (principal.name, principal.role, principal.lender_id) == ("angkor-api", "partner", lender_id)
    # only the hash is stored
    with migrated.transaction() as session:
        stored = session.scalars(select(ApiKey)).one()
        assert key not in {stored.key_hash, stored.prefix}


def test_a_partner_key_needs_its_lender(migrated):
    result = invoke("keys", "create", "--role", "partner", "--name", "lost-partner")

    assert result.exit_code == 2
    assert "lender" in result.stderr
    with migrated.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ApiKey)) == 0


def test_keys_create_refuses_an_unknown_role(migrated):
    result = invoke("keys", "create", "--role", "superuser", "--name", "root")
    assert result.exit_code != 0
    with migrated.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ApiKey)) == 0


def test_keys_list_shows_names_but_never_the_keys(migrated, lender_id):
    officer_key = (
        invoke("keys", "create", "--role", "loan_officer", "--name", "sophea").stdout.strip().splitlines()[-1]
    )
    partner_key = (
        invoke("keys", "create", "--role", "partner", "--lender", lender_id, "--name", "angkor-api")
        .stdout.strip()
        .splitlines()[-1]
    )

    result = invoke("keys", "list")

    assert result.exit_code == 0, result.output
    assert "sophea" in result.stdout and "angkor-api" in result.stdout
    assert officer_key not in result.output and partner_key not in result.output


def test_keys_revoke_stops_the_key(migrated):
    invoke("keys", "create", "--role", "admin", "--name", "staying-admin")  # never the last admin key
    key = (
        invoke("keys", "create", "--role", "admin", "--name", "departing-admin")
        .stdout.strip()
        .splitlines()[-1]
    )
    assert _principal(migrated, key) is not None

    result = invoke("keys", "revoke", "departing-admin")

    assert result.exit_code == 0, result.output
    assert _principal(migrated, key) is None
    listing = invoke("keys", "list").stdout
    assert "departing-admin" in listing and "revoked" in listing


def test_revoking_an_unknown_key_fails(migrated):
    assert invoke("keys", "revoke", "nobody").exit_code != 0


# openapi.yaml ------------------------------------------------------------------------------------


def test_the_committed_openapi_file_is_in_sync():
    result = invoke("openapi", "--check")
    assert result.exit_code == 0, f"{result.output}\nregenerate it with `loansvc openapi`"


def test_openapi_check_catches_a_stale_or_missing_file(tmp_path):
    fresh = tmp_path / "openapi.yaml"
    assert invoke("openapi", "--path", str(fresh)).exit_code == 0
    assert invoke("openapi", "--check", "--path", str(fresh)).exit_code == 0

    stale = tmp_path / "stale.yaml"
    stale.write_text(cli.OPENAPI_PATH.read_text(encoding="utf-8").replace("/v1/households", "/v1/families"))
    assert invoke("openapi", "--check", "--path", str(stale)).exit_code == 1

    assert invoke("openapi", "--check", "--path", str(tmp_path / "missing.yaml")).exit_code == 1


def test_the_openapi_file_documents_the_registry():
    text_ = cli.OPENAPI_PATH.read_text(encoding="utf-8")
    for path in ("/health", "/v1/lenders", "/v1/products/{product_id}", "/v1/households/{household_id}"):
        assert f"{path}:" in text_


# demo --------------------------------------------------------------------------------------------


def _demo_keys(output: str) -> dict[str, str]:
    keys = {}
    for line in output.splitlines():
        parts = line.split()
        if line.startswith("  ") and len(parts) == 2 and parts[0] in ROLES:
            keys[parts[0]] = parts[1]
    return keys


def test_demo_seeds_the_programme_once_and_reissues_its_keys(cli_db):
    first = invoke("demo")
    assert first.exit_code == 0, first.output
    first_keys = _demo_keys(first.stdout)
    assert set(first_keys) == ROLES

    with cli_db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Household)) == 570
        assert session.scalars(select(Site.name)).all() == ["Stung Mean Chey"]
        kinds = Counter(session.scalars(select(Lender.kind)))
        assert kinds["mfi"] == 3 and kinds["materials_bank"] == 1
        mfi_ids = set(session.scalars(select(Lender.id).where(Lender.kind == "mfi")))
        for role, key in first_keys.items():
            principal = authenticate(session, key)
            assert principal is not None and principal.role == role
            if role == "partner":
                assert principal.lender_id in mfi_ids

    second = invoke("demo")
    assert second.exit_code == 0, second.output
    second_keys = _demo_keys(second.stdout)
    assert set(second_keys) == ROLES

    with cli_db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Household)) == 570
        assert session.scalar(select(func.count()).select_from(Site)) == 1
        assert session.scalar(select(func.count()).select_from(Lender)) == sum(kinds.values())
        for role in ROLES:
            assert authenticate(session, first_keys[role]) is None, f"the first {role} key still works"
            assert authenticate(session, second_keys[role]).role == role


def test_demo_households_look_like_the_settlement(cli_db):
    assert invoke("demo").exit_code == 0
    with cli_db.transaction() as session:
        parcels = session.scalars(select(Household.parcel_code)).all()
        assert len(set(parcels)) == 570
        titled = session.scalar(
            select(func.count()).select_from(Household).where(Household.title_number.is_not(None))
        )
        assert titled == 570
        id_poor = session.scalar(
            select(func.count()).select_from(Household).where(Household.idpoor_level > 0)
        )
        # "a fifth ID Poor": between 15 % and 25 % of 570
        assert 85 <= id_poor <= 143


def test_the_command_line_import_records_a_row_dated_like_an_earlier_payment(cli_db, tmp_path):
    """It crashed (TypeError) on a row dated the same day as a payment the loan already had."""
    assert invoke("demo").exit_code == 0
    with cli_db.transaction() as session:
        paid = session.execute(
            select(Repayment.loan_id, Repayment.paid_on, Loan.lender_id, Loan.principal_repaid)
            .join(Loan, Loan.id == Repayment.loan_id)
            .where(Loan.status == "active")
            .order_by(Repayment.paid_on.desc())
            .limit(1)
        ).one()
    file = tmp_path / "same-day.csv"
    file.write_text(f"loan_id,paid_on,amount,reference\n{paid.loan_id},{paid.paid_on},1.00,CLI-SAME-DAY\n")
    result = invoke("import-repayments", str(file), "--lender", paid.lender_id)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"recorded": 1, "duplicates": 0, "rejected": []}
    with cli_db.transaction() as session:
        row = session.scalars(select(Repayment).where(Repayment.reference == "CLI-SAME-DAY")).one()
        assert (row.loan_id, row.paid_on, row.amount) == (paid.loan_id, paid.paid_on, Decimal("1.0000"))
