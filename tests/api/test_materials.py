"""The materials bank: its catalog, stock received at weighted average cost, stock issued in kind to
a family's loan at the cost of the day, and the movements ledger. Figures are worked by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from tests.api.helpers import assert_problem
from tests.api.lending import (
    add_material,
    apply,
    approve,
    business_day,
    deliver,
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
    loan = apply(
        client,
        world["officer_1"],
        world["household"]["id"],
        world["materials_product"]["id"],
        "1200",
        24,
        submitted_on="2025-01-10",
    )
    world["loan"] = approve(client, world["officer_2"], loan["id"], approved_on="2025-01-15")
    return world


def _delivery(lines: dict[str, str], milestone="foundation", on="2025-02-03") -> dict:
    return {
        "kind": "materials",
        "lines": [{"sku": s, "quantity": q} for s, q in lines.items()],
        "milestone": milestone,
        "date": on,
    }


def _disbursements(client, headers, loan_id) -> list[dict]:
    response = client.get(f"/v1/loans/{loan_id}/disbursements", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


# The catalog -----------------------------------------------------------------------------------


def test_a_loan_officer_builds_the_catalog_and_everyone_reads_it(client, world):
    officer = world["officer_1"]
    created = add_material(client, officer, "SAND-M3", "river sand", "m3", "14.00")
    assert {k: created[k] for k in ("sku", "name", "unit", "currency")} == {
        "sku": "SAND-M3",
        "name": "river sand",
        "unit": "m3",
        "currency": "USD",
    }
    assert (D(created["unit_cost"]), D(created["quantity_on_hand"]), D(created["stock_value"])) == (
        D("14.00"),
        D("0"),
        D("0"),
    )
    add_material(client, officer, "CEMENT-50KG", "Portland cement, 50 kg bag", "bag", "6.25")
    for who in ("officer_2", "finance", "partner_1", "admin"):
        one = client.get("/v1/materials/SAND-M3", headers=world[who])
        assert one.status_code == 200, (who, one.text)
        assert one.json()["id"] == created["id"]
        listed = client.get("/v1/materials", headers=world[who]).json()
        assert [m["sku"] for m in listed["items"]] == ["CEMENT-50KG", "SAND-M3"]  # by sku
        assert listed["total"] == 2


def test_a_sku_is_taken_once(client, world):
    add_material(client, world["officer_1"], "SAND-M3", "river sand", "m3", "14.00")
    response = client.post(
        "/v1/materials",
        headers=world["officer_2"],
        json={"sku": "SAND-M3", "name": "sea sand", "unit": "m3", "unit_cost": "9.00"},
    )
    problem = assert_problem(response, 409, "SKU_TAKEN")
    assert "SAND-M3" in problem["detail"]


def test_an_unknown_sku_is_a_404(client, world):
    problem = assert_problem(client.get("/v1/materials/NO-SUCH", headers=world["officer_1"]), 404)
    assert "NO-SUCH" in problem["detail"]
    response = client.post(
        "/v1/materials/NO-SUCH/receipts",
        headers=world["officer_1"],
        json={"quantity": "1", "supplier": "x", "received_on": "2025-01-20"},
    )
    assert_problem(response, 404, "MATERIAL_NOT_FOUND")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sku": "river sand"}, "sku"),  # letters, digits, dot, dash, underscore
        ({"sku": ""}, "sku"),
        ({"unit_cost": "-0.01"}, "unit_cost"),
        ({"unit_cost": 14.5}, "unit_cost"),  # money travels as strings
        ({"currency": "XYZ"}, "currency"),
        ({"name": ""}, "name"),
        ({"colour": "grey"}, "colour"),
    ],
)
def test_a_bad_catalog_line_is_refused(client, world, db_state, change, field):
    body = {"sku": "SAND-M3", "name": "river sand", "unit": "m3", "unit_cost": "14.00", **change}
    before = db_state()
    problem = assert_problem(client.post("/v1/materials", headers=world["officer_1"], json=body), 422)
    assert ["body", field] in [e["loc"] for e in problem["errors"]]
    assert db_state() == before


# Receipts and valuation ------------------------------------------------------------------------


def test_receipts_move_the_unit_cost_to_the_weighted_average(client, world):
    officer = world["officer_1"]
    add_material(client, officer, "CEMENT-50KG", "Portland cement, 50 kg bag", "bag", "6.25")
    # 40 bags without a cost of their own: at the catalog's 6.25 -> 40 x 6.25 = 250.00
    first = receive(client, officer, "CEMENT-50KG", "40", date(2025, 1, 20))
    assert D(first["movement"]["unit_cost"]) == D("6.25")
    assert stock(client, officer, "CEMENT-50KG") == (D("40"), D("6.25"), D("250.00"))
    # 60 bags at 6.50: (40 x 6.25 + 60 x 6.50) / 100 = (250.00 + 390.00) / 100 = 6.40
    second = receive(client, officer, "CEMENT-50KG", "60", date(2025, 2, 1), unit_cost="6.50")
    assert D(second["movement"]["unit_cost"]) == D("6.50")  # the movement keeps what was paid
    assert (D(second["material"]["unit_cost"]), D(second["material"]["quantity_on_hand"])) == (
        D("6.40"),
        D("100"),
    )
    assert stock(client, officer, "CEMENT-50KG") == (D("100"), D("6.40"), D("640.00"))
    # 3 bags at 7.10: (100 x 6.40 + 3 x 7.10) / 103 = 661.30 / 103 = 6.42038... -> 6.4204 (4 places);
    # the stock is worth 103 x 6.4204 = 661.3012 -> 661.30 to the cent
    receive(client, officer, "CEMENT-50KG", "3", date(2025, 2, 2), unit_cost="7.10")
    assert stock(client, officer, "CEMENT-50KG") == (D("103"), D("6.4204"), D("661.30"))


def test_a_first_receipt_with_its_own_cost_sets_the_cost(client, world):
    officer = world["officer_1"]
    add_material(client, officer, "SAND-M3", "river sand", "m3", "14.00")
    # nothing on hand: (0 x 14.00 + 2.5 x 15.50) / 2.5 = 15.50; 2.5 x 15.50 = 38.75
    receive(client, officer, "SAND-M3", "2.5", date(2025, 1, 20), unit_cost="15.50")
    assert stock(client, officer, "SAND-M3") == (D("2.5"), D("15.50"), D("38.75"))


def test_the_stock_value_is_rounded_half_even_to_the_cent(client, world):
    officer = world["officer_1"]
    add_material(client, officer, "BRICK", "fired clay brick", "piece", "0.085")
    # 9 x 0.085 = 0.765: exactly half a cent, which half-even rounds to 0.76 (half-up would say 0.77)
    receive(client, officer, "BRICK", "9", date(2025, 1, 20))
    assert stock(client, officer, "BRICK") == (D("9"), D("0.085"), D("0.76"))
    # 11 x 0.085 = 0.935 -> 0.94 (the even neighbour is up this time)
    receive(client, officer, "BRICK", "2", date(2025, 1, 21))
    assert stock(client, officer, "BRICK") == (D("11"), D("0.085"), D("0.94"))


@pytest.mark.parametrize("quantity", ["0", "-1", "0.00001", 2.5])
def test_a_receipt_needs_a_positive_quantity(client, world, db_state, quantity):
    add_material(client, world["officer_1"], "SAND-M3", "river sand", "m3", "14.00")
    before = db_state()
    response = client.post(
        "/v1/materials/SAND-M3/receipts",
        headers=world["officer_1"],
        json={"quantity": quantity, "supplier": "x", "received_on": "2025-01-20"},
    )
    problem = assert_problem(response, 422, "VALIDATION_ERROR")
    assert ["body", "quantity"] in [e["loc"] for e in problem["errors"]]
    assert db_state() == before


def test_a_receipt_is_not_dated_in_the_future(client, world):
    add_material(client, world["officer_1"], "SAND-M3", "river sand", "m3", "14.00")
    response = client.post(
        "/v1/materials/SAND-M3/receipts",
        headers=world["officer_1"],
        json={"quantity": "1", "supplier": "x", "received_on": "2025-07-01"},  # today is 30 June
    )
    assert_problem(response, 422, "DATE_IN_FUTURE")


# Issues in kind --------------------------------------------------------------------------------


def test_materials_are_issued_at_the_cost_of_the_day_and_the_ledger_shows_every_movement(client, world):
    officer, loan_id = world["officer_1"], world["loan"]["id"]
    add_material(client, officer, "CEMENT-50KG", "Portland cement, 50 kg bag", "bag", "6.25")
    receive(client, officer, "CEMENT-50KG", "40", date(2025, 1, 20))
    receive(client, officer, "CEMENT-50KG", "60", date(2025, 1, 25), unit_cost="6.50")  # -> 6.40
    # 12.5 bags at 6.40 = 80.00
    first = deliver(client, officer, loan_id, {"CEMENT-50KG": "12.5"}, "foundation", date(2025, 2, 3))
    assert [(x["sku"], D(x["quantity"]), D(x["unit_cost"]), D(x["value"])) for x in first["lines"]] == [
        ("CEMENT-50KG", D("12.5"), D("6.40"), D("80.00"))
    ]
    # 100 - 12.5 = 87.5 bags left, 87.5 x 6.40 = 560.00; the issue leaves the unit cost alone
    assert stock(client, officer, "CEMENT-50KG") == (D("87.5"), D("6.40"), D("560.00"))
    # the price rises: 12.5 bags at 7.68 -> (87.5 x 6.40 + 12.5 x 7.68) / 100 = (560 + 96) / 100 = 6.56
    receive(client, officer, "CEMENT-50KG", "12.5", date(2025, 3, 1), unit_cost="7.68")
    assert stock(client, officer, "CEMENT-50KG") == (D("100"), D("6.56"), D("656.00"))
    # 10 March: the foundation passes its inspection, so the structure's materials may go out
    inspect(client, world["officer_2"], loan_id, "foundation", date(2025, 3, 10))
    # the next delivery is valued at 6.56: 10 x 6.56 = 65.60; the first keeps its 6.40
    second = deliver(client, officer, loan_id, {"CEMENT-50KG": "10"}, "structure", date(2025, 3, 20))
    assert (D(second["amount"]), D(second["disbursed_amount"])) == (D("65.60"), D("145.60"))
    listed = _disbursements(client, world["finance"], loan_id)
    assert [(D(d["lines"][0]["unit_cost"]), D(d["amount"])) for d in listed] == [
        (D("6.40"), D("80.00")),
        (D("6.56"), D("65.60")),
    ]
    # the ledger: two receipts, an issue, a receipt, an issue; issues carry their disbursement
    movements = client.get("/v1/materials/CEMENT-50KG/movements", headers=world["finance"])
    assert movements.status_code == 200, movements.text
    assert [
        (m["kind"], D(m["quantity"]), D(m["unit_cost"]), m["occurred_on"], m["disbursement_id"])
        for m in movements.json()["items"]
    ] == [
        ("receipt", D("40"), D("6.25"), "2025-01-20", None),
        ("receipt", D("60"), D("6.50"), "2025-01-25", None),
        ("issue", D("-12.5"), D("6.40"), "2025-02-03", first["id"]),
        ("receipt", D("12.5"), D("7.68"), "2025-03-01", None),
        ("issue", D("-10"), D("6.56"), "2025-03-20", second["id"]),
    ]
    # what the ledger says is what is on hand: 40 + 60 - 12.5 + 12.5 - 10 = 90
    assert sum(D(m["quantity"]) for m in movements.json()["items"]) == D("90")
    assert stock(client, officer, "CEMENT-50KG")[0] == D("90")


def test_the_last_bag_may_be_issued(client, world):
    officer, loan_id = world["officer_1"], world["loan"]["id"]
    add_material(client, officer, "SAND-M3", "river sand", "m3", "14.00")
    receive(client, officer, "SAND-M3", "2.75", date(2025, 1, 20))
    deliver(client, officer, loan_id, {"SAND-M3": "2.75"}, "foundation", date(2025, 2, 3))
    assert stock(client, officer, "SAND-M3") == (D("0"), D("14.00"), D("0"))


def test_insufficient_stock_issues_nothing(client, world, db_state):
    officer, loan_id = world["officer_1"], world["loan"]["id"]
    add_material(client, officer, "CEMENT-50KG", "cement", "bag", "6.25")
    add_material(client, officer, "SAND-M3", "river sand", "m3", "14.00")
    receive(client, officer, "CEMENT-50KG", "50", date(2025, 1, 20))
    receive(client, officer, "SAND-M3", "2", date(2025, 1, 20))
    before = db_state()
    # the cement is there; the sand is 0.5 m3 short: nothing at all leaves the store
    response = client.post(
        f"/v1/loans/{loan_id}/disbursements",
        headers=officer,
        json=_delivery({"CEMENT-50KG": "20", "SAND-M3": "2.5"}),
    )
    problem = assert_problem(response, 409, "INSUFFICIENT_STOCK")
    assert "SAND-M3" in problem["detail"] and "2.5" in problem["detail"]
    assert db_state() == before
    assert stock(client, officer, "CEMENT-50KG") == (D("50"), D("6.25"), D("312.50"))
    assert stock(client, officer, "SAND-M3") == (D("2"), D("14.00"), D("28.00"))
    assert _disbursements(client, officer, loan_id) == []
    loan = client.get(f"/v1/loans/{loan_id}", headers=officer).json()
    assert (loan["status"], D(loan["disbursed_amount"])) == ("approved", D("0"))


def test_a_delivery_beyond_the_approval_issues_nothing(client, world, db_state):
    officer, loan_id = world["officer_1"], world["loan"]["id"]
    add_material(client, officer, "REBAR-BUNDLE", "rebar 10 mm, bundle of 10 bars", "bundle", "5.75")
    receive(client, officer, "REBAR-BUNDLE", "300", date(2025, 1, 20))
    before = db_state()
    # 209 bundles x 5.75 = 1,201.75 > 1,200 approved
    response = client.post(
        f"/v1/loans/{loan_id}/disbursements", headers=officer, json=_delivery({"REBAR-BUNDLE": "209"})
    )
    problem = assert_problem(response, 409, "OVER_DISBURSEMENT")
    assert "1201.75" in problem["detail"]
    assert db_state() == before
    # 208 x 5.75 = 1,196.00 fits
    assert D(
        deliver(client, officer, loan_id, {"REBAR-BUNDLE": "208"}, "foundation", date(2025, 2, 3))["amount"]
    ) == D("1196.00")


@pytest.mark.parametrize(
    ("lines", "status", "code", "loc"),
    [
        (
            [{"sku": "SAND-M3", "quantity": "1"}, {"sku": "GRAVEL", "quantity": "1"}],
            422,
            "UNKNOWN_SKU",
            ["body", "lines", 1, "sku"],
        ),
        ([{"sku": "SAND-M3", "quantity": "0"}], 422, "VALIDATION_ERROR", ["body", "lines", 0, "quantity"]),
        ([{"sku": "SAND-M3", "quantity": "-1.5"}], 422, "VALIDATION_ERROR", ["body", "lines", 0, "quantity"]),
        (
            [{"sku": "SAND-M3", "quantity": "1.00001"}],
            422,
            "VALIDATION_ERROR",
            ["body", "lines", 0, "quantity"],
        ),
        (
            [{"sku": "SAND-M3", "quantity": "1"}, {"sku": "SAND-M3", "quantity": "2"}],
            422,
            "VALIDATION_ERROR",
            ["body"],
        ),
        ([], 422, "VALIDATION_ERROR", ["body"]),
    ],
)
def test_a_bad_delivery_line_is_refused(client, world, db_state, lines, status, code, loc):
    officer, loan_id = world["officer_1"], world["loan"]["id"]
    add_material(client, officer, "SAND-M3", "river sand", "m3", "14.00")
    receive(client, officer, "SAND-M3", "10", date(2025, 1, 20))
    before = db_state()
    body = {"kind": "materials", "lines": lines, "milestone": "foundation", "date": "2025-02-03"}
    problem = assert_problem(
        client.post(f"/v1/loans/{loan_id}/disbursements", headers=officer, json=body), status, code
    )
    assert loc in [e["loc"] for e in problem["errors"]]
    assert db_state() == before


def test_a_material_priced_in_riel_does_not_go_on_a_dollar_loan(client, world):
    officer, loan_id = world["officer_1"], world["loan"]["id"]
    response = client.post(
        "/v1/materials",
        headers=officer,
        json={
            "sku": "TILE-KHR",
            "name": "floor tile",
            "unit": "piece",
            "unit_cost": "2500",
            "currency": "KHR",
        },
    )
    assert response.status_code == 201, response.text
    receive(client, officer, "TILE-KHR", "100", date(2025, 1, 20))
    problem = assert_problem(
        client.post(
            f"/v1/loans/{loan_id}/disbursements", headers=officer, json=_delivery({"TILE-KHR": "10"})
        ),
        422,
        "CURRENCY_MISMATCH",
    )
    assert "KHR" in problem["detail"] and "USD" in problem["detail"]
