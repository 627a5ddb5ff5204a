"""Personal data never reaches a log line (issue 12, item 5): a database error on a household write
(whose text quotes the row: the family's name and phone) and a crash inside one are answered and
logged with the request id and the error's type only; the request log carries no key, query string
or name; the engine hides statement parameters; a CLI crash prints no local variables.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from loansvc import cli
from loansvc.auth.service import hash_key
from loansvc.registry import repository, service
from tests.api.helpers import assert_problem, create_site, household_body

NAME, PHONE, TITLE = "Chan Sophea Leak", "099 888 777", "PP-MC-2024-LEAK1"


@pytest.fixture()
def logs(caplog):
    caplog.set_level(logging.DEBUG)  # every logger, every level: SQLAlchemy's too
    return caplog


def _secrets(headers: dict) -> list[str]:
    key = headers["Authorization"].removeprefix("Bearer ")
    return [NAME, "Chan Sophea", PHONE, "099888777", TITLE, key, key[:10], hash_key(key)]


def _assert_clean(logs, headers: dict) -> None:
    written = logs.text + "".join(str(r.args) for r in logs.records)
    for secret in _secrets(headers):
        assert secret not in written, secret


def test_a_database_error_on_a_household_write_logs_no_personal_data(
    client, officer, logs, db_state, monkeypatch
):
    site = create_site(client, officer)
    before = db_state()
    real = service._search_text

    def size_the_database_refuses(household):
        household.household_size = 0  # past the schema's check: CHECK (household_size >= 1) refuses the row
        return real(household)

    monkeypatch.setattr(service, "_search_text", size_the_database_refuses)
    body = household_body(site["id"], head_name=NAME, phone=PHONE, title_number=TITLE)
    response = client.post("/v1/households", headers=officer, json=body)
    # PostgreSQL's error text holds "Failing row contains (..., Chan Sophea Leak, 099 888 777, ...)"
    assert_problem(response, 409, "CONFLICT")
    assert NAME not in response.text and PHONE not in response.text
    assert db_state() == before
    _assert_clean(logs, officer)
    assert any('"status": 409' in r.getMessage() for r in logs.records if r.name == "loansvc.requests")


def test_a_crash_on_a_household_write_logs_its_type_and_request_id_only(
    client, officer, logs, db_state, monkeypatch
):
    site = create_site(client, officer)
    before = db_state()

    def broken_query(session, site_id, parcel_code, other_than=None):
        # a query that fails, with the family's data written into its SQL text
        session.execute(
            text(f"SELECT head_name FROM no_such_table WHERE head_name = '{NAME}' AND phone = '{PHONE}'")
        )

    monkeypatch.setattr(repository, "parcel_taken", broken_query)
    body = household_body(site["id"], head_name=NAME, phone=PHONE, title_number=TITLE)
    response = client.post("/v1/households", headers={**officer, "X-Request-ID": "crash-7"}, json=body)
    assert_problem(response, 500, "INTERNAL_ERROR")
    assert db_state() == before
    _assert_clean(logs, officer)
    [crash] = [r.getMessage() for r in logs.records if '"event": "crash"' in r.getMessage()]
    assert '"request_id": "crash-7"' in crash
    assert "sqlalchemy.exc." in crash  # OperationalError on SQLite, ProgrammingError on PostgreSQL
    assert "no_such_table" not in crash and "SELECT" not in crash


def test_the_request_log_carries_no_key_query_or_name(client, officer, logs):
    site = create_site(client, officer)
    client.post(
        "/v1/households", headers=officer, json=household_body(site["id"], head_name=NAME, phone=PHONE)
    )
    client.get(f"/v1/households?q={NAME}", headers=officer)
    client.get("/v1/households", headers={"Authorization": "Bearer lsk_not-a-key-0123456789"})
    _assert_clean(logs, officer)
    assert "lsk_not-a-key" not in logs.text
    routes = [r.getMessage() for r in logs.records if r.name == "loansvc.requests"]
    assert any('"route": "/v1/households"' in line for line in routes)


def test_the_engine_hides_statement_parameters(app):
    assert app.state.db.engine.hide_parameters


def test_a_cli_crash_shows_no_local_variables():
    assert cli.app.pretty_exceptions_show_locals is False
