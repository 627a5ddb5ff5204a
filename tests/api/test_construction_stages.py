"""Construction stages, in order: a loan officer's story of a house funded stage by stage.

The contract lists its milestones in order (foundation, structure, roof, finishing). The first
disbursement is for the foundation; a disbursement for a later stage needs the stage before it
funded and passed by its latest inspection after its last funding (dated on or after that day; on
the same day, recorded after it). More disbursements for the stage being funded need no new inspection.
Materials follow the same gate unless the product says `materials_gated: false`. Every refusal
leaves the database as it was; GET /v1/loans/{id}/milestones shows each stage with its money and
its inspections.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from loansvc.lending.terms import LoanTerms
from tests.api.helpers import assert_problem, create_lender
from tests.api.lending import (
    add_material,
    apply,
    approve,
    business_day,
    cash_product,
    deliver,
    inspect,
    lending_world,
    materials_product,
    named_key,
    receive,
    release,
)

TODAY = date(2025, 8, 31)
STAGES = ["foundation", "structure", "roof", "finishing"]


@pytest.fixture()
def world(client, session, monkeypatch):
    business_day(monkeypatch, TODAY)
    return lending_world(client, session)


def _cash_loan(client, world, product=None):
    """3,000 from the partner MFI, applied for on 7 April 2025 and approved on 10 April."""
    product_id = (product or world["cash_product"])["id"]
    loan = apply(
        client,
        world["partner_1"],
        world["household"]["id"],
        product_id,
        "3000",
        24,
        submitted_on="2025-04-07",
    )
    return approve(client, world["partner_2"], loan["id"], approved_on="2025-04-10")


def _materials_loan(client, world, product=None):
    """1,200 in kind from the materials bank, applied for on 10 January 2025 and approved on 15 January."""
    product_id = (product or world["materials_product"])["id"]
    loan = apply(
        client,
        world["officer_1"],
        world["household"]["id"],
        product_id,
        "1200",
        24,
        submitted_on="2025-01-10",
    )
    return approve(client, world["officer_2"], loan["id"], approved_on="2025-01-15")


def _stock(client, world):
    officer = world["officer_1"]
    for sku, name, unit, cost in (
        ("CEMENT-50KG", "Portland cement, 50 kg bag", "bag", "6.25"),
        ("SAND-M3", "river sand", "m3", "14.00"),
        ("BRICK", "fired clay brick", "piece", "0.085"),
        ("ZINC-SHEET", "corrugated zinc sheet", "sheet", "5.75"),
    ):
        add_material(client, officer, sku, name, unit, cost)
        receive(client, officer, sku, "5000", date(2025, 1, 20))


def _cash(amount: str, milestone: str, on: str) -> dict:
    return {"kind": "cash", "amount": amount, "milestone": milestone, "date": on}


def _materials(lines: dict[str, str], milestone: str, on: str) -> dict:
    return {
        "kind": "materials",
        "lines": [{"sku": s, "quantity": q} for s, q in lines.items()],
        "milestone": milestone,
        "date": on,
    }


def _refused(client, db_state, headers, loan_id, body, code) -> str:
    """The disbursement is refused with a 409 `code`, changes nothing, and the detail is returned."""
    before = db_state()
    response = client.post(f"/v1/loans/{loan_id}/disbursements", headers=headers, json=body)
    problem = assert_problem(response, 409, code)
    assert db_state() == before
    return problem["detail"]


def _milestones(client, headers, loan_id, **params) -> dict:
    response = client.get(f"/v1/loans/{loan_id}/milestones", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _statuses(page: dict) -> list[tuple[str, int, str]]:
    return [(m["milestone"], m["position"], m["status"]) for m in page["items"]]


# The officer's story ------------------------------------------------------------------------------


def test_the_house_is_funded_stage_by_stage_with_an_inspection_between(client, world, db_state):
    partner_1, partner_2, officer = world["partner_1"], world["partner_2"], world["officer_2"]
    loan = _cash_loan(client, world)
    loan_id = loan["id"]
    assert loan["terms"]["milestones"] == STAGES

    # before any money: every stage of the contract, in order, not started
    page = _milestones(client, partner_1, loan_id)
    assert (page["total"], page["offset"]) == (4, 0)
    assert _statuses(page) == [(m, k, "not_started") for k, m in enumerate(STAGES)]
    assert all(m["disbursements"] == [] and m["inspections"] == [] for m in page["items"])

    # 15 April: 1,000 for the foundation
    first = release(client, partner_1, loan_id, "1000", "foundation", date(2025, 4, 15))

    # 10 May: the structure's tranche is asked for before anyone inspected the foundation
    detail = _refused(
        client, db_state, partner_1, loan_id, _cash("1200", "structure", "2025-05-10"), "INSPECTION_REQUIRED"
    )
    assert "the structure needs the foundation" in detail and "2025-04-15" in detail, detail

    # 20 May: the site engineer passes the foundation; 25 May: 1,200 for the structure
    passed_foundation = inspect(client, officer, loan_id, "foundation", date(2025, 5, 20))
    second = release(client, partner_1, loan_id, "1200", "structure", date(2025, 5, 25))
    assert D(second["disbursed_amount"]) == D("2200")  # 1,000 + 1,200

    # 1 July: the roof's tranche before the structure's inspection
    detail = _refused(
        client, db_state, partner_1, loan_id, _cash("800", "roof", "2025-07-01"), "INSPECTION_REQUIRED"
    )
    assert "the roof needs the structure" in detail and "2025-05-25" in detail, detail
    assert "foundation" not in detail  # the foundation's pass does not speak for the structure

    # 3 July: the structure passes; 5 July: 800 for the roof
    passed_structure = inspect(client, partner_2, loan_id, "structure", date(2025, 7, 3))
    third = release(client, partner_1, loan_id, "800", "roof", date(2025, 7, 5))
    assert D(third["disbursed_amount"]) == D("3000")  # 2,200 + 800: the whole approval

    page = _milestones(client, world["finance"], loan_id)
    assert page["total"] == 4
    assert _statuses(page) == [
        ("foundation", 0, "inspected_passed"),
        ("structure", 1, "inspected_passed"),
        ("roof", 2, "funded"),
        ("finishing", 3, "not_started"),
    ]
    foundation, structure, roof, finishing = page["items"]
    assert foundation["disbursements"] == [
        {"id": first["id"], "kind": "cash", "amount": "1000.00", "date": "2025-04-15"}
    ]
    assert foundation["inspections"] == [
        {
            "id": passed_foundation["id"],
            "inspected_on": "2025-05-20",
            "passed": True,
            "inspector": "Chan Vuthy, site engineer",
            "notes": "as built",
        }
    ]
    assert (D(foundation["funded_amount"]), foundation["last_funded_on"]) == (D("1000"), "2025-04-15")
    assert [d["id"] for d in structure["disbursements"]] == [second["id"]]
    assert [i["id"] for i in structure["inspections"]] == [passed_structure["id"]]
    assert (D(structure["funded_amount"]), structure["last_funded_on"]) == (D("1200"), "2025-05-25")
    assert [(d["id"], D(d["amount"])) for d in roof["disbursements"]] == [(third["id"], D("800"))]
    assert roof["inspections"] == []
    assert (D(finishing["funded_amount"]), finishing["last_funded_on"]) == (D("0"), None)
    # the stages hold every disbursement of the loan: 1,000 + 1,200 + 800 = 3,000
    assert sum(D(m["funded_amount"]) for m in page["items"]) == D("3000")

    # a page of it
    tail = _milestones(client, partner_1, loan_id, limit=2, offset=2)
    assert (tail["total"], tail["limit"], tail["offset"]) == (4, 2, 2)
    assert [m["milestone"] for m in tail["items"]] == ["roof", "finishing"]


def test_the_roof_straight_after_the_foundation_skips_the_structure(client, world, db_state):
    partner_1 = world["partner_1"]
    loan_id = _cash_loan(client, world)["id"]
    release(client, partner_1, loan_id, "1000", "foundation", date(2025, 4, 15))
    inspect(client, world["partner_2"], loan_id, "foundation", date(2025, 5, 20))
    # the foundation passed, but the structure was never funded: the roof would skip it
    detail = _refused(
        client, db_state, partner_1, loan_id, _cash("800", "roof", "2025-05-25"), "STAGE_OUT_OF_ORDER"
    )
    assert "the roof needs the structure" in detail and "not been funded" in detail, detail
    # so does the finishing, two stages ahead
    detail = _refused(
        client, db_state, partner_1, loan_id, _cash("500", "finishing", "2025-05-25"), "STAGE_OUT_OF_ORDER"
    )
    assert "the finishing needs the roof" in detail, detail
    release(client, partner_1, loan_id, "1200", "structure", date(2025, 5, 25))


@pytest.mark.parametrize("milestone", ["structure", "roof", "finishing"])
def test_the_first_disbursement_is_for_the_first_stage(client, world, db_state, milestone):
    loan_id = _cash_loan(client, world)["id"]
    detail = _refused(
        client,
        db_state,
        world["partner_1"],
        loan_id,
        _cash("1000", milestone, "2025-04-15"),
        "STAGE_OUT_OF_ORDER",
    )
    assert "the first disbursement is for the foundation" in detail and milestone in detail, detail
    loan = client.get(f"/v1/loans/{loan_id}", headers=world["partner_1"]).json()
    assert (loan["status"], D(loan["disbursed_amount"])) == ("approved", D("0"))


def test_a_stage_before_the_one_being_funded_is_closed(client, world, db_state):
    partner_1 = world["partner_1"]
    loan_id = _cash_loan(client, world)["id"]
    release(client, partner_1, loan_id, "1000", "foundation", date(2025, 4, 15))
    inspect(client, world["partner_2"], loan_id, "foundation", date(2025, 5, 20))
    release(client, partner_1, loan_id, "1200", "structure", date(2025, 5, 25))
    # its pass opened the structure: more money for the foundation would come after its inspection
    detail = _refused(
        client, db_state, partner_1, loan_id, _cash("100", "foundation", "2025-06-01"), "STAGE_OUT_OF_ORDER"
    )
    assert "the foundation is closed" in detail and "structure" in detail, detail


def test_a_failed_inspection_blocks_the_next_stage_until_a_later_pass(client, world, db_state):
    partner_1, officer = world["partner_1"], world["officer_1"]
    loan_id = _cash_loan(client, world)["id"]
    release(client, partner_1, loan_id, "1000", "foundation", date(2025, 4, 15))
    failed = inspect(client, officer, loan_id, "foundation", date(2025, 5, 10), passed=False)
    detail = _refused(
        client, db_state, partner_1, loan_id, _cash("1200", "structure", "2025-05-12"), "INSPECTION_REQUIRED"
    )
    assert "the structure needs the foundation" in detail and "2025-05-10, failed" in detail, detail
    assert _statuses(_milestones(client, partner_1, loan_id))[0] == ("foundation", 0, "inspected_failed")
    # the footings are repaired; 20 May: a new inspection passes
    passed = inspect(client, officer, loan_id, "foundation", date(2025, 5, 20))
    release(client, partner_1, loan_id, "1200", "structure", date(2025, 5, 25))
    foundation = _milestones(client, partner_1, loan_id)["items"][0]
    assert foundation["status"] == "inspected_passed"
    assert [(i["id"], i["passed"]) for i in foundation["inspections"]] == [
        (failed["id"], False),
        (passed["id"], True),
    ]


def test_an_inspection_counts_from_the_day_of_the_last_funding_if_recorded_after_it(client, world, db_state):
    partner_1, officer = world["partner_1"], world["officer_1"]
    loan_id = _cash_loan(client, world)["id"]
    release(client, partner_1, loan_id, "1000", "foundation", date(2025, 4, 15))
    inspect(client, officer, loan_id, "foundation", date(2025, 5, 20))
    # the same day, after the inspector left, 300 more for the foundation: the pass did not see it
    release(client, partner_1, loan_id, "300", "foundation", date(2025, 5, 20))
    assert _statuses(_milestones(client, partner_1, loan_id))[0] == ("foundation", 0, "funded")
    detail = _refused(
        client, db_state, partner_1, loan_id, _cash("1200", "structure", "2025-05-25"), "INSPECTION_REQUIRED"
    )
    assert "after its last funding on 2025-05-20" in detail and "recorded before that funding" in detail
    # the inspector comes back that afternoon: an inspection dated the day of the funding, recorded
    # after it, counts
    inspect(client, officer, loan_id, "foundation", date(2025, 5, 20))
    assert _statuses(_milestones(client, partner_1, loan_id))[0] == ("foundation", 0, "inspected_passed")
    release(client, partner_1, loan_id, "1200", "structure", date(2025, 5, 25))


# Materials in kind ---------------------------------------------------------------------------------


def test_materials_come_in_two_deliveries_for_a_stage_and_follow_the_gate(client, world, db_state):
    officer = world["officer_1"]
    _stock(client, world)
    loan = _materials_loan(client, world)
    loan_id = loan["id"]
    assert loan["terms"]["materials_gated"] is True
    assert world["materials_product"]["materials_gated"] is True  # the default

    # 3 February: cement for the foundation, 30 x 6.25 = 187.50
    first = deliver(client, officer, loan_id, {"CEMENT-50KG": "30"}, "foundation", date(2025, 2, 3))
    # 5 February: the foundation's first part passes an inspection
    inspect(client, world["officer_2"], loan_id, "foundation", date(2025, 2, 5))
    # 10 February: the sand comes in a second delivery for the same stage, no new inspection needed:
    # 2.5 x 14.00 = 35.00, disbursed 187.50 + 35.00 = 222.50
    second = deliver(client, officer, loan_id, {"SAND-M3": "2.5"}, "foundation", date(2025, 2, 10))
    assert D(second["disbursed_amount"]) == D("222.50")

    # 12 February: bricks for the structure. The 5 February pass predates the sand: it cannot show it built in
    detail = _refused(
        client,
        db_state,
        officer,
        loan_id,
        _materials({"BRICK": "2000"}, "structure", "2025-02-12"),
        "INSPECTION_REQUIRED",
    )
    assert "the structure needs the foundation" in detail and "2025-02-10" in detail, detail
    # nor may the roof sheets go out before the structure
    detail = _refused(
        client,
        db_state,
        officer,
        loan_id,
        _materials({"ZINC-SHEET": "28"}, "roof", "2025-02-12"),
        "STAGE_OUT_OF_ORDER",
    )
    assert "structure" in detail, detail

    # 14 February: the whole foundation passes; 17 February: the bricks, 2,000 x 0.085 = 170.00
    inspect(client, world["officer_2"], loan_id, "foundation", date(2025, 2, 14))
    third = deliver(client, officer, loan_id, {"BRICK": "2000"}, "structure", date(2025, 2, 17))
    assert D(third["disbursed_amount"]) == D("392.50")  # 222.50 + 170.00

    foundation, structure, *_ = _milestones(client, world["finance"], loan_id)["items"]
    assert foundation["status"] == "inspected_passed"
    assert [(d["id"], d["kind"], D(d["amount"]), d["date"]) for d in foundation["disbursements"]] == [
        (first["id"], "materials", D("187.50"), "2025-02-03"),
        (second["id"], "materials", D("35.00"), "2025-02-10"),
    ]
    assert [i["inspected_on"] for i in foundation["inspections"]] == ["2025-02-05", "2025-02-14"]
    assert (D(foundation["funded_amount"]), foundation["last_funded_on"]) == (D("222.50"), "2025-02-10")
    assert (structure["status"], D(structure["funded_amount"])) == ("funded", D("170.00"))


def test_ungated_materials_go_out_for_any_stage_while_cash_stays_gated(client, world, db_state):
    admin, officer = world["admin"], world["officer_1"]
    _stock(client, world)
    ungated = materials_product(client, admin, world["bank"]["id"], materials_gated=False)
    assert ungated["materials_gated"] is False
    assert client.get(f"/v1/products/{ungated['id']}", headers=officer).json()["materials_gated"] is False
    loan = _materials_loan(client, world, ungated)
    assert loan["terms"]["materials_gated"] is False
    loan_id = loan["id"]
    # the roof sheets first, no inspection anywhere: 28 x 5.75 = 161.00
    deliver(client, officer, loan_id, {"ZINC-SHEET": "28"}, "roof", date(2025, 2, 3))
    deliver(client, officer, loan_id, {"BRICK": "1000"}, "finishing", date(2025, 2, 4))  # 85.00
    deliver(client, officer, loan_id, {"CEMENT-50KG": "30"}, "foundation", date(2025, 2, 5))  # 187.50
    page = _milestones(client, officer, loan_id)
    assert [(m["milestone"], m["status"], D(m["funded_amount"])) for m in page["items"]] == [
        ("foundation", "funded", D("187.50")),
        ("structure", "not_started", D("0")),
        ("roof", "funded", D("161.00")),
        ("finishing", "funded", D("85.00")),
    ]

    # the setting does not reach cash: a partner product without the gate still goes in order
    mfi_ungated = cash_product(client, admin, world["mfi"]["id"], materials_gated=False)
    cash_loan_id = _cash_loan(client, world, mfi_ungated)["id"]
    _refused(
        client,
        db_state,
        world["partner_1"],
        cash_loan_id,
        _cash("1000", "roof", "2025-04-15"),
        "STAGE_OUT_OF_ORDER",
    )


def test_terms_frozen_before_the_setting_existed_gate_materials():
    terms = LoanTerms.from_json(
        {
            "currency": "USD",
            "approved_amount": "1200",
            "term": 24,
            "annual_rate_percent": "0",
            "interest_method": "declining_balance",
            "amortization": "equal_installments",
            "frequency": "monthly",
            "interest_calculation": "per_period",
            "day_count": "actual/365",
            "milestones": STAGES,
        }
    )
    assert terms.materials_gated is True
    assert LoanTerms.from_json({**terms.to_json(), "materials_gated": False}).materials_gated is False
    assert terms.to_json()["materials_gated"] is True


# Who reads the stages --------------------------------------------------------------------------------


def test_the_stages_are_read_like_the_inspections(client, world, session):
    loan_id = _cash_loan(client, world)["id"]
    for who in ("admin", "officer_1", "finance", "partner_1"):
        assert _statuses(_milestones(client, world[who], loan_id))[0] == ("foundation", 0, "not_started")
    other = create_lender(client, world["admin"])
    stranger = named_key(session, "another MFI's credit officer", "partner", lender_id=other["id"])
    hidden = assert_problem(client.get(f"/v1/loans/{loan_id}/milestones", headers=stranger), 404)
    assert "foundation" not in str(hidden)
    assert_problem(client.get("/v1/loans/no-such-loan/milestones", headers=world["admin"]), 404)


def test_an_application_shows_the_products_stages(client, world):
    own = cash_product(client, world["admin"], world["mfi"]["id"], milestones=["plinth", "walls", "roof"])
    loan = apply(
        client, world["partner_1"], world["household"]["id"], own["id"], "900", 12, submitted_on="2025-04-07"
    )
    page = _milestones(client, world["partner_1"], loan["id"])
    assert _statuses(page) == [
        ("plinth", 0, "not_started"),
        ("walls", 1, "not_started"),
        ("roof", 2, "not_started"),
    ]
