"""The rules of a loan's life: its status machine, four eyes, who decides what, the affordability
gate and its admin override, frozen terms, dates that never run backwards or into the future,
product limits, milestones and inspections, and what a finance lead may read."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from sqlalchemy import update

from loansvc.db.models import Product
from tests.api.helpers import assert_problem, create_household, create_lender, create_product
from tests.api.lending import (
    INELIGIBLE_FINANCES,
    add_material,
    another_family,
    apply,
    approve,
    business_day,
    cash_product,
    consent,
    inspect,
    installments,
    lending_world,
    money,
    named_key,
    receive,
    release,
)

TODAY = date(2025, 6, 30)


@pytest.fixture()
def world(client, session, monkeypatch):
    business_day(monkeypatch, TODAY)
    return lending_world(client, session)


def _cash_loan(client, world, amount="3000", term=24, approved_on="2025-04-10", **extra):
    loan = apply(
        client,
        world["partner_1"],
        world["household"]["id"],
        world["cash_product"]["id"],
        amount,
        term,
        submitted_on="2025-04-07",
        **extra,
    )
    if approved_on is None:
        return loan
    return approve(client, world["partner_2"], loan["id"], approved_on=approved_on)


def _materials_loan(client, world, amount="1200", approved_on="2025-01-15"):
    loan = apply(
        client,
        world["officer_1"],
        world["household"]["id"],
        world["materials_product"]["id"],
        amount,
        24,
        submitted_on="2025-01-10",
    )
    if approved_on is None:
        return loan
    return approve(client, world["officer_2"], loan["id"], approved_on=approved_on)


def _post(client, headers, path, body):
    return client.post(path, headers=headers, json=body)


def _cash(amount, milestone, on):
    return {"kind": "cash", "amount": amount, "milestone": milestone, "date": on}


def _field(problem) -> list:
    return [e["loc"] for e in problem.get("errors") or []]


# The status machine ----------------------------------------------------------------------------


def test_an_illegal_transition_is_409_with_the_current_status(client, world):
    rejected = _cash_loan(client, world, approved_on=None)
    response = _post(client, world["partner_2"], f"/v1/loans/{rejected['id']}/reject", {"note": "no title"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    for action, body in (("approve", {}), ("reject", {"note": "again"}), ("withdraw", {})):
        problem = assert_problem(
            _post(client, world["partner_2"], f"/v1/loans/{rejected['id']}/{action}", body),
            409,
            "ILLEGAL_TRANSITION",
        )
        assert problem["current_status"] == "rejected"
        assert "rejected" in problem["detail"]
    problem = assert_problem(
        _post(
            client,
            world["partner_1"],
            f"/v1/loans/{rejected['id']}/disbursements",
            _cash("100", "foundation", "2025-04-15"),
        ),
        409,
        "ILLEGAL_TRANSITION",
    )
    assert problem["current_status"] == "rejected"

    approved = _cash_loan(client, world)
    problem = assert_problem(
        _post(client, world["admin"], f"/v1/loans/{approved['id']}/approve", {}), 409, "ILLEGAL_TRANSITION"
    )
    assert problem["current_status"] == "approved"

    release(client, world["partner_1"], approved["id"], "1000", "foundation", date(2025, 4, 15))
    for action, body in (("approve", {}), ("reject", {"note": "too late"}), ("withdraw", {})):
        problem = assert_problem(
            _post(client, world["partner_2"], f"/v1/loans/{approved['id']}/{action}", body),
            409,
            "ILLEGAL_TRANSITION",
        )
        assert problem["current_status"] == "active"


def test_the_current_status_answers_before_any_other_objection(client, world):
    # the submitting key re-approving an approved loan: the status, not four eyes, is the objection
    approved = _cash_loan(client, world)
    problem = assert_problem(
        _post(client, world["partner_1"], f"/v1/loans/{approved['id']}/approve", {}),
        409,
        "ILLEGAL_TRANSITION",
    )
    assert problem["current_status"] == "approved"
    # a rejected loan of an ineligible family: the status, not the assessment, is the objection
    poor = create_household(client, world["officer_1"], world["site"]["id"], **INELIGIBLE_FINANCES)
    loan = apply(client, world["officer_1"], poor["id"], world["materials_product"]["id"], "300", 12)
    assert loan["assessment"]["decision"] == "ineligible"
    assert (
        _post(client, world["officer_2"], f"/v1/loans/{loan['id']}/reject", {"note": "no"}).status_code == 200
    )
    problem = assert_problem(
        _post(client, world["admin"], f"/v1/loans/{loan['id']}/approve", {}), 409, "ILLEGAL_TRANSITION"
    )
    assert problem["current_status"] == "rejected"


def test_a_submitted_loan_is_not_disbursed_and_a_withdrawn_one_is_never_approved(client, world):
    loan = _cash_loan(client, world, approved_on=None)
    problem = assert_problem(
        _post(
            client,
            world["partner_1"],
            f"/v1/loans/{loan['id']}/disbursements",
            _cash("100", "foundation", "2025-04-15"),
        ),
        409,
        "ILLEGAL_TRANSITION",
    )
    assert problem["current_status"] == "submitted"
    withdrawn = _post(
        client, world["partner_1"], f"/v1/loans/{loan['id']}/withdraw", {"note": "the family moved"}
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    problem = assert_problem(
        _post(client, world["partner_2"], f"/v1/loans/{loan['id']}/approve", {}), 409, "ILLEGAL_TRANSITION"
    )
    assert problem["current_status"] == "withdrawn"


def test_an_approved_loan_may_be_withdrawn_before_any_disbursement(client, world):
    loan = _cash_loan(client, world)
    response = _post(
        client, world["partner_1"], f"/v1/loans/{loan['id']}/withdraw", {"withdrawn_on": "2025-04-12"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "withdrawn"


# Four eyes and who decides ---------------------------------------------------------------------


def test_the_submitting_key_cannot_approve_or_reject(client, world, db_state):
    cash = _cash_loan(client, world, approved_on=None)
    materials = _materials_loan(client, world, approved_on=None)
    before = db_state()
    for headers, loan in ((world["partner_1"], cash), (world["officer_1"], materials)):
        for action, body in (("approve", {}), ("reject", {"note": "mine"})):
            problem = assert_problem(
                _post(client, headers, f"/v1/loans/{loan['id']}/{action}", body), 409, "FOUR_EYES"
            )
            assert "four eyes" in problem["detail"]
    assert db_state() == before
    # another key of the same lender (or another officer) may
    assert approve(client, world["partner_2"], cash["id"])["status"] == "approved"
    assert approve(client, world["officer_2"], materials["id"])["status"] == "approved"


def test_a_partner_decides_only_its_own_lenders_loans(client, world, session, db_state):
    cash = _cash_loan(client, world, approved_on=None)
    materials = _materials_loan(client, world, approved_on=None)
    other_mfi = create_lender(client, world["admin"])
    stranger = named_key(session, "another MFI", "partner", other_mfi["id"])
    before = db_state()
    for loan in (cash, materials):
        for action, body in (("approve", {}), ("reject", {"note": "not ours"}), ("withdraw", {})):
            problem = assert_problem(
                _post(client, stranger, f"/v1/loans/{loan['id']}/{action}", body), 404, "LOAN_NOT_FOUND"
            )
            assert loan["id"] in problem["detail"]
        assert client.get(f"/v1/loans/{loan['id']}", headers=stranger).status_code == 404
    # the MFI's own partner keys cannot see the materials bank's loan either
    assert_problem(
        _post(client, world["partner_2"], f"/v1/loans/{materials['id']}/approve", {}), 404, "LOAN_NOT_FOUND"
    )
    assert db_state() == before


def test_materials_loans_are_decided_by_officers_and_partner_loans_by_the_partner(client, world):
    materials = _materials_loan(client, world, approved_on=None)
    assert approve(client, world["admin"], materials["id"])["status"] == "approved"
    cash = _cash_loan(client, world, approved_on=None)
    # an NGO loan officer may file an MFI application but the MFI decides it
    problem = assert_problem(
        _post(client, world["officer_2"], f"/v1/loans/{cash['id']}/approve", {}), 403, "ROLE_NOT_ALLOWED"
    )
    assert "partner" in problem["detail"]
    # (another family: the first still has its application open with the MFI)
    family = another_family(client, world)
    filed_by_ngo = apply(client, world["officer_1"], family["id"], world["cash_product"]["id"], "500", 12)
    assert approve(client, world["partner_1"], filed_by_ngo["id"])["status"] == "approved"


def test_a_partner_applies_only_with_its_own_products(client, world):
    response = _post(
        client,
        world["partner_1"],
        "/v1/loans",
        {
            "household_id": world["household"]["id"],
            "product_id": world["materials_product"]["id"],
            "amount": "500",
            "term": 12,
            "purpose": "materials",
        },
    )
    problem = assert_problem(response, 422, "UNKNOWN_PRODUCT")
    assert _field(problem) == [["body", "product_id"]]


# The affordability gate ------------------------------------------------------------------------


def test_an_ineligible_family_is_approved_only_by_an_admin_with_a_written_reason(client, world, db_state):
    # 120 a month in, 150 out: the surplus is -30.00, so no loan fits (NO_SURPLUS: ineligible)
    site_id = world["site"]["id"]
    poor = create_household(client, world["officer_1"], site_id, **INELIGIBLE_FINANCES)
    loan = apply(client, world["officer_1"], poor["id"], world["materials_product"]["id"], "300", 12)
    assert loan["assessment"]["decision"] == "ineligible"
    assert D(loan["assessment"]["monthly_surplus"]) == D("-30.00")
    assert "NO_SURPLUS" in [r["code"] for r in loan["assessment"]["reasons"]]
    before = db_state()
    problem = assert_problem(
        _post(client, world["officer_2"], f"/v1/loans/{loan['id']}/approve", {}), 409, "ASSESSMENT_INELIGIBLE"
    )
    assert "override_reason" in problem["detail"]
    assert_problem(
        _post(
            client,
            world["officer_2"],
            f"/v1/loans/{loan['id']}/approve",
            {"override_reason": "the family's remittances are not declared"},
        ),
        403,
        "OVERRIDE_NOT_ALLOWED",
    )
    assert db_state() == before
    reason = "grant-matched: the NGO covers the installments for the first year"
    approved = approve(client, world["admin"], loan["id"], override_reason=reason)
    assert approved["status"] == "approved"
    assert approved["override_reason"] == reason
    history = client.get(f"/v1/loans/{loan['id']}/history", headers=world["officer_1"]).json()["items"]
    assert history[-1]["action"] == "approved"
    assert (history[-1]["actor_role"], history[-1]["after"]["override_reason"]) == ("admin", reason)


def test_a_partner_cannot_override_either(client, world):
    poor = create_household(client, world["officer_1"], world["site"]["id"], **INELIGIBLE_FINANCES)
    loan = apply(client, world["partner_1"], poor["id"], world["cash_product"]["id"], "500", 12)
    assert loan["assessment"]["decision"] == "ineligible"
    assert_problem(
        _post(client, world["partner_2"], f"/v1/loans/{loan['id']}/approve", {"override_reason": "trust me"}),
        403,
        "OVERRIDE_NOT_ALLOWED",
    )
    assert_problem(
        _post(client, world["partner_2"], f"/v1/loans/{loan['id']}/approve", {}), 409, "ASSESSMENT_INELIGIBLE"
    )


# Frozen terms ----------------------------------------------------------------------------------


def test_approval_freezes_the_products_terms(client, world, session):
    loan = _cash_loan(client, world, approved_on=None)
    assert loan["terms"] is None  # nothing is frozen before approval
    loan = approve(client, world["partner_2"], loan["id"], approved_on="2025-04-10")
    terms = loan["terms"]
    assert money(terms["annual_rate_percent"]) == D("18")
    assert (terms["interest_method"], terms["amortization"], terms["frequency"]) == (
        "declining_balance",
        "equal_installments",
        "monthly",
    )
    assert (terms["interest_calculation"], terms["term"], terms["fees"]) == ("per_period", 24, [])
    assert money(terms["approved_amount"]) == D("3000")
    # The MFI later lowers the product's rate to 12 % (no endpoint changes a product: straight in the
    # table; a rate above the 18 % cap could never be written)
    session.execute(
        update(Product).where(Product.id == world["cash_product"]["id"]).values(annual_rate_percent=D("12"))
    )
    session.commit()
    product = client.get(f"/v1/products/{world['cash_product']['id']}", headers=world["admin"]).json()
    assert money(product["annual_rate_percent"]) == D("12")
    assert money(
        client.get(f"/v1/loans/{loan['id']}", headers=world["admin"]).json()["terms"]["annual_rate_percent"]
    ) == D("18")
    # the schedule follows the frozen 18 %: first interest 1,000 x 18 % / 12 = 15.00 (12 % would be 10.00)
    release(client, world["partner_1"], loan["id"], "1000", "foundation", date(2025, 4, 15))
    assert installments(client, world["partner_1"], loan["id"])[0][3] == D("15.00")


def test_a_smaller_amount_may_be_approved_but_never_a_larger_one(client, world):
    loan = _cash_loan(client, world, approved_on=None)
    problem = assert_problem(
        _post(client, world["partner_2"], f"/v1/loans/{loan['id']}/approve", {"approved_amount": "3000.01"}),
        422,
        "APPROVAL_ABOVE_REQUEST",
    )
    assert _field(problem) == [["body", "approved_amount"]]
    approved = approve(
        client, world["partner_2"], loan["id"], approved_amount="2500", approved_on="2025-04-10"
    )
    assert money(approved["approved_amount"]) == D("2500")
    release(client, world["partner_1"], loan["id"], "2000", "foundation", date(2025, 4, 15))
    inspect(client, world["partner_2"], loan["id"], "foundation", date(2025, 5, 20))
    # 2,000 + 500.01 = 2,500.01 > 2,500 approved (though under the 3,000 applied for)
    problem = assert_problem(
        _post(
            client,
            world["partner_1"],
            f"/v1/loans/{loan['id']}/disbursements",
            _cash("500.01", "structure", "2025-05-25"),
        ),
        409,
        "OVER_DISBURSEMENT",
    )
    assert "2500" in problem["detail"]


# Dates -----------------------------------------------------------------------------------------


def test_dates_are_never_in_the_future_nor_before_the_step_before(client, world):
    body = {
        "household_id": world["household"]["id"],
        "product_id": world["cash_product"]["id"],
        "amount": "1000",
        "term": 12,
        "purpose": "roof",
    }
    # today is 30 June 2025 for the service
    problem = assert_problem(
        _post(client, world["partner_1"], "/v1/loans", {**body, "submitted_on": "2025-07-01"}),
        422,
        "DATE_IN_FUTURE",
    )
    assert _field(problem) == [["body", "submitted_on"]]
    loan = apply(
        client,
        world["partner_1"],
        world["household"]["id"],
        world["cash_product"]["id"],
        "1000",
        12,
        submitted_on="2025-04-07",
    )
    path = f"/v1/loans/{loan['id']}/approve"
    problem = assert_problem(
        _post(client, world["partner_2"], path, {"approved_on": "2025-04-06"}),
        422,
        "DATE_BEFORE_PREVIOUS_STEP",
    )
    assert _field(problem) == [["body", "approved_on"]] and "2025-04-07" in problem["detail"]
    assert_problem(
        _post(client, world["partner_2"], path, {"approved_on": "2025-07-01"}), 422, "DATE_IN_FUTURE"
    )
    approve(client, world["partner_2"], loan["id"], approved_on="2025-04-10")
    money_path = f"/v1/loans/{loan['id']}/disbursements"
    problem = assert_problem(
        _post(client, world["partner_1"], money_path, _cash("400", "foundation", "2025-04-09")),
        422,
        "DATE_BEFORE_PREVIOUS_STEP",
    )
    assert _field(problem) == [["body", "date"]] and "approval" in problem["detail"]
    assert_problem(
        _post(client, world["partner_1"], money_path, _cash("400", "foundation", "2025-07-01")),
        422,
        "DATE_IN_FUTURE",
    )
    inspection = {
        "milestone": "foundation",
        "inspected_on": "2025-04-09",
        "inspector": "Vuthy",
        "passed": True,
    }
    assert_problem(
        _post(client, world["partner_1"], f"/v1/loans/{loan['id']}/inspections", inspection),
        422,
        "DATE_BEFORE_PREVIOUS_STEP",
    )
    release(client, world["partner_1"], loan["id"], "400", "foundation", date(2025, 4, 20))
    inspect(client, world["partner_2"], loan["id"], "foundation", date(2025, 5, 2))
    problem = assert_problem(
        _post(client, world["partner_1"], money_path, _cash("400", "structure", "2025-04-19")),
        422,
        "DATE_BEFORE_PREVIOUS_STEP",
    )
    assert "2025-04-20" in problem["detail"]


def test_the_disbursement_date_defaults_to_today(client, world, monkeypatch):
    loan = _cash_loan(client, world)
    business_day(monkeypatch, date(2025, 4, 15))
    tranche = _post(
        client,
        world["partner_1"],
        f"/v1/loans/{loan['id']}/disbursements",
        {"kind": "cash", "amount": "1000", "milestone": "foundation"},
    )
    assert tranche.status_code == 201, tranche.text
    assert tranche.json()["date"] == "2025-04-15"
    assert installments(client, world["partner_1"], loan["id"])[0][1] == "2025-05-15"


# Product limits --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"amount": "249.99"}, "AMOUNT_OUT_OF_RANGE", "amount"),  # the product lends 250 to 5,000
        ({"amount": "5000.01"}, "AMOUNT_OUT_OF_RANGE", "amount"),
        ({"amount": "1000.005"}, "TOO_MANY_DECIMALS", "amount"),
        ({"term": 11}, "TERM_OUT_OF_RANGE", "term"),  # 12 to 48 months
        ({"term": 49}, "TERM_OUT_OF_RANGE", "term"),
        ({"grace_principal_periods": 4}, "GRACE_OUT_OF_RANGE", "grace_principal_periods"),  # at most 3
    ],
)
def test_the_products_limits_are_enforced(client, world, db_state, change, code, field):
    body = {
        "household_id": world["household"]["id"],
        "product_id": world["cash_product"]["id"],
        "amount": "1000",
        "term": 12,
        "purpose": "core house",
        "consent": consent(),  # the MFI sees the family through the consent it brings
        **change,
    }
    before = db_state()
    problem = assert_problem(_post(client, world["partner_1"], "/v1/loans", body), 422, code)
    assert _field(problem) == [["body", field]]
    assert db_state() == before


def test_within_the_limits_at_the_edges(client, world):
    for amount, term, grace in (("250", 12, 0), ("5000", 48, 3)):
        loan = apply(
            client,
            world["partner_1"],
            another_family(client, world)["id"],  # one open application per family and lender
            world["cash_product"]["id"],
            amount,
            term,
            grace_principal_periods=grace,
        )
        assert loan["status"] == "submitted"


# Disbursement rules ----------------------------------------------------------------------------


def test_the_sum_of_disbursements_never_exceeds_the_approval(client, world):
    loan = _cash_loan(client, world, amount="1000")
    money_path = f"/v1/loans/{loan['id']}/disbursements"
    problem = assert_problem(
        _post(client, world["partner_1"], money_path, _cash("1000.01", "foundation", "2025-04-15")),
        409,
        "OVER_DISBURSEMENT",
    )
    assert "1000.01" in problem["detail"]
    release(client, world["partner_1"], loan["id"], "600", "foundation", date(2025, 4, 15))
    inspect(client, world["partner_2"], loan["id"], "foundation", date(2025, 5, 1))
    # 600 + 400.01 = 1,000.01 > 1,000
    assert_problem(
        _post(client, world["partner_1"], money_path, _cash("400.01", "structure", "2025-05-02")),
        409,
        "OVER_DISBURSEMENT",
    )
    assert D(
        release(client, world["partner_1"], loan["id"], "400", "structure", date(2025, 5, 2))[
            "disbursed_amount"
        ]
    ) == D("1000")


def test_a_tranche_needs_a_passed_inspection_of_the_previous_milestone(client, world):
    loan = _cash_loan(client, world)
    money_path = f"/v1/loans/{loan['id']}/disbursements"
    release(client, world["partner_1"], loan["id"], "1000", "foundation", date(2025, 4, 15))
    # no inspection yet
    problem = assert_problem(
        _post(client, world["partner_1"], money_path, _cash("1000", "structure", "2025-05-25")),
        409,
        "INSPECTION_REQUIRED",
    )
    assert "foundation" in problem["detail"]
    # an inspection of another milestone does not count
    inspect(client, world["partner_2"], loan["id"], "structure", date(2025, 5, 10))
    assert_problem(
        _post(client, world["partner_1"], money_path, _cash("1000", "structure", "2025-05-25")),
        409,
        "INSPECTION_REQUIRED",
    )
    # a failed inspection does not count
    inspect(client, world["partner_2"], loan["id"], "foundation", date(2025, 5, 20), passed=False)
    assert_problem(
        _post(client, world["partner_1"], money_path, _cash("1000", "structure", "2025-05-25")),
        409,
        "INSPECTION_REQUIRED",
    )
    # a pass dated after the tranche does not count for it
    inspect(client, world["partner_2"], loan["id"], "foundation", date(2025, 5, 28))
    assert_problem(
        _post(client, world["partner_1"], money_path, _cash("1000", "structure", "2025-05-25")),
        409,
        "INSPECTION_REQUIRED",
    )
    assert D(
        release(client, world["partner_1"], loan["id"], "1000", "structure", date(2025, 5, 28))[
            "disbursed_amount"
        ]
    ) == D("2000")
    # the next tranche needs the structure inspected after its own tranche: the 10 May one predates it
    assert_problem(
        _post(client, world["partner_1"], money_path, _cash("1000", "roof", "2025-06-20")),
        409,
        "INSPECTION_REQUIRED",
    )


def test_a_later_failed_inspection_withdraws_an_earlier_pass(client, world):
    loan = _cash_loan(client, world)
    release(client, world["partner_1"], loan["id"], "1000", "foundation", date(2025, 4, 15))
    inspect(client, world["partner_2"], loan["id"], "foundation", date(2025, 5, 1))
    inspect(client, world["officer_1"], loan["id"], "foundation", date(2025, 5, 10), passed=False)
    assert_problem(
        _post(
            client,
            world["partner_1"],
            f"/v1/loans/{loan['id']}/disbursements",
            _cash("1000", "structure", "2025-05-25"),
        ),
        409,
        "INSPECTION_REQUIRED",
    )
    inspect(client, world["officer_1"], loan["id"], "foundation", date(2025, 5, 24))
    release(client, world["partner_1"], loan["id"], "1000", "structure", date(2025, 5, 25))


def test_milestones_come_from_the_product(client, world, session):
    loan = _cash_loan(client, world)
    for path, body in (
        (f"/v1/loans/{loan['id']}/disbursements", _cash("100", "garden", "2025-04-15")),
        (
            f"/v1/loans/{loan['id']}/inspections",
            {"milestone": "garden", "inspected_on": "2025-04-15", "inspector": "Vuthy", "passed": True},
        ),
    ):
        problem = assert_problem(_post(client, world["partner_1"], path, body), 422, "UNKNOWN_MILESTONE")
        assert _field(problem) == [["body", "milestone"]]
        assert "foundation, structure, roof, finishing" in problem["detail"]
    # a product with its own stages
    own = cash_product(client, world["admin"], world["mfi"]["id"], milestones=["plinth", "walls", "roof"])
    family = another_family(client, world)  # the first family's loan with the MFI is still open
    staged = apply(client, world["partner_1"], family["id"], own["id"], "900", 12, submitted_on="2025-04-07")
    approve(client, world["partner_2"], staged["id"], approved_on="2025-04-10")
    assert_problem(
        _post(
            client,
            world["partner_1"],
            f"/v1/loans/{staged['id']}/disbursements",
            _cash("300", "foundation", "2025-04-15"),
        ),
        422,
        "UNKNOWN_MILESTONE",
    )
    release(client, world["partner_1"], staged["id"], "300", "plinth", date(2025, 4, 15))


def test_materials_go_on_materials_loans_and_cash_on_partner_loans(client, world, db_state):
    cash = _cash_loan(client, world)
    materials = _materials_loan(client, world)
    add_material(client, world["officer_1"], "CEMENT-50KG", "cement", "bag", "6.25")
    receive(client, world["officer_1"], "CEMENT-50KG", "10", date(2025, 1, 20))
    before = db_state()
    problem = assert_problem(
        _post(
            client,
            world["admin"],
            f"/v1/loans/{cash['id']}/disbursements",
            {
                "kind": "materials",
                "lines": [{"sku": "CEMENT-50KG", "quantity": "1"}],
                "milestone": "foundation",
                "date": "2025-04-15",
            },
        ),
        422,
        "WRONG_DISBURSEMENT_KIND",
    )
    assert "materials-bank" in problem["detail"]
    problem = assert_problem(
        _post(
            client,
            world["admin"],
            f"/v1/loans/{materials['id']}/disbursements",
            _cash("100", "foundation", "2025-02-03"),
        ),
        422,
        "WRONG_DISBURSEMENT_KIND",
    )
    assert "in kind" in problem["detail"]
    # only the lender's partner (or an admin) releases cash; only NGO staff issue materials
    assert_problem(
        _post(
            client,
            world["officer_1"],
            f"/v1/loans/{cash['id']}/disbursements",
            _cash("100", "foundation", "2025-04-15"),
        ),
        403,
        "ROLE_NOT_ALLOWED",
    )
    assert_problem(
        _post(
            client,
            world["partner_1"],
            f"/v1/loans/{materials['id']}/disbursements",
            {
                "kind": "materials",
                "lines": [{"sku": "CEMENT-50KG", "quantity": "1"}],
                "milestone": "foundation",
            },
        ),
        404,
        "LOAN_NOT_FOUND",
    )
    assert db_state() == before


def test_a_daily_interest_tranche_accrues_from_its_own_date(client, world):
    # 18 % a year, interest by the day (actual/365), 1,000 on 1 January 2025, 500 more on 16 January
    product = cash_product(client, world["admin"], world["mfi"]["id"], interest_calculation="daily")
    loan = apply(
        client,
        world["partner_1"],
        world["household"]["id"],
        product["id"],
        "1500",
        12,
        submitted_on="2024-12-20",
    )
    approve(client, world["partner_2"], loan["id"], approved_on="2024-12-25")
    release(client, world["partner_1"], loan["id"], "1000", "foundation", date(2025, 1, 1))
    inspect(client, world["partner_2"], loan["id"], "foundation", date(2025, 1, 15))
    release(client, world["partner_1"], loan["id"], "500", "structure", date(2025, 1, 16))
    rows = installments(client, world["partner_1"], loan["id"])
    # period 1 (1 Jan - 1 Feb): 1,000 for 15 days, then 1,500 for 16 days:
    #   (1000 x 15 + 1500 x 16) x 0.18 / 365 = 39,000 x 0.18 / 365 = 19.2328... -> 19.23
    # the level is recomputed from installment 1 over all 12: PMT(1500, 0.015, 12) = 137.5199... -> 137.52
    #   1: principal 137.52 - 19.23 = 118.29; balance 1500 - 118.29 = 1381.71
    #   2 (1 Feb - 1 Mar, 28 days): 1381.71 x 0.18 x 28 / 365 = 19.0789... -> 19.08; principal 118.44
    assert rows[0] == (1, "2025-02-01", D("118.29"), D("19.23"), D("137.52"), D("1381.71"))
    assert rows[1] == (2, "2025-03-01", D("118.44"), D("19.08"), D("137.52"), D("1263.27"))
    assert sum(r[2] for r in rows) == D("1500")


# Reading loans ---------------------------------------------------------------------------------


def test_a_finance_lead_reads_loans_without_personal_data(client, world):
    loan = _cash_loan(client, world)
    release(client, world["partner_1"], loan["id"], "1000", "foundation", date(2025, 4, 15))
    family = world["household"]
    for path in (
        "/v1/loans",
        f"/v1/loans/{loan['id']}",
        f"/v1/loans/{loan['id']}/schedule",
        f"/v1/loans/{loan['id']}/disbursements",
        f"/v1/loans/{loan['id']}/inspections",
    ):
        response = client.get(path, headers=world["finance"])
        assert response.status_code == 200, (path, response.text)
        for personal in (
            family["head_name"],
            family["phone"],
            family["parcel_code"],
            family["title_number"],
            "garment wage",
            "market vending",
        ):
            assert personal not in response.text, (path, personal)
    seen = client.get(f"/v1/loans/{loan['id']}", headers=world["finance"]).json()
    assert seen["status"] == "active" and D(seen["outstanding_principal"]) == D("1000")


def test_partners_list_only_their_lenders_loans_and_see_a_household_once_it_applied(client, world, session):
    other_mfi = create_lender(client, world["admin"])
    other_product = create_product(client, world["admin"], other_mfi["id"])
    stranger = named_key(session, "another MFI officer", "partner", other_mfi["id"])
    household_id = world["household"]["id"]
    assert client.get(f"/v1/households/{household_id}", headers=stranger).status_code == 404
    ours = _cash_loan(client, world, approved_on=None)
    _materials_loan(client, world, approved_on=None)
    theirs = apply(client, stranger, household_id, other_product["id"], "800", 12)
    assert client.get(f"/v1/households/{household_id}", headers=stranger).status_code == 200
    listed = client.get("/v1/loans", headers=world["partner_1"], params={"household_id": household_id}).json()
    assert [x["id"] for x in listed["items"]] == [ours["id"]]
    listed = client.get("/v1/loans", headers=stranger).json()
    assert [x["id"] for x in listed["items"]] == [theirs["id"]]
    everything = client.get(
        "/v1/loans", headers=world["officer_1"], params={"household_id": household_id}
    ).json()
    assert everything["total"] == 3
    assert (
        client.get("/v1/loans", headers=world["finance"], params={"status": "approved"}).json()["total"] == 0
    )
    assert_problem(client.get("/v1/loans", headers=world["finance"], params={"status": "paid"}), 422)


def test_a_tranche_that_would_join_at_the_last_due_date_is_refused(client, world):
    # 12 monthly installments from 1 August 2024 to 1 July 2025; a tranche on 15 June 2025 would
    # join on 1 July, after the last installment: nothing would repay it
    loan = apply(
        client,
        world["partner_1"],
        world["household"]["id"],
        world["cash_product"]["id"],
        "1000",
        12,
        submitted_on="2024-06-20",
    )
    approve(client, world["partner_2"], loan["id"], approved_on="2024-06-25")
    release(client, world["partner_1"], loan["id"], "500", "foundation", date(2024, 7, 1))
    inspect(client, world["partner_2"], loan["id"], "foundation", date(2025, 6, 1))
    problem = assert_problem(
        _post(
            client,
            world["partner_1"],
            f"/v1/loans/{loan['id']}/disbursements",
            _cash("500", "structure", "2025-06-15"),
        ),
        409,
        "TRANCHE_AFTER_MATURITY",
    )
    assert "no installment left" in problem["detail"]
    # on 1 June it joins on 1 June, after installment 11, and the last installment repays it
    release(client, world["partner_1"], loan["id"], "500", "structure", date(2025, 6, 1))
    # 500 over 12 at 1.5 %: PMT = 500 x 0.015 / (1 - 1.015^-12) = 45.8399... -> 45.84; after the
    # 11th installment 45.16 is left (11: interest 89.66 x 0.015 = 1.34, principal 44.50); the 12th
    # repays 45.16 + 500 = 545.16 with interest 545.16 x 0.015 = 8.1774 -> 8.18: 553.34 in all
    rows = installments(client, world["partner_1"], loan["id"])
    assert rows[10] == (11, "2025-06-01", D("44.50"), D("1.34"), D("45.84"), D("45.16"))
    assert rows[11] == (12, "2025-07-01", D("545.16"), D("8.18"), D("553.34"), D("0"))
