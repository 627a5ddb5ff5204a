"""Financing plans through HTTP: a loan officer sits with a family on its parcel and asks how it can
build the programme's core house, with which loans, and how much must come from a grant.

The core house of these stories costs 2,500.00 USD from the materials catalog:
  cement 100 bags x 6.50 = 650.00; bricks 5,500 x 0.10 = 550.00; zinc sheets 50 x 12.00 = 600.00
  materials 1,800.00; labour 300 (foundation) + 250 (structure) + 150 (roof) = 700.00
Annuity factor, 18 % a year over 48 months: 0.015 / (1 - 1.015^-48) = 0.0293750. Each schedule's
last installment clears the balance; the ones quoted were worked period by period (interest =
balance x 1.5 % rounded half-even, principal = level - interest), independently of the engine.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal as D

import pytest
from fastapi.testclient import TestClient

from loansvc.config import Settings
from loansvc.main import create_app
from tests.api.helpers import (
    assert_problem,
    create_household,
    create_lender,
    create_product,
    link_household,
)
from tests.api.lending import ELIGIBLE_FINANCES, add_material, business_day, cash_product, lending_world

TODAY = date(2026, 3, 2)

# An ID Poor (level 2) family: 208 garment wage + 92 market vending = 300.00 a month;
# food 150 + water and school 50 = 200.00 a month; no debt, no vulnerability recorded.
POOR_FAMILY = {
    "idpoor_level": 2,
    "vulnerabilities": [],
    "incomes": [
        {"source": "garment wage", "amount": "208", "frequency": "monthly", "currency": "USD"},
        {"source": "market vending", "amount": "92", "frequency": "monthly", "currency": "USD"},
    ],
    "expenses": [
        {"category": "food", "amount": "150", "frequency": "monthly"},
        {"category": "water and school", "amount": "50", "frequency": "monthly"},
    ],
    "existing_debts": [],
}


def core_house(client, officer, code="CORE-24") -> dict:
    for sku, name, unit, cost in (
        ("CEM-50", "cement, 50 kg bag", "bag", "6.50"),
        ("BRK-STD", "fired clay brick", "piece", "0.10"),
        ("ZNC-SHT", "zinc roofing sheet", "sheet", "12.00"),
    ):
        add_material(client, officer, sku, name, unit, cost)
    body = {
        "code": code,
        "name": "Core house, 24 m2",
        "floor_area_m2": "24",
        "currency": "USD",
        "stages": [
            {"stage": "foundation", "labour_cost": "300", "materials": [{"sku": "CEM-50", "quantity": "60"}]},
            {
                "stage": "structure",
                "labour_cost": "250",
                "materials": [{"sku": "CEM-50", "quantity": "40"}, {"sku": "BRK-STD", "quantity": "5500"}],
            },
            {"stage": "roof", "labour_cost": "150", "materials": [{"sku": "ZNC-SHT", "quantity": "50"}]},
        ],
    }
    response = client.post("/v1/housing-models", headers=officer, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["total_cost"] == "2500.00"
    return response.json()


@pytest.fixture()
def world(client, session, monkeypatch):
    business_day(monkeypatch, TODAY)
    world = lending_world(client, session, **POOR_FAMILY)
    world["house"] = core_house(client, world["officer_1"])
    # the MFI's small home loan: 18 %, 250 to 2,000 over 12 to 48 months
    world["small_loan"] = cash_product(client, world["admin"], world["mfi"]["id"], max_amount="2000")
    return world


def plan(client, headers, household_id, **body):
    return client.post(f"/v1/households/{household_id}/financing-plan", headers=headers, json=body)


def money(body: dict, *names: str) -> tuple:
    return tuple(None if body[n] is None else D(body[n]) for n in names)


def test_an_idpoor_family_builds_with_a_partner_loan_materials_in_kind_and_a_grant(client, world):
    family = world["household"]["id"]
    response = plan(
        client, world["officer_1"], family, housing_model_code="CORE-24", product_id=world["small_loan"]["id"]
    )
    assert response.status_code == 200, response.text
    p = response.json()
    assert (p["household_id"], p["housing_model_code"], p["currency"]) == (family, "CORE-24", "USD")
    assert p["cost"] == {"total": "2500.00", "materials": "1800.00", "labour": "700.00"}
    # income 300, expenses 200: surplus 100; capacity min(70 % x 100, 50 % x 300) = 70.00
    assert money(p, "monthly_income", "monthly_debt_service_before", "max_installment") == (
        D("300.00"),
        D("0.00"),
        D("70.00"),
    )
    # the partner loan: the product's 2,000 over its longest term, 48 months (no term was asked);
    # level 2000 x 0.0293750 = 58.75, the last installment 57.92 + 0.87 = 58.79 is the largest;
    # interest 820.04 in all
    partner = p["partner_loan"]
    assert (partner["product_id"], partner["term"], partner["frequency"]) == (
        world["small_loan"]["id"],
        48,
        "monthly",
    )
    assert money(partner, "amount", "installment_amount", "monthly_installment", "total_interest") == (
        D("2000.00"),
        D("58.75"),
        D("58.79"),
        D("820.04"),
    )
    assert D(partner["apr_percent"]) == D("18.0006")  # the rounded installments cost a hair above 18 %
    assert partner["schedule"]["installments"] == 48
    assert (partner["schedule"]["first_due_date"], partner["schedule"]["last_due_date"]) == (
        "2026-04-02",
        "2030-03-02",
    )
    # the materials bank (its product: 0 %, 100 to 2,000 over 6 to 36 months) lends in kind what
    # cash leaves unpaid of the materials: 2,500 - 2,000 = 500 (cash paid the 700 of labour first),
    # within the capacity left, 70.00 - 58.79 = 11.21: 402 over 36 months is level 11.17, last
    # 402 - 35 x 11.17 = 11.05; 403 has a last installment of 11.35 and 404 a level of 11.22
    materials = p["materials_loan"]
    assert (materials["product_id"], materials["term"]) == (world["materials_product"]["id"], 36)
    assert money(materials, "amount", "monthly_installment") == (D("402.00"), D("11.17"))
    # the 98 still unpaid is granted: the family is ID Poor and 98 is within the 1,000 cap
    assert money(p, "grant", "funding_gap") == (D("98.00"), D("0.00"))
    # after: 11.17 + 58.79 = 69.96 a month, 69.96 / 300 = 23.32 % of income
    assert money(p, "monthly_debt_service_after", "dsti_after_percent") == (D("69.96"), D("23.32"))
    # income down 20 %: 240 - 200 - 69.96 = -29.96, so the plan is referred, as is any ID Poor family
    assert (p["decision"], [r["code"] for r in p["reasons"]]) == ("refer", ["IDPOOR_REVIEW", "STRESS_FAILS"])
    assert p["stress"] == [
        {
            "scenario": "income_minus_20pct",
            "dsti_after_percent": "29.15",
            "surplus_after_loan": "-29.96",
            "passes": False,
        }
    ]


def test_the_gap_is_named_when_no_grant_can_close_it(client, session, world):
    # the same family were it not ID Poor: the 98 remains unpaid
    response = client.patch(
        f"/v1/households/{world['household']['id']}", headers=world["officer_1"], json={"idpoor_level": 0}
    )
    assert response.status_code == 200, response.text
    p = plan(
        client,
        world["officer_1"],
        world["household"]["id"],
        housing_model_code="CORE-24",
        product_id=world["small_loan"]["id"],
    ).json()
    assert money(p, "grant", "funding_gap") == (D("0.00"), D("98.00"))
    assert [r["code"] for r in p["reasons"]] == ["STRESS_FAILS", "FUNDING_GAP"]
    assert "USD 98.00" in p["reasons"][-1]["message"]


def test_a_family_with_savings_needs_only_the_partner_loan(client, session, world):
    # the stories' two-earner family: 600 in, 180 out: capacity min(294, 300) = 294.00
    # it saved 1,300: 1,200 to borrow from the MFI's 5,000 product over 48 months:
    # level 1200 x 0.0293750 = 35.25, last 35.28; DSTI 35.28 / 600 = 5.88 %; stress passes
    # (480 - 180 - 35.28 = 264.72), and a female-headed household needs no grant when nothing is unpaid
    family = create_household(client, world["officer_1"], world["site"]["id"], **ELIGIBLE_FINANCES)
    p = plan(
        client,
        world["officer_1"],
        family["id"],
        housing_model_code="CORE-24",
        product_id=world["cash_product"]["id"],
        household_contribution="1300",
    ).json()
    assert money(p, "household_contribution", "max_installment") == (D("1300.00"), D("294.00"))
    assert money(p["partner_loan"], "amount", "monthly_installment") == (D("1200.00"), D("35.28"))
    assert p["materials_loan"] is None
    assert money(p, "grant", "funding_gap", "dsti_after_percent") == (D("0.00"), D("0.00"), D("5.88"))
    assert (p["decision"], p["reasons"]) == ("eligible", [])


def test_a_shorter_term_is_a_smaller_loan_and_the_terms_must_fit_the_product(client, world):
    family = world["household"]["id"]
    # 24 months (factor 0.0499241): 70.00 / 0.0499241 = 1402.1; 1,402 is level 69.99 but its last
    # installment 70.11; 1,401: level 69.94, last 70.05; 1,400: level 69.89, last 70.00, which fits
    p = plan(
        client,
        world["officer_1"],
        family,
        housing_model_code="CORE-24",
        product_id=world["small_loan"]["id"],
        term=24,
    ).json()
    assert p["partner_loan"]["term"] == 24
    assert money(p, "max_loan_amount") == (D("1400.00"),)
    assert money(p["partner_loan"], "amount", "monthly_installment") == (D("1400.00"), D("70.00"))
    # no capacity is left for the materials bank; 1,100 unpaid: the grant's 1,000 cap, and 100 missing
    assert p["materials_loan"] is None
    assert money(p, "grant", "funding_gap") == (D("1000.00"), D("100.00"))
    # 60 months is beyond the product's 12 to 48
    body = assert_problem(
        plan(
            client,
            world["officer_1"],
            family,
            housing_model_code="CORE-24",
            product_id=world["small_loan"]["id"],
            term=60,
        ),
        422,
        "TERM_OUT_OF_RANGE",
    )
    assert body["errors"][0]["loc"] == ["body", "term"]


def test_the_grant_cap_is_the_apps_setting(world, db, database_url):
    # the same 24-month plan as above: 1,100 unpaid after the partner loan of 1,400. An app
    # created with a 600 dollar cap grants 600, and 1,100 - 600 = 500 is still missing
    settings = Settings(database_url=database_url, grant_cap_usd=D("600"))
    with TestClient(create_app(settings, database=db), raise_server_exceptions=False) as capped:
        response = plan(
            capped,
            world["officer_1"],
            world["household"]["id"],
            housing_model_code="CORE-24",
            product_id=world["small_loan"]["id"],
            term=24,
        )
    assert response.status_code == 200, response.text
    assert money(response.json(), "grant", "funding_gap") == (D("600.00"), D("500.00"))


def test_a_partner_plans_only_for_households_that_applied_to_it_and_with_its_own_products(
    client, session, world, admin
):
    family = world["household"]["id"]
    partner = world["partner_1"]
    body = {"housing_model_code": "CORE-24", "product_id": world["small_loan"]["id"]}
    hidden = assert_problem(plan(client, partner, family, **body), 404)
    missing = assert_problem(plan(client, partner, str(uuid.uuid4()), **body), 404)
    assert hidden["code"] == missing["code"] == "HOUSEHOLD_NOT_FOUND"
    link_household(session, family, world["mfi"]["id"])
    assert plan(client, partner, family, **body).status_code == 200
    # another lender's product is as unknown to it as a missing one
    other = create_product(client, admin, create_lender(client, admin)["id"])
    refused = assert_problem(
        plan(client, partner, family, housing_model_code="CORE-24", product_id=other["id"]),
        422,
        "UNKNOWN_PRODUCT",
    )
    assert refused["errors"][0]["loc"] == ["body", "product_id"]


@pytest.mark.parametrize(
    ("change", "status", "code", "loc"),
    [
        (
            {"housing_model_code": "NO-SUCH-HOUSE"},
            422,
            "UNKNOWN_HOUSING_MODEL",
            ["body", "housing_model_code"],
        ),
        ({"product_id": "no-such-product"}, 422, "UNKNOWN_PRODUCT", ["body", "product_id"]),
        (
            {"household_contribution": "2500.01"},
            422,
            "CONTRIBUTION_ABOVE_COST",
            ["body", "household_contribution"],
        ),
        ({"household_contribution": "-5"}, 422, "VALIDATION_ERROR", ["body", "household_contribution"]),
        ({"household_contribution": 10.5}, 422, "VALIDATION_ERROR", ["body", "household_contribution"]),
        ({"term": 0}, 422, "VALIDATION_ERROR", ["body", "term"]),
        (
            {"materials_product_id": "PRODUCT"},
            422,
            "NOT_A_MATERIALS_PRODUCT",
            ["body", "materials_product_id"],
        ),
        ({"grant_cap": "5000"}, 422, "VALIDATION_ERROR", ["body", "grant_cap"]),
    ],
    ids=lambda v: str(v),
)
def test_bad_plan_requests_name_the_field_and_change_nothing(
    client, world, db_state, change, status, code, loc
):
    body = {"housing_model_code": "CORE-24", "product_id": world["small_loan"]["id"], **change}
    if body.get("materials_product_id") == "PRODUCT":
        body["materials_product_id"] = world["small_loan"]["id"]  # an MFI's product, not the bank's
    before = db_state()
    problem = assert_problem(plan(client, world["officer_1"], world["household"]["id"], **body), status, code)
    assert problem["errors"][0]["loc"] == loc
    assert db_state() == before


def test_a_product_in_another_currency_than_the_house_is_refused(client, world):
    riel = cash_product(
        client,
        world["admin"],
        world["mfi"]["id"],
        currency="KHR",
        min_amount="1000000",
        max_amount="20000000",
    )
    body = {"housing_model_code": "CORE-24", "product_id": riel["id"]}
    problem = assert_problem(
        plan(client, world["officer_1"], world["household"]["id"], **body), 422, "CURRENCY_MISMATCH"
    )
    assert problem["errors"][0]["loc"] == ["body", "product_id"]


def test_a_missing_household_is_a_404(client, world):
    body = {"housing_model_code": "CORE-24", "product_id": world["small_loan"]["id"]}
    assert_problem(plan(client, world["officer_1"], "no-such-household", **body), 404, "HOUSEHOLD_NOT_FOUND")
