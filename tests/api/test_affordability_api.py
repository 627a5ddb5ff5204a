"""Affordability through HTTP: the issue's worked example to the cent, a family with loans at two
lenders in loansvc, replay after the default policy changed, versioned policies, and bad input
refused with field-level problem details, never a 500.

Annuity factors, 18 % a year (1.5 % a month): 24 months 0.0499241; 36 months 0.0361524.
Last installments were worked period by period (interest = balance x 1.5 % rounded half-even,
principal = level - interest, the last clears the balance), independently of the engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from loansvc.config import Settings
from loansvc.main import create_app
from tests.api.helpers import assert_problem, create_household, create_lender, create_site, link_household
from tests.api.lending import apply, approve, business_day, cash_product, lending_world, named_key

TODAY = date(2026, 3, 2)

# The issue's request: a family of five, a garment wage and a moto-taxi, one MFI debt.
ISSUE_REQUEST = {
    "currency": "USD",
    "household_size": 5,
    "idpoor_level": 0,
    "incomes": [
        {"source": "garment wage", "amount": "208", "frequency": "monthly", "currency": "USD"},
        {"source": "moto-taxi", "amount": "12", "frequency": "daily"},
    ],
    "expenses": [
        {"category": "food", "amount": "150", "frequency": "monthly"},
        {"category": "utilities and school", "amount": "140", "frequency": "monthly"},
    ],
    "existing_debts": [
        {"lender": "MFI X", "installment": "45", "frequency": "monthly", "outstanding": "800"}
    ],
    "loan": {
        "amount": "3000",
        "annual_rate_percent": "18",
        "term": 36,
        "frequency": "monthly",
        "interest_method": "declining_balance",
        "amortization": "equal_installments",
        "grace_principal_periods": 0,
    },
    "household_id": None,
}


def assess(client, headers, body):
    return client.post("/v1/affordability/assess", headers=headers, json=body)


def test_the_issues_worked_example_through_http(client, officer, make_key, admin):
    # income: 208 + 12 x 365 / 12 = 573.00; expenses 150 + 140 = 290.00; debt service 45.00
    # surplus: 573 - 290 - 45 = 238.00
    # max installment: min(70 % x 238 = 166.60, 50 % x 573 - 45 = 241.50) = 166.60
    # the loan: 3000 x 0.0361524 = 108.457 -> 108.46 (the last installment, 108.34, is lower)
    # largest loan: 166.60 / 0.0361524 = 4608.3; 4608 -> 166.59 fits, 4609 -> 166.63 does not
    # DSTI before: 45 / 573 = 7.853 % -> 7.85; after: (45 + 108.46) / 573 = 26.782 % -> 26.78
    # stress, income x 0.8 = 458.40: 458.40 - 290 - 45 - 108.46 = 14.94 >= 0;
    #   DSTI 153.46 / 458.40 = 33.477 % -> 33.48 <= 75: passes. Nothing fires: eligible
    expected = {
        "policy_version": "kh-housing-2026.1",
        "currency": "USD",
        "monthly_income": "573.00",
        "monthly_expenses": "290.00",
        "monthly_debt_service": "45.00",
        "monthly_surplus": "238.00",
        "max_installment": "166.60",
        "max_loan_amount": "4608",
        "loan_installment": "108.46",
        "dsti_before_percent": "7.85",
        "dsti_after_percent": "26.78",
        "decision": "eligible",
        "reasons": [],
        "stress": [
            {
                "scenario": "income_minus_20pct",
                "dsti_after_percent": "33.48",
                "surplus_after_loan": "14.94",
                "passes": True,
            }
        ],
    }
    lender = create_lender(client, admin)
    for headers in (officer, make_key("partner", lender["id"]), admin):
        response = assess(client, headers, ISSUE_REQUEST)
        assert response.status_code == 200, response.text
        assert response.json() == expected


def test_without_an_amount_only_capacity_and_the_largest_loan_come_back(client, officer):
    body = {**ISSUE_REQUEST, "loan": {"annual_rate_percent": "18", "term": 36}}
    result = assess(client, officer, body).json()
    # no loan amount: nothing to judge but the household as it is; DSTI after is null
    assert (result["max_installment"], result["max_loan_amount"], result["loan_installment"]) == (
        "166.60",
        "4608",
        None,
    )
    assert (result["dsti_before_percent"], result["dsti_after_percent"]) == ("7.85", None)


def test_zero_income_gives_null_dsti_and_an_ineligible_decision(client, officer):
    body = {**ISSUE_REQUEST, "incomes": [{"source": "none this month", "amount": "0"}]}
    result = assess(client, officer, body).json()
    assert (result["monthly_income"], result["dsti_before_percent"], result["dsti_after_percent"]) == (
        "0.00",
        None,
        None,
    )
    assert result["decision"] == "ineligible"
    assert [r["code"] for r in result["reasons"]][:2] == ["INCOME_NOT_POSITIVE", "NO_SURPLUS"]


def test_a_family_with_no_income_at_all_gets_the_policys_answer_not_a_422(client, officer, db_state):
    # no wage, no trade: income 0.00, surplus 0 - 290 - 45 = -335.00. A real case, not bad input:
    # the policy answers ineligible, first because there is no income to repay from
    client.get("/v1/policies", headers=officer)  # the default policy exists from the first read on
    before = db_state()
    response = assess(client, officer, {**ISSUE_REQUEST, "incomes": []})
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["monthly_income"], result["monthly_surplus"], result["max_installment"]) == (
        "0.00",
        "-335.00",
        "0.00",
    )
    assert (result["dsti_before_percent"], result["dsti_after_percent"]) == (None, None)
    assert result["decision"] == "ineligible"
    assert [r["code"] for r in result["reasons"]][:2] == ["INCOME_NOT_POSITIVE", "NO_SURPLUS"]
    assert db_state() == before  # a quick check stores nothing


def test_a_registered_family_with_no_income_is_assessed_and_stored_as_ineligible(client, officer, admin):
    lender = create_lender(client, admin)
    product = cash_product(client, admin, lender["id"])
    site = create_site(client, officer)
    family = create_household(client, officer, site["id"], incomes=[])
    response = client.post(
        f"/v1/households/{family['id']}/assessments",
        headers=officer,
        json={"loan": {"product_id": product["id"], "amount": "1000", "term": 24}},
    )
    assert response.status_code == 201, response.text
    stored = response.json()
    assert (stored["decision"], stored["result"]["monthly_income"]) == ("ineligible", "0.00")
    assert stored["result"]["reasons"][0]["code"] == "INCOME_NOT_POSITIVE"
    assert stored["inputs"]["incomes"] == []


# A family with loans at two lenders ------------------------------------------------------------------


def test_a_second_lender_counts_the_first_lenders_loan_and_sees_only_the_total(client, session, monkeypatch):
    business_day(monkeypatch, TODAY)
    world = lending_world(client, session)  # the family: 600 in, 180 out, no declared debt
    family = world["household"]["id"]
    # lender A (the world's MFI) approves 1,200 over 24 months: level 1200 x 0.0499241 = 59.91,
    # last 59.88, so 59.91 a month
    loan_a = apply(client, world["partner_1"], family, world["cash_product"]["id"], "1200", 24)
    approve(client, world["partner_2"], loan_a["id"])
    # lender B, a second MFI in loansvc; the family applies to it too
    lender_b = create_lender(client, world["admin"])
    product_b = cash_product(client, world["admin"], lender_b["id"])
    partner_b = named_key(session, "lender B credit officer", "partner", lender_b["id"])
    link_household(session, family, lender_b["id"])

    response = client.post(
        f"/v1/households/{family}/assessments",
        headers=partner_b,
        json={"loan": {"product_id": product_b["id"], "amount": "1000", "term": 24}},
    )
    assert response.status_code == 201, response.text
    stored = response.json()
    result = stored["result"]
    # debt service: A's 59.91 although the family declared none; surplus 600 - 180 - 59.91 = 360.09
    # capacity: min(70 % x 360.09 = 252.06, 300 - 59.91 = 240.09) = 240.09
    # B's loan, 1,000 over 24 months: level 49.92, last 50.03 -> 50.03
    # DSTI before 59.91 / 600 = 9.985 % -> 9.98 (half-even); after 109.94 / 600 = 18.32 %
    assert (result["monthly_debt_service"], result["monthly_surplus"], result["max_installment"]) == (
        "59.91",
        "360.09",
        "240.09",
    )
    assert (result["loan_installment"], result["dsti_before_percent"], result["dsti_after_percent"]) == (
        "50.03",
        "9.98",
        "18.32",
    )
    assert result["decision"] == "eligible"
    # B sees that the family pays 59.91 a month on one other programme loan, never to whom or what
    inputs = stored["inputs"]
    assert inputs["programme_loans"] == []
    assert inputs["other_programme_loans"] == {"count": 1, "monthly_installments": "59.91"}
    seen = client.get(f"/v1/assessments/{stored['id']}", headers=partner_b).text
    for secret in (world["mfi"]["id"], world["mfi"]["name"], loan_a["id"], "1200"):
        assert secret not in seen, secret
    # the NGO's loan officer sees which loan it is
    by_officer = client.get(f"/v1/assessments/{stored['id']}", headers=world["officer_1"]).json()
    assert [(p["loan_id"], p["lender_id"]) for p in by_officer["inputs"]["programme_loans"]] == [
        (loan_a["id"], world["mfi"]["id"])
    ]


def test_a_riel_loan_elsewhere_counts_in_a_dollar_assessment(client, session, monkeypatch):
    business_day(monkeypatch, TODAY)
    world = lending_world(client, session)  # the family: 600 in, 180 out, no declared debt
    family = world["household"]["id"]
    # lender A lends 4,100,000 riel over 24 months: level 4,100,000 x 0.0499241 = 204,689 (the
    # last, 204,683, is lower): 204,689 / 4,100 = 49.9241... dollars a month, unrounded
    riel = cash_product(
        client,
        world["admin"],
        world["mfi"]["id"],
        currency="KHR",
        min_amount="1000000",
        max_amount="20000000",
    )
    loan_a = apply(client, world["partner_1"], family, riel["id"], "4100000", 24)
    approve(client, world["partner_2"], loan_a["id"])
    lender_b = create_lender(client, world["admin"])
    product_b = cash_product(client, world["admin"], lender_b["id"])
    partner_b = named_key(session, "lender B loan officer", "partner", lender_b["id"])
    link_household(session, family, lender_b["id"])
    response = client.post(
        f"/v1/households/{family}/assessments",
        headers=partner_b,
        json={"loan": {"product_id": product_b["id"], "amount": "1000", "term": 24}},
    )
    assert response.status_code == 201, response.text
    result = response.json()["result"]
    # debt service: 49.9241... rounded once, 49.92; capacity min(70 % x 370.08 = 259.05,
    # 300 - 49.92 = 250.08) = 250.08; DSTI after (49.92 + 50.03) / 600 = 16.66 %
    assert (result["monthly_debt_service"], result["max_installment"], result["dsti_after_percent"]) == (
        "49.92",
        "250.08",
        "16.66",
    )
    # the replay of the snapshot, with its unrounded riel loan, gives the same answer
    replay = client.post(f"/v1/assessments/{response.json()['id']}/replay", headers=partner_b).json()
    assert replay["matches"] is True


# Replay and versioned policies ----------------------------------------------------------------------


def test_replay_gives_the_stored_answer_after_the_default_policy_changed(client, session, monkeypatch):
    business_day(monkeypatch, TODAY)
    world = lending_world(client, session)
    family, officer = world["household"]["id"], world["officer_1"]
    body = {"loan": {"product_id": world["cash_product"]["id"], "amount": "3000", "term": 36}}
    stored = client.post(f"/v1/households/{family}/assessments", headers=officer, json=body).json()
    # under kh-housing-2026.1: capacity min(70 % x 420 = 294, 300) = 294.00
    assert (stored["policy_version"], stored["result"]["max_installment"]) == ("kh-housing-2026.1", "294.00")

    # the programme tightens the policy: at most half of the surplus, and makes it the default
    response = client.post(
        "/v1/policies",
        headers=world["admin"],
        json={"version": "kh-housing-2026.2", "parameters": {"surplus_share": "0.50"}, "make_default": True},
    )
    assert response.status_code == 201, response.text
    # a new assessment follows the new default: min(50 % x 420 = 210, 300) = 210.00
    fresh = client.post(f"/v1/households/{family}/assessments", headers=officer, json=body).json()
    assert (fresh["policy_version"], fresh["result"]["max_installment"]) == ("kh-housing-2026.2", "210.00")

    # the old one replays under its own version, to the same answer
    replay = client.post(f"/v1/assessments/{stored['id']}/replay", headers=officer)
    assert replay.status_code == 200, replay.text
    replayed = replay.json()
    assert (replayed["policy_version"], replayed["matches"]) == ("kh-housing-2026.1", True)
    assert replayed["replayed"] == replayed["recorded"] == stored["result"]


def test_policies_are_listed_and_a_version_is_never_changed(client, admin, officer, finance, db_state):
    listed = client.get("/v1/policies", headers=finance)
    assert listed.status_code == 200
    [default] = listed.json()["items"]
    assert (default["version"], default["is_default"]) == ("kh-housing-2026.1", True)
    assert default["parameters"]["surplus_share"] == "0.70"
    assert default["parameters"]["khr_per_usd"] == "4100"

    created = client.post(
        "/v1/policies",
        headers=admin,
        json={"version": "kh-housing-2026.1-strict", "parameters": {"max_dsti_percent": "60"}},
    )
    assert created.status_code == 201, created.text
    assert created.json()["parameters"]["max_dsti_percent"] == "60"
    assert created.json()["is_default"] is False
    # the same version again, or the default's, is a conflict: a version is never changed
    before = db_state()
    for version in ("kh-housing-2026.1-strict", "kh-housing-2026.1"):
        assert_problem(
            client.post(
                "/v1/policies",
                headers=admin,
                json={"version": version, "parameters": {"surplus_share": "0.1"}},
            ),
            409,
            "POLICY_VERSION_EXISTS",
        )
    assert db_state() == before
    assert (
        client.get("/v1/policies/kh-housing-2026.1-strict", headers=officer).json()["parameters"][
            "max_dsti_percent"
        ]
        == "60"
    )
    # a share above one is refused, naming the parameter
    problem = assert_problem(
        client.post(
            "/v1/policies", headers=admin, json={"version": "bad", "parameters": {"income_share": "1.5"}}
        ),
        422,
        "INVALID_POLICY",
    )
    assert problem["errors"][0]["loc"] == ["body", "parameters", "income_share"]


# Bad input ---------------------------------------------------------------------------------------------


def _with(**changes):
    return {**ISSUE_REQUEST, **changes}


@pytest.mark.parametrize(
    ("body", "code", "loc"),
    [
        ({k: v for k, v in ISSUE_REQUEST.items() if k != "incomes"}, "VALIDATION_ERROR", ["body"]),
        (
            _with(expenses=[{"category": "food", "amount": "-150", "frequency": "monthly"}]),
            "VALIDATION_ERROR",
            ["body", "expenses", 0, "amount"],
        ),
        (
            _with(incomes=[{"source": "wage", "amount": "208", "frequency": "fortnightly"}]),
            "VALIDATION_ERROR",
            ["body", "incomes", 0, "frequency"],
        ),
        (_with(currency="XYZ"), "VALIDATION_ERROR", ["body", "currency"]),
        (
            _with(incomes=[{"source": "wage", "amount": "208", "currency": "BTC"}]),
            "VALIDATION_ERROR",
            ["body", "incomes", 0, "currency"],
        ),
        (
            _with(incomes=[{"source": "wage", "amount": "208", "currency": "EUR"}]),
            "UNSUPPORTED_CONVERSION",
            ["body", "incomes", 0, "currency"],
        ),
        (_with(loan={**ISSUE_REQUEST["loan"], "term": 0}), "VALIDATION_ERROR", ["body", "loan", "term"]),
        (
            _with(loan={**ISSUE_REQUEST["loan"], "amount": 3000.5}),
            "VALIDATION_ERROR",
            ["body", "loan", "amount"],
        ),
        (_with(household_id="no-such-household"), "UNKNOWN_HOUSEHOLD", ["body", "household_id"]),
    ],
    ids=lambda v: str(v)[:60],
)
def test_bad_assessments_are_refused_with_the_field_never_a_500(client, officer, db_state, body, code, loc):
    before = db_state()
    problem = assert_problem(assess(client, officer, body), 422, code)
    assert problem["errors"], problem
    assert problem["errors"][0]["loc"][: len(loc)] == loc, problem
    assert db_state() == before


def test_a_term_beyond_the_products_limits_is_refused(client, officer, admin, db_state):
    lender = create_lender(client, admin)
    product = cash_product(client, admin, lender["id"])  # 12 to 48 months, 250 to 5,000
    site = create_site(client, officer)
    family = create_household(client, officer, site["id"])
    before = db_state()
    for term, amount, code, field in (
        (60, "3000", "TERM_OUT_OF_RANGE", "term"),
        (36, "9000", "AMOUNT_OUT_OF_RANGE", "amount"),
    ):
        loan = {"product_id": product["id"], "amount": amount, "term": term}
        quick = assert_problem(assess(client, officer, _with(loan=loan)), 422, code)
        assert quick["errors"][0]["loc"] == ["body", "loan", field]
        recorded = assert_problem(
            client.post(f"/v1/households/{family['id']}/assessments", headers=officer, json={"loan": loan}),
            422,
            code,
        )
        assert recorded["errors"][0]["loc"] == ["body", "loan", field]
    assert db_state() == before


def test_a_missing_household_is_a_404_for_its_assessments(client, officer, db_state):
    before = db_state()
    body = {"loan": {"annual_rate_percent": "18", "term": 36, "amount": "1000"}}
    assert_problem(
        client.post("/v1/households/no-such/assessments", headers=officer, json=body),
        404,
        "HOUSEHOLD_NOT_FOUND",
    )
    assert_problem(
        client.get("/v1/households/no-such/assessments", headers=officer), 404, "HOUSEHOLD_NOT_FOUND"
    )
    assert db_state() == before


# A product that does not exist, pages of assessments, the app's settings ----------------------------


def test_an_unknown_product_is_a_422_with_or_without_a_currency(
    client, session, officer, admin, make_key, db_state
):
    site = create_site(client, officer)
    family = create_household(client, officer, site["id"])
    before = db_state()
    for body in (
        {"loan": {"product_id": "nope", "term": 12}},  # the currency would come from the product
        {"loan": {"product_id": "nope", "term": 12}, "currency": "USD"},
    ):
        problem = assert_problem(
            client.post(f"/v1/households/{family['id']}/assessments", headers=officer, json=body),
            422,
            "UNKNOWN_PRODUCT",
        )
        assert problem["errors"][0]["loc"] == ["body", "loan", "product_id"]
    assert db_state() == before
    # a partner naming another lender's product learns nothing of it, not even its currency
    riel = {"currency": "KHR", "min_amount": "1000000", "max_amount": "20000000"}
    elsewhere = cash_product(client, admin, create_lender(client, admin)["id"], **riel)
    own = create_lender(client, admin)
    partner = make_key("partner", own["id"])
    link_household(session, family["id"], own["id"])
    before = db_state()
    problem = assert_problem(
        client.post(
            f"/v1/households/{family['id']}/assessments",
            headers=partner,
            json={"loan": {"product_id": elsewhere["id"], "term": 12}},
        ),
        422,
        "UNKNOWN_PRODUCT",
    )
    assert problem["errors"][0]["loc"] == ["body", "loan", "product_id"]
    assert db_state() == before


def test_a_households_assessments_come_a_page_at_a_time(client, session, admin, officer, make_key):
    lender = create_lender(client, admin)
    product = cash_product(client, admin, lender["id"])
    partner = make_key("partner", lender["id"])
    site = create_site(client, officer)
    family = create_household(client, officer, site["id"])
    link_household(session, family["id"], lender["id"])
    url = f"/v1/households/{family['id']}/assessments"
    ids = []
    for amount, headers in (("1000", officer), ("1500", officer), ("2000", partner)):
        body = {"loan": {"product_id": product["id"], "amount": amount, "term": 24}}
        response = client.post(url, headers=headers, json=body)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    # an officer's assessment of this lender's product counts as the lender's: the partner sees all 3
    for headers in (officer, partner):
        whole = client.get(url, headers=headers)
        assert whole.status_code == 200, whole.text
        page = whole.json()
        assert (page["total"], page["limit"], page["offset"]) == (3, 50, 0)
        assert sorted(a["id"] for a in page["items"]) == sorted(ids)
    first = client.get(url, headers=officer, params={"limit": 2}).json()
    rest = client.get(url, headers=officer, params={"limit": 2, "offset": 2}).json()
    assert (len(first["items"]), first["total"], first["limit"], first["offset"]) == (2, 3, 2, 0)
    assert (len(rest["items"]), rest["total"], rest["limit"], rest["offset"]) == (1, 3, 2, 2)
    assert sorted(a["id"] for a in first["items"] + rest["items"]) == sorted(ids)
    # newest first, whatever page it lands on
    stamps = [datetime.fromisoformat(a["created_at"]) for a in first["items"] + rest["items"]]
    assert stamps == sorted(stamps, reverse=True)
    # a partner of another lender sees none of them: the household is hidden from it (404)
    stranger = make_key("partner", create_lender(client, admin)["id"])
    assert_problem(client.get(url, headers=stranger), 404, "HOUSEHOLD_NOT_FOUND")
    assert_problem(client.get(url, headers=officer, params={"limit": 0}), 422)


@pytest.fixture()
def riel_at_5000(db, database_url) -> Iterator[TestClient]:
    """The same database, served by an app created with its own settings: 5,000 riel a dollar."""
    settings = Settings(database_url=database_url, khr_per_usd=Decimal("5000"))
    with TestClient(create_app(settings, database=db), raise_server_exceptions=False) as c:
        yield c


def test_the_apps_riel_rate_reaches_the_assessment(riel_at_5000, officer):
    # a remittance of 1,000,000 riel a month: at the app's 5,000 a dollar, 200.00 dollars
    # (at the default 4,100 it would be 243.90); expenses 150, no debt: surplus 50.00,
    # capacity min(70 % x 50 = 35.00, 50 % x 200 = 100.00) = 35.00
    body = {
        "currency": "USD",
        "household_size": 4,
        "incomes": [{"source": "remittance", "amount": "1000000", "frequency": "monthly", "currency": "KHR"}],
        "expenses": [{"category": "food", "amount": "150", "frequency": "monthly"}],
    }
    response = assess(riel_at_5000, officer, body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["monthly_income"], result["monthly_surplus"], result["max_installment"]) == (
        "200.00",
        "50.00",
        "35.00",
    )
    # the default policy was created from the app's settings, and records the rate it used
    [default] = riel_at_5000.get("/v1/policies", headers=officer).json()["items"]
    assert (default["version"], default["parameters"]["khr_per_usd"]) == ("kh-housing-2026.1", "5000")
