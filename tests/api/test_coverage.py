"""Programme coverage through HTTP: programme designers ask how many of the canal's families each
house design reaches on each set of loan terms, and what subsidy reaches the rest.

The core house costs 2,500.00 (see test_financing_plan.core_house). Figures worked period by
period (interest = balance x rate rounded half-even, principal = level - interest, the last
installment clears the balance), independently of the engines:
  2,500 at 18 % over 48 months: level 73.44, last 73.21 -> 73.44 a month
  2,500 at 0 % over 60 months: level 41.67, last 41.47 -> 41.67 a month
  the largest loan at 18 % over 48 months within 70.00: 2,375; within 28.00: 951
  the largest loan at 0 % over 60 months within 28.00: 1,680
"""

from __future__ import annotations

import csv
import io
import time
from datetime import date
from decimal import Decimal as D

import pytest

from loansvc.affordability.inputs import household_input
from loansvc.affordability.policies import engine_policy, policy_record
from loansvc.db.models import Site
from loansvc.demo import HOUSEHOLDS, SITE_NAME, seed_data
from loansvc.domain import affordability
from loansvc.domain.schedule import build_schedule
from loansvc.lending import households as lending_households
from loansvc.registry import repository as registry_repository
from tests.api.helpers import assert_problem, create_household, create_site
from tests.api.lending import apply, approve, business_day, lending_world, release
from tests.api.test_financing_plan import core_house

TODAY = date(2026, 3, 2)
EIGHTEEN_48 = {"annual_rate_percent": "18", "term": 48, "frequency": "monthly", "grace_principal_periods": 0}
FREE_60 = {"annual_rate_percent": "0", "term": 60, "frequency": "monthly", "grace_principal_periods": 0}


def finances(income: str, expenses: str) -> dict:
    return {
        "incomes": [{"source": "wages", "amount": income, "frequency": "monthly", "currency": "USD"}],
        "expenses": [{"category": "food and utilities", "amount": expenses, "frequency": "monthly"}],
        "existing_debts": [],
    }


@pytest.fixture()
def canal(client, session, monkeypatch, officer):
    """A block of four families (income, expenses a month; capacity = min(70 % of the surplus,
    50 % of income less debts)):
      600 / 180 -> 294.00;  300 / 200 -> 70.00;  250 / 210 -> 28.00;  150 / 200 -> 0 (no surplus)"""
    business_day(monkeypatch, TODAY)
    site = create_site(client, officer)
    for income, expenses in (("600", "180"), ("300", "200"), ("250", "210"), ("150", "200")):
        create_household(client, officer, site["id"], **finances(income, expenses))
    core_house(client, officer)
    return site


def coverage(client, headers, **body):
    return client.post("/v1/analysis/coverage", headers=headers, json=body)


def test_the_canal_block_worked_by_hand(client, canal, finance):
    response = coverage(
        client,
        finance,
        site_id=canal["id"],
        housing_model_codes=["CORE-24"],
        scenarios=[EIGHTEEN_48, FREE_60],
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["policy_version"], report["site_id"], report["households"]) == (
        "kh-housing-2026.1",
        canal["id"],
        4,
    )
    first, second = report["results"]
    assert (first["housing_model_code"], first["currency"], first["cost"]) == ("CORE-24", "USD", "2500.00")
    assert first["scenario"] == EIGHTEEN_48
    # 18 % over 48 months: 73.44 a month fits only the first family's 294.00: 1 of 4
    # subsidies: 0; 2,500 - 2,375 = 125; 2,500 - 951 = 1,549; 2,500: total 4,174; median
    # (125 + 1,549) / 2 = 837
    assert (first["loan_installment"], first["households"], first["affordable_count"]) == ("73.44", 4, 1)
    assert (first["affordable_share"], first["subsidised_count"]) == ("0.25", 3)
    assert (first["subsidy_total"], first["subsidy_median"]) == ("4174.00", "837.00")
    # 0 % over 60 months: 41.67 fits 294.00 and 70.00: 2 of 4
    # subsidies: 0, 0, 2,500 - 1,680 = 820, 2,500: total 3,320; median (0 + 820) / 2 = 410
    assert (second["loan_installment"], second["affordable_count"], second["affordable_share"]) == (
        "41.67",
        2,
        "0.50",
    )
    assert (second["subsidy_total"], second["subsidy_median"]) == ("3320.00", "410.00")
    # deciles by monthly income: ranks 0..3 fall in deciles r x 10 // 4 + 1 = 1, 3, 6, 8
    deciles = [(d["decile"], d["households"], d["income_min"], d["affordable_count"], d["subsidy_median"])
               for d in first["deciles"] if d["households"]]  # fmt: skip
    assert deciles == [
        (1, 1, "150.00", 0, "2500.00"),
        (3, 1, "250.00", 0, "1549.00"),
        (6, 1, "300.00", 0, "125.00"),
        (8, 1, "600.00", 1, "0.00"),
    ]
    empty = [d for d in first["deciles"] if not d["households"]]
    assert [d["decile"] for d in empty] == [2, 4, 5, 7, 9, 10]
    assert all(d["subsidy_median"] is None and d["income_min"] is None for d in empty)


def test_the_csv_has_one_row_per_model_and_scenario_with_the_deciles_flattened(client, canal, officer):
    response = client.post(
        "/v1/analysis/coverage",
        params={"format": "csv"},
        headers=officer,
        json={
            "site_id": canal["id"],
            "housing_model_codes": ["CORE-24"],
            "scenarios": [EIGHTEEN_48, FREE_60],
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 2
    first = rows[0]
    assert (first["housing_model_code"], first["annual_rate_percent"], first["term"]) == (
        "CORE-24",
        "18",
        "48",
    )
    assert (first["affordable_count"], first["subsidy_total"], first["subsidy_median"]) == (
        "1",
        "4174.00",
        "837.00",
    )
    assert (first["decile_1_households"], first["decile_1_subsidy_median"]) == ("1", "2500.00")
    assert (first["decile_2_households"], first["decile_2_subsidy_median"]) == ("0", "")
    assert (rows[1]["annual_rate_percent"], rows[1]["subsidy_total"]) == ("0", "3320.00")


def test_without_a_site_every_household_counts(client, canal, officer, finance):
    # a second site with one more 600 / 180 family (capacity 294.00); the test database holds no
    # other household. At 0 % over 60 months (41.67 a month) the canal's first two families and
    # this one afford the house: 3 of 5
    other = create_site(client, officer)
    create_household(client, officer, other["id"], **finances("600", "180"))
    report = coverage(client, finance, housing_model_codes=["CORE-24"], scenarios=[FREE_60]).json()
    assert (report["site_id"], report["households"]) == (None, 5)
    assert report["results"][0]["affordable_count"] == 3
    # subsidies: 0, 0, 820, 2,500 and 0: total 3,320, median 0
    assert (report["results"][0]["subsidy_total"], report["results"][0]["subsidy_median"]) == (
        "3320.00",
        "0.00",
    )


def test_a_loan_with_any_lender_in_loansvc_counts_as_debt_service(client, session, monkeypatch):
    # the stories' family (600 in, 180 out, no declared debt) with an approved loan of 1,200 over
    # 24 months at 18 % from the partner MFI: its largest installment is 59.91 (level
    # 1200 x 0.0499241 = 59.91, last 59.88). Capacity without it: min(294, 300) = 294.00; with it:
    # min(70 % x (600 - 180 - 59.91) = 252.06, 300 - 59.91 = 240.09) = 240.09
    # the house over 10 months at 18 % (factor 0.1084342): level 271.09, last 271.05 -> 271.09,
    # which 294.00 would carry and 240.09 does not. The largest loan within 240.09 over 10 months:
    # 2,213 (level 239.96, last 240.02); 2,214 has level 240.07. Subsidy: 2,500 - 2,213 = 287
    business_day(monkeypatch, TODAY)
    world = lending_world(client, session)
    core_house(client, world["officer_1"])
    family = world["household"]["id"]
    loan = apply(client, world["partner_1"], family, world["cash_product"]["id"], "1200", 24)
    approve(client, world["partner_2"], loan["id"])
    ten_months = {"annual_rate_percent": "18", "term": 10}
    report = coverage(
        client,
        world["finance"],
        site_id=world["site"]["id"],
        housing_model_codes=["CORE-24"],
        scenarios=[ten_months],
    ).json()
    [row] = report["results"]
    assert (row["loan_installment"], row["affordable_count"], row["subsidy_total"]) == ("271.09", 0, "287.00")
    # the exact engine, through an assessment's inputs, says the same
    policy = engine_policy(policy_record(session))
    household = lending_households.household(session, family)
    loan_request = affordability.LoanRequest(D("2500"), D("18"), 10, "monthly")
    inp, _ = household_input(session, household, "USD", loan_request, TODAY, policy)
    exact = affordability.assess(inp, policy)
    assert (exact.monthly_debt_service, exact.max_installment, exact.loan_installment) == (
        D("59.91"),
        D("240.09"),
        D("271.09"),
    )
    assert (exact.decision, exact.max_loan_amount) == ("refer", D("2213"))

    # the MFI releases a first tranche of 300: the loan is active, its stored schedule covers the
    # 300 released (level 300 x 0.0499241 = 14.98), but the loan will grow to the 1,200 approved,
    # so an assessment still counts the larger, 59.91; coverage counts the loan as assessments do
    release(client, world["partner_1"], loan["id"], "300", "foundation", TODAY)
    [row] = coverage(
        client,
        world["finance"],
        site_id=world["site"]["id"],
        housing_model_codes=["CORE-24"],
        scenarios=[ten_months],
    ).json()["results"]
    assert (row["affordable_count"], row["subsidy_total"]) == (0, "287.00")
    session.expire_all()  # the release happened in the request's session: read the loan afresh
    inp, programme = household_input(session, household, "USD", loan_request, TODAY, policy)
    assert [(p["loan_id"], p["monthly_installment"]) for p in programme] == [(loan["id"], "59.91")]


def test_on_the_570_families_of_stung_mean_chey_the_fast_path_counts_as_the_exact_engine(
    client, session, officer, finance
):
    seed_data(session)
    session.commit()
    site = session.query(Site).filter_by(name=SITE_NAME).one()
    core_house(client, officer)
    scenarios = [
        EIGHTEEN_48,
        {"annual_rate_percent": "12", "term": 36, "frequency": "monthly", "grace_principal_periods": 2},
        {"annual_rate_percent": "15.5", "term": 104, "frequency": "weekly", "grace_principal_periods": 0},
    ]
    started = time.perf_counter()
    report = coverage(client, finance, site_id=site.id, housing_model_codes=["CORE-24"], scenarios=scenarios)
    fast_seconds = time.perf_counter() - started
    assert report.status_code == 200, report.text
    rows = report.json()["results"]
    assert report.json()["households"] == HOUSEHOLDS == 570

    # the exact engine, one family and one scenario at a time, as an assessment would run
    policy = engine_policy(policy_record(session))
    households = list(session.scalars(registry_repository.households_query(site.id)))
    assert len(households) == 570
    for row, s in zip(rows, scenarios, strict=True):
        loan = affordability.LoanRequest(
            D("2500.00"),
            D(s["annual_rate_percent"]),
            s["term"],
            s["frequency"],
            grace_principal_periods=s["grace_principal_periods"],
        )
        affordable, subsidy = 0, D(0)
        for household in households:
            inp, _ = household_input(session, household, "USD", loan, TODAY, policy)
            exact = affordability.assess(inp, policy)
            if exact.loan_installment <= exact.max_installment and exact.decision != "ineligible":
                affordable += 1
            else:
                subsidy += D("2500.00") - largest_loan_up_to(D("2500"), exact, loan)
        assert row["affordable_count"] == affordable, s
        assert D(row["subsidy_total"]) == subsidy, s
        assert 0 < affordable < 570  # the scenario separates the families: the comparison means something
    assert fast_seconds < 10


def largest_loan_up_to(cost: D, exact, loan) -> D:
    """The largest whole-dollar loan not above the cost whose installments all fit the capacity:
    the engine's largest loan when it is below the cost; otherwise walk down from the cost (the
    last installment of an amount near the capacity can wiggle above it), schedule by schedule."""
    if exact.max_loan_amount < cost:
        return exact.max_loan_amount
    amount = cost.to_integral_value(rounding="ROUND_FLOOR")
    while amount > 0:
        schedule = build_schedule(loan.terms(amount, "USD", TODAY))
        top = max(i.total for i in schedule.installments)
        if affordability.monthly_installment(top, loan.frequency, "USD") <= exact.max_installment:
            return amount
        amount -= 1
    return D(0)


@pytest.mark.parametrize(
    ("body", "code", "loc"),
    [
        ({"housing_model_codes": ["NO-SUCH"]}, "UNKNOWN_HOUSING_MODEL", ["body", "housing_model_codes", 0]),
        ({"site_id": "no-such-site"}, "UNKNOWN_SITE", ["body", "site_id"]),
        ({"housing_model_codes": []}, "VALIDATION_ERROR", ["body", "housing_model_codes"]),
        ({"housing_model_codes": ["CORE-24", "CORE-24"]}, "VALIDATION_ERROR", ["body"]),
        ({"scenarios": []}, "VALIDATION_ERROR", ["body", "scenarios"]),
        (
            {"scenarios": [{**EIGHTEEN_48, "grace_principal_periods": 48}]},
            "INVALID_TERMS",
            ["body", "scenarios", 0, "grace_principal_periods"],
        ),
        ({"scenarios": [{**EIGHTEEN_48, "frequency": "fortnightly"}]}, "VALIDATION_ERROR", None),
        ({"scenarios": [{**EIGHTEEN_48, "annual_rate_percent": 18.5}]}, "VALIDATION_ERROR", None),
        ({"scenarios": [{**EIGHTEEN_48, "term": 0}]}, "VALIDATION_ERROR", ["body", "scenarios", 0, "term"]),
        ({"policy_version": "no-such-policy"}, "UNKNOWN_POLICY", ["body", "policy_version"]),
    ],
    ids=lambda v: str(v),
)
def test_bad_coverage_requests_name_the_field(client, canal, finance, body, code, loc):
    request = {"site_id": canal["id"], "housing_model_codes": ["CORE-24"], "scenarios": [EIGHTEEN_48], **body}
    problem = assert_problem(coverage(client, finance, **request), 422, code)
    if loc is not None:
        assert problem["errors"][0]["loc"][: len(loc)] == loc, problem


def test_an_unknown_format_is_refused(client, canal, finance):
    response = client.post(
        "/v1/analysis/coverage",
        params={"format": "xml"},
        headers=finance,
        json={"housing_model_codes": ["CORE-24"], "scenarios": [EIGHTEEN_48]},
    )
    assert_problem(response, 422, "VALIDATION_ERROR")
