"""The officer's forms end to end through the app (no browser, each test rolled back): receiving
stock, issuing materials to a loan by stage, recording an assessment, a refused edit. Each form
reaches the same service as the API, so the API reads back what the page did."""

from __future__ import annotations

from datetime import date

import pytest

from tests.api.lending import add_material, apply, approve, business_day, lending_world

TODAY = date(2025, 2, 20)


@pytest.fixture()
def world(client, session, monkeypatch):
    business_day(monkeypatch, TODAY)
    return lending_world(client, session)


def _token(html: str) -> str:
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def _sign_in(client, headers: dict) -> str:
    """Sign the client's session in with this key; the session's CSRF token."""
    key = headers["Authorization"].removeprefix("Bearer ")
    done = client.post("/ui/login", data={"csrf_token": _token(client.get("/ui/login").text), "api_key": key})
    assert done.status_code == 200, done.text  # followed to the first page
    return _token(done.text)


def _stock(client, officer, sku: str) -> str:
    return client.get(f"/v1/materials/{sku}", headers=officer).json()["quantity_on_hand"]


def test_stock_received_then_issued_to_a_materials_loan_for_its_stage(client, world):
    officer = world["officer_1"]
    add_material(client, officer, "CEMENT-50KG", "Portland cement, 50 kg bag", "bag", "6.25")
    token = _sign_in(client, officer)
    receipt = {
        "csrf_token": token,
        "idempotency_key": "ui-receipt-1",
        "sku": "CEMENT-50KG",
        "quantity": "500",
        "supplier": "Mean Chey building supplies",
        "received_on": "2025-02-01",
    }
    done = client.post("/ui/materials/receipts", data=receipt, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/ui/materials#stock"
    assert _stock(client, officer, "CEMENT-50KG") == "500.00"
    # the same form sent twice (a double click): received once
    assert client.post("/ui/materials/receipts", data=receipt, follow_redirects=False).status_code == 303
    assert _stock(client, officer, "CEMENT-50KG") == "500.00"

    # 1,200 in kind, applied for on 10 January and approved on 15 January
    product_id = world["materials_product"]["id"]
    loan = apply(client, officer, world["household"]["id"], product_id, "1200", 24, submitted_on="2025-01-10")
    approve(client, world["officer_2"], loan["id"], approved_on="2025-01-15")
    issue = {
        "csrf_token": token,
        "idempotency_key": "ui-issue-1",
        "loan_id": loan["id"],
        "milestone": "foundation",
        "date": "2025-02-03",
        "lines[0].sku": "CEMENT-50KG",
        "lines[0].quantity": "30",
        "lines[1].sku": "",
        "lines[1].quantity": "",
    }
    done = client.post("/ui/materials/issues", data=issue, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/ui/loans/{loan['id']}#stages"
    # 30 bags x 6.25 = 187.50 disbursed in kind; 500 - 30 = 470 left
    given = client.get(f"/v1/loans/{loan['id']}/disbursements", headers=officer).json()["items"]
    assert [(d["kind"], d["milestone"], d["amount"]) for d in given] == [
        ("materials", "foundation", "187.50")
    ]
    assert _stock(client, officer, "CEMENT-50KG") == "470.00"
    page = client.get(f"/ui/loans/{loan['id']}")
    assert 'data-field="funded_amount" data-value="187.50"' in page.text

    # the roof before the structure: the service's refusal, shown on the form, nothing moved
    refused = client.post(
        "/ui/materials/issues",
        data={**issue, "idempotency_key": "ui-issue-2", "milestone": "roof", "date": "2025-02-04"},
    )
    assert refused.status_code == 422
    assert 'data-value="STAGE_OUT_OF_ORDER"' in refused.text
    assert _stock(client, officer, "CEMENT-50KG") == "470.00"


def test_an_assessment_recorded_from_the_page_is_on_the_household_file(client, world):
    household, product = world["household"], world["cash_product"]
    token = _sign_in(client, world["officer_1"])
    form = {
        "csrf_token": token,
        "action": "record",
        "loan.product_id": product["id"],
        "loan.amount": "1000",
        "loan.term": "12",
        "currency": "",
    }
    done = client.post(f"/ui/households/{household['id']}/affordability", data=form, follow_redirects=False)
    assert done.status_code == 303
    stored = client.get(f"/v1/households/{household['id']}/assessments", headers=world["officer_1"]).json()[
        "items"
    ]
    assert len(stored) == 1
    assert done.headers["location"] == f"/ui/households/{household['id']}#assessment-{stored[0]['id']}"
    assert stored[0]["product_id"] == product["id"] and stored[0]["result"]["currency"] == "USD"
    page = client.get(done.headers["location"])
    assert f'id="assessment-{stored[0]["id"]}"' in page.text
    assert "Assessment recorded." in page.text or "បានកត់ត្រាការវាយតម្លៃ។" in page.text


def test_a_refused_edit_shows_the_field_and_changes_nothing(client, world, db_state):
    household = world["household"]
    token = _sign_in(client, world["officer_1"])
    before = db_state()
    refused = client.post(
        f"/ui/households/{household['id']}/finances",
        data={
            "csrf_token": token,
            "incomes[0].source": "garment wage",
            "incomes[0].amount": "three hundred",
            "incomes[0].frequency": "monthly",
            "incomes[0].currency": "USD",
        },
    )
    assert refused.status_code == 422
    assert 'id="incomes-0-amount" name="incomes[0].amount" type="text" value="three hundred"' in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert db_state() == before


def test_a_partner_has_no_officer_only_form(client, world):
    token = _sign_in(client, world["partner_1"])
    hidden = client.post(
        f"/ui/households/{world['household']['id']}/finances",
        data={"csrf_token": token, "incomes[0].source": "x", "incomes[0].amount": "1"},
    )
    assert hidden.status_code == 404  # as a page its role does not open
    assert client.get("/ui/materials").status_code == 200
    assert "/ui/materials/receipts" not in client.get("/ui/materials").text
