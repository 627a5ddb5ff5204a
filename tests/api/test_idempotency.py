"""Idempotency-Key on money- and stock-moving requests: a retry with the same key and body gets the
first answer and moves nothing; the same key with another body is refused; keys belong to an API key.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import select, update

from loansvc.db.models import IdempotencyRecord
from loansvc.web.idempotency import purge_expired
from tests.api.helpers import assert_problem
from tests.api.lending import (
    add_material,
    apply,
    approve,
    business_day,
    inspect,
    lending_world,
    receive,
    stock,
)

TODAY = date(2025, 6, 30)


@pytest.fixture()
def world(client, session, monkeypatch):
    business_day(monkeypatch, TODAY)
    world = lending_world(client, session)
    family = world["household"]["id"]
    cash = apply(
        client, world["partner_1"], family, world["cash_product"]["id"], "3000", 24, submitted_on="2025-04-07"
    )
    world["cash_loan"] = approve(client, world["partner_2"], cash["id"], approved_on="2025-04-10")
    kind = apply(
        client,
        world["officer_1"],
        family,
        world["materials_product"]["id"],
        "1200",
        24,
        submitted_on="2025-01-10",
    )
    world["materials_loan"] = approve(client, world["officer_2"], kind["id"], approved_on="2025-01-15")
    add_material(client, world["officer_1"], "CEMENT-50KG", "Portland cement, 50 kg bag", "bag", "6.25")
    receive(client, world["officer_1"], "CEMENT-50KG", "100", date(2025, 1, 20))
    return world


def _tranche(amount="1000", milestone="foundation", on="2025-04-15"):
    return {"kind": "cash", "amount": amount, "milestone": milestone, "date": on}


def _post(client, headers, path, body, key):
    return client.post(path, headers={**headers, "Idempotency-Key": key}, json=body)


def _loan(client, headers, loan_id):
    return client.get(f"/v1/loans/{loan_id}", headers=headers).json()


def _disbursements(client, headers, loan_id):
    return client.get(f"/v1/loans/{loan_id}/disbursements", headers=headers).json()["items"]


def test_a_retried_tranche_is_released_once(client, world, db_state):
    partner, loan_id = world["partner_1"], world["cash_loan"]["id"]
    path = f"/v1/loans/{loan_id}/disbursements"
    first = _post(client, partner, path, _tranche(), "tranche-1-foundation")
    assert first.status_code == 201, first.text
    after_first = db_state()
    # the connection dropped; the MFI's system sends the same request again, twice
    for _ in range(2):
        again = _post(client, partner, path, _tranche(), "tranche-1-foundation")
        assert (again.status_code, again.json()) == (first.status_code, first.json())
        assert again.headers.get("idempotent-replayed") == "true"
    assert db_state() == after_first
    assert len(_disbursements(client, partner, loan_id)) == 1
    assert D(_loan(client, partner, loan_id)["disbursed_amount"]) == D("1000")
    history = client.get(f"/v1/loans/{loan_id}/history", headers=partner).json()["items"]
    assert [e["action"] for e in history].count("disbursed_cash") == 1


def test_a_retried_delivery_issues_the_stock_once(client, world, db_state):
    officer, loan_id = world["officer_1"], world["materials_loan"]["id"]
    path = f"/v1/loans/{loan_id}/disbursements"
    body = {
        "kind": "materials",
        "lines": [{"sku": "CEMENT-50KG", "quantity": "12.5"}],
        "milestone": "foundation",
        "date": "2025-02-03",
    }
    first = _post(client, officer, path, body, "delivery-0203")
    assert first.status_code == 201, first.text
    after_first = db_state()
    again = _post(client, officer, path, body, "delivery-0203")
    assert (again.status_code, again.json()) == (201, first.json())
    assert db_state() == after_first
    # 100 - 12.5 = 87.5 bags, once; 87.5 x 6.25 = 546.875 -> 546.88
    assert stock(client, officer, "CEMENT-50KG") == (D("87.5"), D("6.25"), D("546.88"))
    # valued once: 12.5 x 6.25 = 78.125 -> 78.12 (half-even)
    assert D(_loan(client, officer, loan_id)["disbursed_amount"]) == D("78.12")


def test_a_retried_receipt_adds_the_stock_once(client, world, db_state):
    officer = world["officer_1"]
    body = {
        "quantity": "40",
        "unit_cost": "6.50",
        "supplier": "Mean Chey supplies",
        "received_on": "2025-02-01",
    }
    first = _post(client, officer, "/v1/materials/CEMENT-50KG/receipts", body, "invoice-2025-0417")
    assert first.status_code == 201, first.text
    after_first = db_state()
    again = _post(client, officer, "/v1/materials/CEMENT-50KG/receipts", body, "invoice-2025-0417")
    assert (again.status_code, again.json()) == (201, first.json())
    assert db_state() == after_first
    # once: (100 x 6.25 + 40 x 6.50) / 140 = (625 + 260) / 140 = 885 / 140 = 6.3214285... -> 6.3214
    assert stock(client, officer, "CEMENT-50KG") == (
        D("140"),
        D("6.3214"),
        D("885.00"),
    )  # 140 x 6.3214 = 884.996
    receipts = [
        m
        for m in client.get("/v1/materials/CEMENT-50KG/movements", headers=officer).json()["items"]
        if m["kind"] == "receipt"
    ]
    assert len(receipts) == 2  # the opening one and this one


def test_the_same_key_with_another_body_is_refused(client, world, db_state):
    partner, loan_id = world["partner_1"], world["cash_loan"]["id"]
    path = f"/v1/loans/{loan_id}/disbursements"
    assert _post(client, partner, path, _tranche(), "tranche-1").status_code == 201
    before = db_state()
    for body in (_tranche(amount="999"), _tranche(on="2025-04-16"), _tranche(milestone="structure")):
        problem = assert_problem(
            _post(client, partner, path, body, "tranche-1"), 409, "IDEMPOTENCY_KEY_REUSED"
        )
        assert "different request" in problem["detail"]
    assert db_state() == before


def test_a_key_spent_on_one_endpoint_is_not_reused_on_another(client, world, db_state):
    officer = world["officer_1"]
    delivery = {
        "kind": "materials",
        "lines": [{"sku": "CEMENT-50KG", "quantity": "2"}],
        "milestone": "foundation",
        "date": "2025-02-03",
    }
    path = f"/v1/loans/{world['materials_loan']['id']}/disbursements"
    assert _post(client, officer, path, delivery, "monday-1").status_code == 201
    before = db_state()
    receipt = {"quantity": "2", "supplier": "x", "received_on": "2025-02-03"}
    assert_problem(
        _post(client, officer, "/v1/materials/CEMENT-50KG/receipts", receipt, "monday-1"),
        409,
        "IDEMPOTENCY_KEY_REUSED",
    )
    assert db_state() == before


def test_keys_belong_to_the_api_key_that_sent_them(client, world):
    loan_id = world["cash_loan"]["id"]
    path = f"/v1/loans/{loan_id}/disbursements"
    mine = _post(client, world["partner_1"], path, _tranche("600"), "2025-04-15-a")
    assert mine.status_code == 201, mine.text
    # the branch manager's system happens to use the same key: it is a request of its own
    theirs = _post(client, world["partner_2"], path, _tranche("400"), "2025-04-15-a")
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["id"] != mine.json()["id"]
    assert D(theirs.json()["disbursed_amount"]) == D("1000")  # 600 + 400
    assert len(_disbursements(client, world["partner_1"], loan_id)) == 2


def test_a_refused_request_is_not_remembered(client, world):
    partner, loan_id = world["partner_1"], world["cash_loan"]["id"]
    path = f"/v1/loans/{loan_id}/disbursements"
    assert _post(client, partner, path, _tranche(), "t1").status_code == 201
    # the structure tranche is refused until the foundation is inspected ...
    assert_problem(
        _post(client, partner, path, _tranche("1000", "structure", "2025-05-25"), "t2"),
        409,
        "INSPECTION_REQUIRED",
    )
    inspect(client, world["partner_2"], loan_id, "foundation", date(2025, 5, 20))
    # ... and the same request, with the same key, goes through once it passed: the refusal moved
    # nothing, so there was nothing to replay
    retried = _post(client, partner, path, _tranche("1000", "structure", "2025-05-25"), "t2")
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert D(retried.json()["disbursed_amount"]) == D("2000")


def test_an_overlong_key_is_refused(client, world, db_state):
    before = db_state()
    response = _post(
        client,
        world["partner_1"],
        f"/v1/loans/{world['cash_loan']['id']}/disbursements",
        _tranche(),
        "k" * 201,
    )
    assert_problem(response, 422)
    assert db_state() == before


def test_keys_are_kept_for_at_least_30_days(client, world, session):
    partner, loan_id = world["partner_1"], world["cash_loan"]["id"]
    path = f"/v1/loans/{loan_id}/disbursements"
    assert _post(client, partner, path, _tranche("500"), "old-key").status_code == 201
    assert _post(client, partner, path, _tranche("500"), "recent-key").status_code == 201
    now = datetime.now(UTC)
    session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.idempotency_key == "old-key")
        .values(created_at=now - timedelta(days=31))
    )
    session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.idempotency_key == "recent-key")
        .values(created_at=now - timedelta(days=29))
    )
    # asking to forget after a week still keeps a month
    assert purge_expired(session, days=7) == 1
    session.commit()
    kept = session.scalars(select(IdempotencyRecord.idempotency_key)).all()
    assert "recent-key" in kept and "old-key" not in kept
    # a 29-day-old retry is still answered from memory
    again = _post(client, partner, path, _tranche("500"), "recent-key")
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
