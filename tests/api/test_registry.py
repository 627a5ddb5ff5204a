"""The registry over HTTP: lenders, their products, sites and the households on their parcels."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import pytest

from tests.api.helpers import (
    assert_problem,
    create_household,
    create_lender,
    create_product,
    create_site,
    household_body,
    lender_body,
    product_body,
    site_body,
)


def _is_page(body, *, limit: int, offset: int) -> None:
    assert set(body) == {"items", "total", "limit", "offset"}
    assert body["limit"] == limit and body["offset"] == offset
    assert isinstance(body["items"], list) and isinstance(body["total"], int)


def _lines(lines: list[dict]) -> list[dict]:
    """Finance lines with amounts compared as numbers ("10.5" and "10.50" are the same money)."""
    return [{k: Decimal(v) if k == "amount" else v for k, v in line.items()} for line in lines]


# Lenders -------------------------------------------------------------------------------------------


def test_admin_registers_a_lender_and_everyone_reads_it(client, admin, finance):
    response = client.post(
        "/v1/lenders",
        headers=admin,
        json={"name": "Mekong Home Finance", "kind": "mfi", "default_currency": "KHR"},
    )
    assert response.status_code == 201
    lender = response.json()
    assert isinstance(lender["id"], str) and lender["id"]
    assert (lender["name"], lender["kind"], lender["default_currency"]) == (
        "Mekong Home Finance",
        "mfi",
        "KHR",
    )

    fetched = client.get(f"/v1/lenders/{lender['id']}", headers=finance)
    assert fetched.status_code == 200
    assert fetched.json()["name"] == "Mekong Home Finance"

    listed = client.get("/v1/lenders", headers=finance).json()
    _is_page(listed, limit=50, offset=0)
    assert lender["id"] in {item["id"] for item in listed["items"]}


def test_a_lender_defaults_to_usd_and_may_be_the_materials_bank(client, admin):
    response = client.post(
        "/v1/lenders", headers=admin, json={"name": "Programme materials bank", "kind": "materials_bank"}
    )
    assert response.status_code == 201
    assert response.json()["default_currency"] == "USD"
    assert response.json()["kind"] == "materials_bank"


def test_an_unknown_lender_is_a_404(client, admin):
    assert_problem(client.get(f"/v1/lenders/{uuid.uuid4()}", headers=admin), 404)


def test_a_lender_name_is_taken_once(client, admin):
    create_lender(client, admin, name="Angkor Housing Microfinance")
    assert_problem(
        client.post("/v1/lenders", headers=admin, json=lender_body(name="Angkor Housing Microfinance")), 409
    )


# Products ------------------------------------------------------------------------------------------


def test_a_product_keeps_its_terms_with_money_and_rates_as_strings(client, admin):
    lender = create_lender(client, admin)
    body = product_body(
        lender["id"],
        name="Home improvement loan",
        annual_rate_percent="17.5",
        min_amount="250.50",
        max_amount="5000",
        fees=[
            {"name": "administration", "timing": "upfront", "percent": "1.5"},
            {"name": "insurance", "timing": "per_installment", "amount": "2.25"},
        ],
        installment_multiple="0.50",
    )
    response = client.post("/v1/products", headers=admin, json=body)
    assert response.status_code == 201, response.text
    created = response.json()

    for product in (created, client.get(f"/v1/products/{created['id']}", headers=admin).json()):
        assert isinstance(product["id"], str)
        assert product["lender_id"] == lender["id"]
        for field in ("annual_rate_percent", "min_amount", "max_amount", "installment_multiple"):
            assert isinstance(product[field], str), f"{field} must travel as a string"
        assert Decimal(product["annual_rate_percent"]) == Decimal("17.5")
        assert Decimal(product["min_amount"]) == Decimal("250.50")
        assert Decimal(product["max_amount"]) == Decimal("5000")
        assert Decimal(product["installment_multiple"]) == Decimal("0.5")
        assert (product["min_term"], product["max_term"]) == (12, 48)
        assert product["frequency"] == "monthly"
        admin_fee, insurance = product["fees"]
        assert admin_fee["name"] == "administration" and admin_fee["timing"] == "upfront"
        assert Decimal(admin_fee["percent"]) == Decimal("1.5") and admin_fee.get("amount") is None
        assert insurance["timing"] == "per_installment"
        assert Decimal(insurance["amount"]) == Decimal("2.25") and insurance.get("percent") is None


def test_a_fee_has_an_amount_or_a_percent_not_both(client, admin):
    lender = create_lender(client, admin)
    both = product_body(lender["id"], fees=[{"name": "admin", "amount": "5", "percent": "1"}])
    neither = product_body(lender["id"], fees=[{"name": "admin"}])
    assert_problem(client.post("/v1/products", headers=admin, json=both), 422)
    assert_problem(client.post("/v1/products", headers=admin, json=neither), 422)


def test_a_riel_product_takes_whole_riel(client, admin):
    lender = create_lender(client, admin, default_currency="KHR")
    product = create_product(
        client,
        admin,
        lender["id"],
        currency="KHR",
        min_amount="1000000",
        max_amount="20000000",
        installment_multiple="100",
    )
    assert product["currency"] == "KHR"
    assert Decimal(product["max_amount"]) == Decimal("20000000")


def test_a_product_name_is_unique_per_lender_only(client, admin):
    angkor = create_lender(client, admin)
    mekong = create_lender(client, admin)
    create_product(client, admin, angkor["id"], name="Home building loan (USD)")
    # another lender may use the same name
    create_product(client, admin, mekong["id"], name="Home building loan (USD)")
    duplicate = product_body(angkor["id"], name="Home building loan (USD)")
    assert_problem(client.post("/v1/products", headers=admin, json=duplicate), 409)


def test_products_list_and_filter_by_lender(client, admin, finance):
    angkor = create_lender(client, admin)
    mekong = create_lender(client, admin)
    angkor_products = {create_product(client, admin, angkor["id"])["id"] for _ in range(2)}
    create_product(client, admin, mekong["id"])

    filtered = client.get("/v1/products", headers=finance, params={"lender_id": angkor["id"]}).json()
    _is_page(filtered, limit=50, offset=0)
    assert {p["id"] for p in filtered["items"]} == angkor_products
    assert filtered["total"] == 2


def test_an_unknown_product_is_a_404(client, admin):
    assert_problem(client.get(f"/v1/products/{uuid.uuid4()}", headers=admin), 404)


# Sites ---------------------------------------------------------------------------------------------


def test_a_loan_officer_registers_a_site(client, officer, finance):
    response = client.post(
        "/v1/sites",
        headers=officer,
        json={"name": "Stung Mean Chey", "district": "Mean Chey", "city": "Phnom Penh"},
    )
    assert response.status_code == 201
    site = response.json()
    assert isinstance(site["id"], str)
    assert (site["name"], site["district"], site["city"]) == ("Stung Mean Chey", "Mean Chey", "Phnom Penh")
    assert client.get(f"/v1/sites/{site['id']}", headers=finance).json()["name"] == "Stung Mean Chey"
    listed = client.get("/v1/sites", headers=finance).json()
    _is_page(listed, limit=50, offset=0)
    assert site["id"] in {s["id"] for s in listed["items"]}


def test_a_site_name_is_taken_once(client, officer):
    create_site(client, officer, name="Boeung Kak")
    assert_problem(client.post("/v1/sites", headers=officer, json=site_body(name="Boeung Kak")), 409)


def test_an_unknown_site_is_a_404(client, officer):
    assert_problem(client.get(f"/v1/sites/{uuid.uuid4()}", headers=officer), 404)


# Households ----------------------------------------------------------------------------------------


def test_a_household_is_recorded_with_its_finances(client, officer):
    site = create_site(client, officer)
    body = household_body(
        site["id"], parcel_code="SMC-001", title_number="PP-MC-2024-100007", idpoor_level=2, household_size=5
    )
    response = client.post("/v1/households", headers=officer, json=body)
    assert response.status_code == 201, response.text
    created = response.json()

    for household in (created, client.get(f"/v1/households/{created['id']}", headers=officer).json()):
        assert isinstance(household["id"], str)
        assert household["site_id"] == site["id"]
        assert household["parcel_code"] == "SMC-001"
        assert household["title_number"] == "PP-MC-2024-100007"
        assert household["head_name"] == "Sok Sreymom"
        assert household["phone"] == "012 345 678"
        assert (household["household_size"], household["idpoor_level"]) == (5, 2)
        assert household["vulnerabilities"] == ["female_headed"]
        assert household["temporary_shelter"] is True

        wage, moto = household["incomes"]
        assert (wage["source"], wage["frequency"], wage["currency"]) == ("garment wage", "monthly", "USD")
        assert isinstance(wage["amount"], str) and Decimal(wage["amount"]) == Decimal("208")
        assert moto["frequency"] == "daily" and Decimal(moto["amount"]) == Decimal("10.50")

        food, health = household["expenses"]
        assert food["category"] == "food" and Decimal(food["amount"]) == Decimal("120")
        assert isinstance(health["amount"], str) and Decimal(health["amount"]) == Decimal("15.25")

        (debt,) = household["existing_debts"]
        assert debt["lender"] == "an MFI outside the programme"
        assert isinstance(debt["installment"], str) and Decimal(debt["installment"]) == Decimal("45")
        assert isinstance(debt["outstanding"], str) and Decimal(debt["outstanding"]) == Decimal("900")


def test_a_household_without_finances_has_empty_lists(client, officer):
    site = create_site(client, officer)
    body = {"site_id": site["id"], "parcel_code": "SMC-200", "head_name": "Chan Dara", "household_size": 3}
    household = client.post("/v1/households", headers=officer, json=body).json()
    assert household["incomes"] == [] and household["expenses"] == [] and household["existing_debts"] == []
    assert household["idpoor_level"] == 0 and household["vulnerabilities"] == []


def test_households_paginate_with_limit_and_offset(client, officer):
    site = create_site(client, officer)
    ids = [
        create_household(client, officer, site["id"], parcel_code=f"SMC-{n:03d}")["id"] for n in range(1, 6)
    ]

    pages = []
    for offset in (0, 2, 4):
        page = client.get(
            "/v1/households", headers=officer, params={"site_id": site["id"], "limit": 2, "offset": offset}
        ).json()
        _is_page(page, limit=2, offset=offset)
        assert page["total"] == 5
        pages.append([h["id"] for h in page["items"]])
    assert [len(p) for p in pages] == [2, 2, 1]
    seen = [household_id for page in pages for household_id in page]
    assert sorted(seen) == sorted(ids), "the pages cover every household once"

    beyond = client.get(
        "/v1/households", headers=officer, params={"site_id": site["id"], "offset": 10}
    ).json()
    assert beyond["items"] == [] and beyond["total"] == 5


def test_households_filter_by_site(client, officer):
    stung_mean_chey = create_site(client, officer)
    boeung_kak = create_site(client, officer)
    here = {create_household(client, officer, stung_mean_chey["id"])["id"] for _ in range(3)}
    create_household(client, officer, boeung_kak["id"])

    listed = client.get("/v1/households", headers=officer, params={"site_id": stung_mean_chey["id"]}).json()
    assert {h["id"] for h in listed["items"]} == here
    assert listed["total"] == 3
    assert all(h["site_id"] == stung_mean_chey["id"] for h in listed["items"])


def test_bad_page_parameters_are_refused(client, officer):
    for params in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "ten"}):
        assert_problem(client.get("/v1/households", headers=officer, params=params), 422)


def test_a_parcel_has_one_household_per_site(client, officer):
    stung_mean_chey = create_site(client, officer)
    boeung_kak = create_site(client, officer)
    create_household(client, officer, stung_mean_chey["id"], parcel_code="SMC-042")
    # the same parcel code on another site is another parcel
    create_household(client, officer, boeung_kak["id"], parcel_code="SMC-042")
    duplicate = household_body(stung_mean_chey["id"], parcel_code="SMC-042")
    assert_problem(client.post("/v1/households", headers=officer, json=duplicate), 409)


def test_patch_changes_only_the_fields_sent(client, officer):
    site = create_site(client, officer)
    household = create_household(client, officer, site["id"])

    response = client.patch(
        f"/v1/households/{household['id']}",
        headers=officer,
        json={"household_size": 6, "idpoor_level": 1, "temporary_shelter": False, "phone": "097 111 222"},
    )
    assert response.status_code == 200, response.text
    patched = client.get(f"/v1/households/{household['id']}", headers=officer).json()
    assert (patched["household_size"], patched["idpoor_level"]) == (6, 1)
    assert patched["temporary_shelter"] is False
    assert patched["phone"] == "097 111 222"
    # untouched fields and lists stay as recorded
    assert patched["head_name"] == household["head_name"]
    assert patched["parcel_code"] == household["parcel_code"]
    assert _lines(patched["incomes"]) == _lines(household["incomes"])
    assert len(patched["expenses"]) == 2 and len(patched["existing_debts"]) == 1


def test_patch_replaces_a_list_it_is_given(client, officer):
    site = create_site(client, officer)
    household = create_household(client, officer, site["id"])

    new_incomes = [{"source": "tuk-tuk", "amount": "14", "frequency": "daily", "currency": "USD"}]
    response = client.patch(
        f"/v1/households/{household['id']}",
        headers=officer,
        json={
            "incomes": new_incomes,
            "existing_debts": [],
            "vulnerabilities": ["elderly_head", "disability"],
        },
    )
    assert response.status_code == 200, response.text
    patched = client.get(f"/v1/households/{household['id']}", headers=officer).json()
    (income,) = patched["incomes"]
    assert income["source"] == "tuk-tuk" and Decimal(income["amount"]) == Decimal("14")
    assert patched["existing_debts"] == []
    assert patched["vulnerabilities"] == ["elderly_head", "disability"]
    assert len(patched["expenses"]) == 2, "a list not sent is kept"


def test_a_new_household_was_created_and_last_changed_at_the_same_instant(client, officer):
    site = create_site(client, officer)
    household = create_household(client, officer, site["id"])
    assert household["updated_at"] == household["created_at"]
    stored = client.get(f"/v1/households/{household['id']}", headers=officer).json()
    assert stored["updated_at"] == stored["created_at"] == household["created_at"]


def _changed_at(household: dict) -> datetime:
    return datetime.fromisoformat(household["updated_at"])


@pytest.mark.parametrize(
    "change",
    [
        {"incomes": [{"source": "tuk-tuk", "amount": "14", "frequency": "daily", "currency": "USD"}]},
        {"expenses": [{"category": "rent", "amount": "30", "frequency": "monthly"}]},
        {"existing_debts": []},
        {"household_size": 6},
    ],
    ids=lambda change: next(iter(change)),
)
def test_any_change_moves_updated_at_the_finance_lines_too(client, officer, change):
    site = create_site(client, officer)
    household = create_household(client, officer, site["id"])
    response = client.patch(f"/v1/households/{household['id']}", headers=officer, json=change)
    assert response.status_code == 200, response.text
    assert _changed_at(response.json()) > _changed_at(household)
    stored = client.get(f"/v1/households/{household['id']}", headers=officer).json()
    assert stored["updated_at"] == response.json()["updated_at"]
    assert stored["created_at"] == household["created_at"]


def test_a_patch_that_changes_nothing_keeps_updated_at(client, officer):
    site = create_site(client, officer)
    household = create_household(client, officer, site["id"])
    for unchanged in ({}, {"household_size": household["household_size"]}):
        response = client.patch(f"/v1/households/{household['id']}", headers=officer, json=unchanged)
        assert response.status_code == 200, response.text
        assert response.json()["updated_at"] == household["updated_at"]


def test_patch_cannot_take_a_neighbours_parcel(client, officer, db_state):
    site = create_site(client, officer)
    create_household(client, officer, site["id"], parcel_code="SMC-001")
    second = create_household(client, officer, site["id"], parcel_code="SMC-002")
    before = db_state()
    response = client.patch(
        f"/v1/households/{second['id']}", headers=officer, json={"parcel_code": "SMC-001"}
    )
    assert_problem(response, 409)
    assert db_state() == before


def test_patch_an_unknown_household_is_a_404(client, officer):
    response = client.patch(f"/v1/households/{uuid.uuid4()}", headers=officer, json={"household_size": 2})
    assert_problem(response, 404)
