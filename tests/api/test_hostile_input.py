"""Hostile input gets a 4xx with a clear message and leaves the database as it was (issue 12, items
6 and 7): absurd rates and dates on the reports, nulls where a value is required, an oversized CSV
cell, money written in anything but plain ASCII decimals, dates outside 1990-2100 anywhere, the
last admin key revoked, a partner probing household ids; and after any error the client's
connection goes on serving.
"""

from __future__ import annotations

import http.client
import threading
import time

import pytest
import uvicorn

from tests.api.helpers import assert_problem, create_household, create_lender, create_product, create_site
from tests.api.lending import ELIGIBLE_FINANCES, application

REPORTS = (
    "/v1/reports/portfolio",
    "/v1/reports/delinquent-loans",
    "/v1/reports/charts/par-trend.png",
    "/v1/reports/charts/aging.png",
)


def _field_error(body: dict, field: str) -> str:
    [message] = [e["msg"] for e in body["errors"] if e["loc"][-1] == field]
    return message


@pytest.mark.parametrize("rate", ["1e-10", "0.0000000001", "0", "-4100", "NaN", "Infinity", "1e400"])
def test_an_absurd_conversion_rate_on_the_portfolio_is_a_422(client, finance, rate):
    response = client.get(f"/v1/reports/portfolio?khr_per_usd={rate}", headers=finance)
    assert_problem(response, 422)


@pytest.mark.parametrize("path", REPORTS)
@pytest.mark.parametrize("as_of", ["0001-01-01", "1989-12-31", "9999-12-31"])
def test_a_report_date_outside_1990_2100_is_a_422(client, finance, path, as_of):
    body = assert_problem(client.get(f"{path}?as_of={as_of}", headers=finance), 422)
    assert "1990-01-01" in _field_error(body, "as_of")


def test_the_report_date_range_includes_its_ends(client, finance):
    assert client.get("/v1/reports/portfolio?as_of=1990-01-01", headers=finance).status_code == 200


@pytest.mark.parametrize(
    "field",
    ["vulnerabilities", "head_name", "household_size", "idpoor_level", "temporary_shelter", "parcel_code"],
)
def test_a_null_where_a_household_needs_a_value_is_a_422(client, officer, db_state, field):
    family = create_household(client, officer, create_site(client, officer)["id"])
    before = db_state()
    response = client.patch(f"/v1/households/{family['id']}", headers=officer, json={field: None})
    body = assert_problem(response, 422)
    assert "cannot be null" in body["detail"]
    assert db_state() == before


def test_a_csv_cell_over_131072_characters_refuses_the_file(client, officer, db_state):
    before = db_state()
    huge = "R" * 131_073
    data = f"loan_id,paid_on,amount,reference\nL-1,2025-01-05,10,{huge}\n".encode()
    response = client.post(
        "/v1/repayments/import", headers=officer, files={"file": ("june.csv", data, "text/csv")}
    )
    body = assert_problem(response, 422, "MALFORMED_CSV")
    assert "line 2" in body["detail"]
    assert db_state() == before


@pytest.mark.parametrize("cell", ["١٢٣", "12_000", "1e3", "0x10", "12,50"])  # (a padded cell is trimmed)
def test_a_csv_amount_that_is_not_a_plain_decimal_is_a_rejected_row(client, officer, db_state, cell):
    before = db_state()
    data = f'loan_id,paid_on,amount,reference\nL-1,2025-01-05,"{cell}",R-1\n'.encode()
    response = client.post(
        "/v1/repayments/import", headers=officer, files={"file": ("june.csv", data, "text/csv")}
    )
    body = assert_problem(response, 422, "ROWS_REJECTED")
    assert body["rejected"][0]["line"] == 2 and "plain decimal" in body["rejected"][0]["reason"]
    assert db_state() == before


@pytest.mark.parametrize("paid_on", ["0001-01-01", "1989-12-31", "2101-01-01", "20250105"])
def test_a_csv_date_outside_the_range_is_a_rejected_row(client, officer, db_state, paid_on):
    before = db_state()
    data = f"loan_id,paid_on,amount,reference\nL-1,{paid_on},10,R-1\n".encode()
    response = client.post(
        "/v1/repayments/import", headers=officer, files={"file": ("june.csv", data, "text/csv")}
    )
    body = assert_problem(response, 422, "ROWS_REJECTED")
    assert "paid_on" in body["rejected"][0]["reason"]
    assert db_state() == before


@pytest.mark.parametrize("amount", ["١٢٣", "12_000", " 12 ", "1e3", "+", ".", "12.5.0", "١٢.٥"])
def test_money_is_plain_ascii_decimal_text(client, officer, db_state, amount):
    before = db_state()
    body = {"sku": "HOSTILE-1", "name": "cement", "unit": "bag", "unit_cost": amount}
    problem = assert_problem(client.post("/v1/materials", headers=officer, json=body), 422)
    assert "plain decimal" in _field_error(problem, "unit_cost")
    assert db_state() == before


def test_plain_decimals_still_pass(client, officer):
    body = {"sku": "PLAIN-1", "name": "cement", "unit": "bag", "unit_cost": "6.25"}
    assert client.post("/v1/materials", headers=officer, json=body).status_code == 201


@pytest.mark.parametrize("when", ["0001-01-01", "1989-12-31", "2101-01-01"])
def test_dates_outside_1990_2100_are_refused_on_every_input(client, officer, db_state, when):
    family = create_household(client, officer, create_site(client, officer)["id"])
    before = db_state()
    simulate = {
        "principal": "3000",
        "currency": "USD",
        "annual_rate_percent": "18",
        "term": 36,
        "disbursement_date": when,
    }
    problem = assert_problem(client.post("/v1/schedules/simulate", headers=officer, json=simulate), 422)
    assert "1990-01-01" in _field_error(problem, "disbursement_date")
    consent = {"lender_id": family["id"], "given_on": when, "method": "signed_form"}
    response = client.post(f"/v1/households/{family['id']}/consents", headers=officer, json=consent)
    assert "1990-01-01" in _field_error(assert_problem(response, 422), "given_on")
    for path in (f"/v1/loans/{family['id']}/arrears", f"/v1/loans/{family['id']}/schedule"):
        problem = assert_problem(client.get(f"{path}?as_of={when}", headers=officer), 422)
        assert "1990-01-01" in _field_error(problem, "as_of")
    assert db_state() == before


def test_the_last_active_admin_key_cannot_be_revoked(client, make_key, session, db_state):
    from loansvc.auth.service import list_keys

    admin = make_key("admin")
    for key in list_keys(session):  # the suite's other admin keys: this test's is the only one left
        if key.role == "admin" and key.revoked_at is None and key.name != "test-admin-1":
            key.revoked_at = key.created_at
    session.commit()
    before = db_state()
    body = assert_problem(client.delete("/v1/api-keys/test-admin-1", headers=admin), 409, "LAST_ADMIN_KEY")
    assert "last active admin key" in body["detail"]
    assert db_state() == before
    # with a second admin key, the first can go (and then the second is the last)
    second = client.post("/v1/api-keys", headers=admin, json={"name": "ops-2", "role": "admin"}).json()
    assert client.delete("/v1/api-keys/test-admin-1", headers=admin).status_code == 200
    ops = {"Authorization": f"Bearer {second['key']}"}
    assert_problem(client.delete("/v1/api-keys/ops-2", headers=ops), 409, "LAST_ADMIN_KEY")


def test_a_partner_learns_nothing_about_households_it_may_not_see(client, admin, officer, make_key, db_state):
    mfi = create_lender(client, admin)
    product = create_product(client, admin, mfi["id"])
    partner = make_key("partner", mfi["id"])
    hidden = create_household(client, officer, create_site(client, officer)["id"], **ELIGIBLE_FINANCES)
    before = db_state()
    answers = []
    for household_id in (hidden["id"], "00000000-0000-4000-8000-000000000000"):
        body = application(household_id, product["id"], "1000", 12, with_consent=False)
        loan = client.post("/v1/loans", headers=partner, json=body)
        assess = client.post(
            "/v1/affordability/assess",
            headers=partner,
            json={
                "household_id": household_id,
                "loan": {"product_id": product["id"], "amount": "1000", "term": 12},
            },
        )
        seen = client.get(f"/v1/households/{household_id}", headers=partner)
        plan = client.post(
            f"/v1/households/{household_id}/financing-plan",
            headers=partner,
            json={"housing_model_code": "CORE-24", "product_id": product["id"]},
        )
        answers.append(
            [
                (r.status_code, r.json().get("code"), r.json().get("detail", "").replace(household_id, "ID"))
                for r in (loan, assess, seen, plan)
            ]
        )
    assert answers[0] == answers[1], answers
    assert [a[:2] for a in answers[0]] == [
        (422, "UNKNOWN_HOUSEHOLD"),  # the application
        (422, "UNKNOWN_HOUSEHOLD"),  # the assessment
        (404, "HOUSEHOLD_NOT_FOUND"),  # the file
        (404, "HOUSEHOLD_NOT_FOUND"),  # the financing plan
    ], answers[0]
    assert db_state() == before


@pytest.fixture()
def server(app):
    """The app behind a real uvicorn on a free loopback port, for what only a real connection shows."""

    def explode():
        raise RuntimeError("a bug")

    app.add_api_route("/test-only/explode", explode, methods=["GET"])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.02)
    port = instance.servers[0].sockets[0].getsockname()[1]
    yield port
    instance.should_exit = True
    thread.join(timeout=10)


def test_after_any_error_the_connection_goes_on_serving(server, admin):
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    json_body = {**admin, "content-type": "application/json"}
    errors = [
        ("GET", "/test-only/explode", None, {}, 500),
        ("POST", "/v1/lenders", b"{bad", json_body, 400),
        ("GET", "/v1/lenders", None, {}, 401),
        ("POST", "/v1/lenders", b'{"name": "' + b"x" * 2_000_000 + b'"}', json_body, 413),
        ("GET", "/v1/reports/portfolio?khr_per_usd=1e-10", None, admin, 422),
        ("GET", "/v1/no-such-thing", None, admin, 404),
    ]
    sockets = set()
    for method, path, body, headers, status in errors:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        assert response.status == status, (path, response.status)
        assert response.getheader("connection") != "close"
        connection.request("GET", "/health")
        after = connection.getresponse()
        assert after.status == 200 and after.read()
        sockets.add(id(connection.sock))
    assert len(sockets) == 1  # one connection served all of them
    connection.close()
