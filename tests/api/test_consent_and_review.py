"""Consent before personal data, the loan officer's review of an ID Poor family's loan, one open
application per family and lender, and safe retries (issue 10, items 3 to 5 and the `reason` field).

The week of the story: Sokha (NGO loan officer) records the Sok family's consent to share its file
with the partner MFI and assesses it; the family holds an ID Poor level 1 card, so the assessment
refers the loan to a loan officer's review (IDPOOR_REVIEW). The MFI's credit officer applies and
retries with the same Idempotency-Key (one loan); the branch manager's approval is refused until
Dara (loan officer) records a cleared review; then the branch manager's key approves.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from loansvc.domain.affordability import _MESSAGES
from loansvc.domain.affordability_io import REASON_CODES
from tests.api.helpers import assert_problem, create_household, create_lender, create_product, create_site
from tests.api.lending import (
    ELIGIBLE_FINANCES,
    KEY_NAMES,
    another_family,
    application,
    apply,
    approve,
    business_day,
    cash_product,
    inspect,
    lending_world,
    named_key,
    release,
)
from tests.api.test_concurrency import Live, live_pg, live_sqlite

__all__ = ["live_pg", "live_sqlite"]  # the live-server fixtures of the race tests below

MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY = (date(2025, 3, d) for d in (3, 4, 5, 6, 7))


def _field(problem) -> list:
    return [e["loc"] for e in problem.get("errors") or []]


def _record_consent(client, headers, household_id: str, lender_id: str, on: date, **extra) -> dict:
    body = {"lender_id": lender_id, "given_on": on.isoformat(), "method": "signed_form", **extra}
    response = client.post(f"/v1/households/{household_id}/consents", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _review(client, headers, loan_id: str, outcome: str, note: str) -> dict:
    response = client.post(
        f"/v1/loans/{loan_id}/reviews", headers=headers, json={"outcome": outcome, "note": note}
    )
    assert response.status_code == 201, response.text
    return response.json()


def _history(client, headers, loan_id: str) -> list[tuple[str, str]]:
    response = client.get(f"/v1/loans/{loan_id}/history", headers=headers)
    assert response.status_code == 200, response.text
    return [(e["action"], e["actor_name"]) for e in response.json()["items"]]


@pytest.fixture()
def world(client, session, monkeypatch):
    """The lending world with a family that holds no ID Poor card (no review needed)."""
    business_day(monkeypatch, MONDAY)
    return lending_world(client, session)


# The loan officer's week --------------------------------------------------------------------------


def test_a_loan_officers_week_consent_assessment_one_application_review_then_approval(
    client, session, monkeypatch, db_state
):
    business_day(monkeypatch, MONDAY)
    world = lending_world(client, session, idpoor_level=1)
    sokha, dara = world["officer_1"], world["officer_2"]
    credit_officer, branch_manager = world["partner_1"], world["partner_2"]
    family, product, mfi = world["household"], world["cash_product"], world["mfi"]
    file_url = f"/v1/households/{family['id']}"

    # --- Monday 3 March. The MFI cannot open the family's file: the family has not consented.
    assert_problem(client.get(file_url, headers=credit_officer), 404, "HOUSEHOLD_NOT_FOUND")
    assert client.get("/v1/households", headers=credit_officer).json()["total"] == 0
    # Sokha visits; the family puts its thumbprint on the consent form for the MFI.
    given = _record_consent(
        client, sokha, family["id"], mfi["id"], MONDAY, method="thumbprint", reference="CF-2025-0042"
    )
    assert (given["household_id"], given["lender_id"], given["given_on"], given["method"]) == (
        family["id"],
        mfi["id"],
        "2025-03-03",
        "thumbprint",
    )
    assert (given["reference"], given["recorded_by"], given["withdrawn_on"]) == (
        "CF-2025-0042",
        KEY_NAMES["officer_1"][0],
        None,
    )
    # ... and it consents to the materials bank too: the MFI will not see that one.
    bank_consent = _record_consent(client, sokha, family["id"], world["bank"]["id"], MONDAY)
    seen = client.get(file_url, headers=credit_officer)
    assert seen.status_code == 200, seen.text
    assert (seen.json()["head_name"], seen.json()["phone"]) == (family["head_name"], family["phone"])
    assert seen.json()["consents"] == [
        {
            "id": given["id"],
            "lender_id": mfi["id"],
            "given_on": "2025-03-03",
            "method": "thumbprint",
            "reference": "CF-2025-0042",
            "withdrawn_on": None,
        }
    ]
    assert {c["id"] for c in client.get(file_url, headers=sokha).json()["consents"]} == {
        given["id"],
        bank_consent["id"],
    }
    assert client.get("/v1/households", headers=credit_officer).json()["total"] == 1

    # Sokha assesses 3,000 USD over 24 months at the MFI (18 %/year, declining balance).
    # income 360 + 240 = 600.00; expenses 150 + 30 = 180.00; no debts: surplus 420.00;
    # safe installment = min(70 % x 420.00 = 294.00, 50 % x 600.00 = 300.00) = 294.00;
    # PMT = 3000 x 0.015 / (1 - 1.015^-24) = 149.77: it fits. Nothing fails but the ID Poor card:
    # the decision is "refer" with the one reason IDPOOR_REVIEW.
    response = client.post(
        f"{file_url}/assessments",
        headers=sokha,
        json={"loan": {"product_id": product["id"], "amount": "3000", "term": 24}},
    )
    assert response.status_code == 201, response.text
    assessed = response.json()
    assert assessed["decision"] == "refer"
    assert [r["code"] for r in assessed["result"]["reasons"]] == ["IDPOOR_REVIEW"]
    assert assessed["result"]["max_installment"] == "294.00"

    # --- Tuesday. The credit officer applies (Sokha's recorded consent covers it). The answer is
    # lost on the way; it sends the same request again with the same Idempotency-Key.
    business_day(monkeypatch, TUESDAY)
    body = application(family["id"], product["id"], "3000", 24, with_consent=False)
    headers = {**credit_officer, "Idempotency-Key": "apply-sok-2025-03-04"}
    first = client.post("/v1/loans", headers=headers, json=body)
    assert first.status_code == 201, first.text
    retry = client.post("/v1/loans", headers=headers, json=body)
    assert retry.status_code == 201, retry.text
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.json() == first.json()
    loan = first.json()
    assert (loan["status"], loan["submitted_on"], loan["assessment"]["decision"]) == (
        "submitted",
        "2025-03-04",
        "refer",
    )
    listed = client.get("/v1/loans", headers=sokha, params={"household_id": family["id"]}).json()
    assert [item["id"] for item in listed["items"]] == [loan["id"]]  # one loan
    # the same key with another body is refused
    other = {**body, "amount": "2500"}
    assert_problem(client.post("/v1/loans", headers=headers, json=other), 409, "IDEMPOTENCY_KEY_REUSED")

    # --- Wednesday. The branch manager approves: refused until a loan officer has reviewed.
    business_day(monkeypatch, WEDNESDAY)
    before = db_state()
    for who in (branch_manager, world["admin"]):  # whoever approves
        problem = assert_problem(
            client.post(f"/v1/loans/{loan['id']}/approve", headers=who, json={}), 409, "REVIEW_REQUIRED"
        )
        assert "IDPOOR_REVIEW" in problem["detail"] and "review" in problem["detail"]
        assert problem["reason_codes"] == ["IDPOOR_REVIEW"]
        assert problem["latest_review"] is None
    # the partner cannot record the review itself
    refused = client.post(
        f"/v1/loans/{loan['id']}/reviews", headers=credit_officer, json={"outcome": "cleared", "note": "ok"}
    )
    assert_problem(refused, 403)
    assert db_state() == before

    # --- Thursday. Dara visits the family and records her review.
    business_day(monkeypatch, THURSDAY)
    note = "home visit: garment wage and market income confirmed, no other debts; 149.77 a month fits"
    review = _review(client, dara, loan["id"], "cleared", note)
    assert (review["loan_id"], review["outcome"], review["note"]) == (loan["id"], "cleared", note)
    assert (review["reviewed_on"], review["reviewed_by"]) == ("2025-03-06", KEY_NAMES["officer_2"][0])
    reviews = client.get(f"/v1/loans/{loan['id']}/reviews", headers=credit_officer).json()
    assert (reviews["total"], [r["id"] for r in reviews["items"]]) == (1, [review["id"]])

    # --- Friday. The branch manager's key (not the one that applied) approves.
    business_day(monkeypatch, FRIDAY)
    approved = approve(client, branch_manager, loan["id"])
    assert (approved["status"], approved["decided_on"], approved["decided_by"]) == (
        "approved",
        "2025-03-07",
        KEY_NAMES["partner_2"][0],
    )
    assert _history(client, sokha, loan["id"]) == [
        ("submitted", KEY_NAMES["partner_1"][0]),
        ("review_cleared", KEY_NAMES["officer_2"][0]),
        ("approved", KEY_NAMES["partner_2"][0]),
    ]
    # a decided loan is no longer reviewed
    late = client.post(
        f"/v1/loans/{loan['id']}/reviews", headers=dara, json={"outcome": "not_cleared", "note": "late"}
    )
    assert assert_problem(late, 409, "LOAN_NOT_SUBMITTED")["current_status"] == "approved"

    # --- The next weeks: the house goes up stage by stage, each tranche after the stage before
    # passed its inspection. 3,000 in four tranches: 1,200 foundation, 900 structure, 600 roof,
    # 300 finishing.
    weeks = [date(2025, 3, 10), date(2025, 3, 24), date(2025, 4, 7), date(2025, 4, 21), date(2025, 5, 5)]
    business_day(monkeypatch, weeks[0])
    release(client, credit_officer, loan["id"], "1200", "foundation", weeks[0])
    business_day(monkeypatch, weeks[1])
    inspect(client, dara, loan["id"], "foundation", weeks[1])
    release(client, credit_officer, loan["id"], "900", "structure", weeks[1])
    business_day(monkeypatch, weeks[2])
    inspect(client, dara, loan["id"], "structure", weeks[2])
    release(client, credit_officer, loan["id"], "600", "roof", weeks[2])
    # two weeks later the MFI tries to release the finishing tranche: the roof was never inspected
    business_day(monkeypatch, weeks[3])
    before = db_state()
    finishing = {"kind": "cash", "amount": "300", "milestone": "finishing", "date": weeks[3].isoformat()}
    skipped = client.post(f"/v1/loans/{loan['id']}/disbursements", headers=credit_officer, json=finishing)
    problem = assert_problem(skipped, 409, "INSPECTION_REQUIRED")
    assert "roof" in problem["detail"] and "inspection" in problem["detail"]
    assert db_state() == before
    # the roof passes its inspection: now the last tranche goes out and the whole 3,000 is lent
    business_day(monkeypatch, weeks[4])
    inspect(client, dara, loan["id"], "roof", weeks[4])
    release(client, credit_officer, loan["id"], "300", "finishing", weeks[4])
    stages = client.get(f"/v1/loans/{loan['id']}/milestones", headers=sokha).json()["items"]
    assert [(m["milestone"], m["funded_amount"]) for m in stages] == [
        ("foundation", "1200.00"),
        ("structure", "900.00"),
        ("roof", "600.00"),
        ("finishing", "300.00"),
    ]
    assert client.get(f"/v1/loans/{loan['id']}", headers=sokha).json()["disbursed_amount"] == "3000.00"


def test_a_review_that_does_not_clear_blocks_approval_until_a_later_one_clears(
    client, session, monkeypatch, db_state
):
    business_day(monkeypatch, MONDAY)
    world = lending_world(client, session, idpoor_level=2)
    loan = apply(
        client, world["partner_1"], world["household"]["id"], world["cash_product"]["id"], "3000", 24
    )
    first = _review(
        client, world["officer_1"], loan["id"], "not_cleared", "the market stall closed in February"
    )
    before = db_state()
    problem = assert_problem(
        client.post(f"/v1/loans/{loan['id']}/approve", headers=world["partner_2"], json={}),
        409,
        "REVIEW_REQUIRED",
    )
    assert "did not clear" in problem["detail"] and "the market stall closed in February" in problem["detail"]
    assert problem["latest_review"] == {"id": first["id"], "outcome": "not_cleared"}
    assert db_state() == before
    # the stall reopened: the latest review is the one in force
    business_day(monkeypatch, TUESDAY)
    _review(
        client, world["officer_1"], loan["id"], "cleared", "the stall reopened on 1 March; income confirmed"
    )
    assert approve(client, world["partner_2"], loan["id"])["status"] == "approved"
    assert client.get(f"/v1/loans/{loan['id']}/reviews", headers=world["finance"]).json()["total"] == 2


def test_any_reason_code_the_policy_marks_needs_review_waits_for_a_review(client, world, db_state):
    # three declared lenders (10 a month each): TOO_MANY_LENDERS refers the loan (3 >= 3 lenders)
    debts = [
        {"lender": name, "installment": "10", "frequency": "monthly", "outstanding": "100"}
        for name in ("AMK", "Prasac", "a neighbour")
    ]
    family = another_family(client, world, existing_debts=debts)
    # the default policy reviews IDPOOR_REVIEW only: this family's loan is approved without one
    default_loan = apply(client, world["partner_1"], family["id"], world["cash_product"]["id"], "1000", 12)
    assert [r["code"] for r in default_loan["assessment"]["reasons"]] == ["TOO_MANY_LENDERS"]
    assert approve(client, world["partner_2"], default_loan["id"])["status"] == "approved"

    # a policy version that also asks for a review of households with many lenders
    bad = {"version": "kh-housing-2026.1-typo", "parameters": {"needs_review": ["TOO_MANY_LENDER"]}}
    problem = assert_problem(
        client.post("/v1/policies", headers=world["admin"], json=bad), 422, "INVALID_POLICY"
    )
    assert _field(problem) == [["body", "parameters", "needs_review"]]
    version = {
        "version": "kh-housing-2026.1-review-lenders",
        "parameters": {"needs_review": ["IDPOOR_REVIEW", "TOO_MANY_LENDERS"]},
    }
    response = client.post("/v1/policies", headers=world["admin"], json=version)
    assert response.status_code == 201, response.text
    assert response.json()["parameters"]["needs_review"] == ["IDPOOR_REVIEW", "TOO_MANY_LENDERS"]
    strict = cash_product(client, world["admin"], world["mfi"]["id"], policy_version=version["version"])
    second = another_family(client, world, existing_debts=debts)
    loan = apply(client, world["partner_1"], second["id"], strict["id"], "1000", 12)
    before = db_state()
    problem = assert_problem(
        client.post(f"/v1/loans/{loan['id']}/approve", headers=world["partner_2"], json={}),
        409,
        "REVIEW_REQUIRED",
    )
    assert problem["reason_codes"] == ["TOO_MANY_LENDERS"]
    assert db_state() == before
    _review(client, world["officer_1"], loan["id"], "cleared", "two of the three debts end in April")
    assert approve(client, world["partner_2"], loan["id"])["status"] == "approved"
    # every reason the engine words is a code a policy may name
    assert set(REASON_CODES) == set(_MESSAGES)


def test_reviews_are_of_submitted_loans_the_caller_may_see(client, world, session, db_state):
    loan = apply(
        client, world["partner_1"], world["household"]["id"], world["cash_product"]["id"], "1000", 12
    )
    other = create_lender(client, world["admin"])
    stranger = named_key(session, "another MFI", "partner", other["id"])
    before = db_state()
    missing = client.post(
        "/v1/loans/no-such-loan/reviews", headers=world["officer_1"], json={"outcome": "cleared", "note": "x"}
    )
    assert_problem(missing, 404, "LOAN_NOT_FOUND")
    for body in (
        {"outcome": "maybe", "note": "x"},
        {"outcome": "cleared"},
        {"outcome": "cleared", "note": " "},
    ):
        response = client.post(f"/v1/loans/{loan['id']}/reviews", headers=world["officer_1"], json=body)
        assert_problem(response, 422)
    assert_problem(client.get(f"/v1/loans/{loan['id']}/reviews", headers=stranger), 404, "LOAN_NOT_FOUND")
    assert db_state() == before


# Consent: bad input, each leaving the database as it was -------------------------------------------


def test_an_application_without_consent_is_refused_whoever_submits_it(client, world, db_state):
    family = world["household"]
    # the family consented to the materials bank only: that says nothing for the MFI
    _record_consent(client, world["officer_1"], family["id"], world["bank"]["id"], MONDAY)
    before = db_state()
    # the MFI's key may not see the family: it is told what an id that does not exist tells it
    body = application(family["id"], world["cash_product"]["id"], "1000", 12, with_consent=False)
    response = client.post("/v1/loans", headers=world["partner_1"], json=body)
    assert_problem(response, 422, "UNKNOWN_HOUSEHOLD")
    for headers, product in (
        (world["officer_1"], world["cash_product"]),  # an NGO officer filing for the MFI
        (world["admin"], world["cash_product"]),
    ):
        body = application(family["id"], product["id"], "1000", 12, with_consent=False)
        problem = assert_problem(
            client.post("/v1/loans", headers=headers, json=body), 422, "CONSENT_REQUIRED"
        )
        assert _field(problem) == [["body", "consent"]]
        assert "consent" in problem["detail"] and world["mfi"]["name"] in problem["detail"]
    # the refused application revealed nothing to the MFI
    assert_problem(client.get(f"/v1/households/{family['id']}", headers=world["partner_1"]), 404)
    assert db_state() == before
    # the materials bank's consent is enough for the materials bank
    assert (
        apply(
            client,
            world["officer_1"],
            family["id"],
            world["materials_product"]["id"],
            "1200",
            24,
            with_consent=False,
        )["status"]
        == "submitted"
    )


@pytest.mark.parametrize(
    ("given_on", "submitted_on", "code"),
    [
        ("2025-03-04", None, "DATE_IN_FUTURE"),  # today is 3 March
        ("2025-03-02", "2025-03-01", "CONSENT_AFTER_APPLICATION"),  # consented after it applied
    ],
)
def test_a_consent_dated_in_the_future_or_after_the_application_is_refused(
    client, world, db_state, given_on, submitted_on, code
):
    extra = {"submitted_on": submitted_on} if submitted_on else {}
    body = application(
        world["household"]["id"],
        world["cash_product"]["id"],
        "1000",
        12,
        consent={"given_on": given_on, "method": "verbal_witnessed", "reference": "witness: village chief"},
        **extra,
    )
    before = db_state()
    problem = assert_problem(client.post("/v1/loans", headers=world["partner_1"], json=body), 422, code)
    assert _field(problem) == [["body", "consent", "given_on"]]
    assert given_on in problem["detail"]
    assert db_state() == before


def test_a_recorded_consent_covers_only_applications_on_or_after_its_day(client, world, db_state):
    family = world["household"]
    _record_consent(client, world["officer_1"], family["id"], world["mfi"]["id"], MONDAY)
    before = db_state()
    # an application backdated to Friday 28 February, before the consent of Monday 3 March
    body = application(
        family["id"], world["cash_product"]["id"], "1000", 12, with_consent=False, submitted_on="2025-02-28"
    )
    problem = assert_problem(
        client.post("/v1/loans", headers=world["partner_1"], json=body), 422, "CONSENT_REQUIRED"
    )
    assert "2025-03-03" in problem["detail"] and "2025-02-28" in problem["detail"]
    assert db_state() == before


def test_recording_a_consent_checks_its_household_lender_method_and_date(client, world, db_state):
    url = f"/v1/households/{world['household']['id']}/consents"
    good = {"lender_id": world["mfi"]["id"], "given_on": "2025-03-03", "method": "signed_form"}
    before = db_state()
    for body, status, code, field in (
        ({**good, "given_on": "2025-03-04"}, 422, "DATE_IN_FUTURE", ["body", "given_on"]),
        ({**good, "lender_id": "no-such-lender"}, 422, "UNKNOWN_LENDER", ["body", "lender_id"]),
        ({**good, "method": "handshake"}, 422, None, ["body", "method"]),
        ({**good, "reference": "x" * 101}, 422, None, ["body", "reference"]),
        ({**good, "withdrawn_on": "2025-03-03"}, 422, None, ["body", "withdrawn_on"]),
    ):
        problem = assert_problem(client.post(url, headers=world["officer_1"], json=body), status, code)
        assert _field(problem) == [field]
    missing = client.post("/v1/households/no-such-household/consents", headers=world["officer_1"], json=good)
    assert_problem(missing, 404, "HOUSEHOLD_NOT_FOUND")
    assert db_state() == before


# One open application at a time ---------------------------------------------------------------


def test_a_second_open_application_to_the_same_lender_is_refused(client, world, db_state):
    family, product = world["household"], world["cash_product"]
    first = apply(client, world["partner_1"], family["id"], product["id"], "1000", 12)
    for status in ("submitted", "approved"):  # open until it is disbursed
        before = db_state()
        body = application(family["id"], product["id"], "1500", 18)  # carries a fresh consent
        for headers in (world["partner_1"], world["officer_1"]):
            problem = assert_problem(
                client.post("/v1/loans", headers=headers, json=body), 409, "DUPLICATE_APPLICATION"
            )
            assert problem["existing_loan_id"] == first["id"]
            assert first["id"] in problem["detail"] and status in problem["detail"]
        assert db_state() == before  # no loan, no consent, no assessment
        if status == "submitted":
            approve(client, world["partner_2"], first["id"])
    # another lender is another application
    apply(client, world["officer_1"], family["id"], world["materials_product"]["id"], "1200", 24)
    # once the first is withdrawn, the family may apply again
    response = client.post(
        f"/v1/loans/{first['id']}/withdraw", headers=world["partner_1"], json={"reason": "the family moved"}
    )
    assert response.status_code == 200, response.text
    assert apply(client, world["partner_1"], family["id"], product["id"], "1500", 18)["status"] == "submitted"


# Withdrawal of consent -----------------------------------------------------------------------------


def test_a_withdrawn_consent_hides_the_household_from_the_lender_but_not_its_loans(
    client, world, monkeypatch, db_state
):
    family, partner, sokha = world["household"], world["partner_1"], world["officer_1"]
    file_url = f"/v1/households/{family['id']}"
    loan = apply(client, partner, family["id"], world["cash_product"]["id"], "1000", 12)  # carries consent
    assert client.get(file_url, headers=partner).status_code == 200
    [carried] = client.get(file_url, headers=sokha).json()["consents"]
    assert (carried["lender_id"], carried["given_on"], carried["method"]) == (
        world["mfi"]["id"],
        "2025-03-03",
        "signed_form",
    )

    # Wednesday: the family tells Sokha it no longer shares its file with the MFI
    business_day(monkeypatch, WEDNESDAY)
    response = client.delete(
        f"{file_url}/consents/{carried['id']}", headers=sokha, params={"reason": "the family asked, by phone"}
    )
    assert response.status_code == 200, response.text
    withdrawn = response.json()
    assert (withdrawn["withdrawn_on"], withdrawn["withdrawn_by"], withdrawn["withdrawal_reason"]) == (
        "2025-03-05",
        KEY_NAMES["officer_1"][0],
        "the family asked, by phone",
    )
    # nothing deleted: the file lists the consent with its withdrawal
    assert client.get(file_url, headers=sokha).json()["consents"] == [
        {**carried, "withdrawn_on": "2025-03-05"}
    ]
    # the MFI no longer reads the family's file, in any way
    hidden = assert_problem(client.get(file_url, headers=partner), 404, "HOUSEHOLD_NOT_FOUND")
    assert family["head_name"] not in str(hidden)
    assert client.get("/v1/households", headers=partner).json()["total"] == 0
    assert_problem(client.get(f"{file_url}/assessments", headers=partner), 404)
    # ... but its own loan stays visible to it
    seen = client.get(f"/v1/loans/{loan['id']}", headers=partner)
    assert seen.status_code == 200 and seen.json()["household_id"] == family["id"]
    assert client.get("/v1/loans", headers=partner).json()["total"] == 1

    before = db_state()
    again = client.delete(f"{file_url}/consents/{carried['id']}", headers=sokha)
    assert assert_problem(again, 409, "CONSENT_ALREADY_WITHDRAWN")["withdrawn_on"] == "2025-03-05"
    assert_problem(
        client.delete(f"{file_url}/consents/no-such-consent", headers=sokha), 404, "CONSENT_NOT_FOUND"
    )
    assert_problem(client.delete(f"{file_url}/consents/{carried['id']}", headers=partner), 403)
    # a new application cannot rest on the withdrawn consent
    client.post(f"/v1/loans/{loan['id']}/withdraw", headers=partner, json={"note": "consent withdrawn"})
    assert db_state() != before
    before = db_state()
    body = application(family["id"], world["cash_product"]["id"], "1000", 12, with_consent=False)
    # (the household is hidden from the MFI again: the answer an unknown id gets)
    assert_problem(client.post("/v1/loans", headers=partner, json=body), 422, "UNKNOWN_HOUSEHOLD")
    assert db_state() == before


# `reason` on every action that ends something --------------------------------------------------------


def test_reject_and_withdraw_take_reason_and_accept_note_as_its_alias(client, world, db_state):
    product = world["cash_product"]
    loans = [
        apply(client, world["partner_1"], another_family(client, world)["id"], product["id"], "1000", 12)
        for _ in range(4)
    ]
    for loan, action, body in (
        (loans[0], "reject", {"reason": "no title deed yet"}),
        (loans[1], "reject", {"note": "no title deed yet"}),  # the old field name
        (loans[2], "withdraw", {"reason": "no title deed yet"}),
        (loans[3], "withdraw", {"note": "no title deed yet"}),
    ):
        response = client.post(f"/v1/loans/{loan['id']}/{action}", headers=world["partner_2"], json=body)
        assert response.status_code == 200, response.text
        assert response.json()["decision_note"] == "no title deed yet"
        entry = client.get(f"/v1/loans/{loan['id']}/history", headers=world["officer_1"]).json()["items"][-1]
        assert entry["after"]["reason"] == "no title deed yet"
    fresh = apply(client, world["partner_1"], another_family(client, world)["id"], product["id"], "1000", 12)
    before = db_state()
    for body in ({}, {"reason": "a", "note": "b"}, {"reason": " "}):
        response = client.post(f"/v1/loans/{fresh['id']}/reject", headers=world["partner_2"], json=body)
        assert_problem(response, 422)
    assert db_state() == before


# Races: ten applications at once, and ten retries at once ----------------------------------------

PARALLEL = 10


def _live_family(live: Live) -> tuple[dict, dict, dict, dict]:
    """A partner MFI with a product and two partner keys, a loan officer, and a family."""
    admin = live.key("race admin", "admin")
    officer = live.key("race officer", "loan_officer")
    mfi = create_lender(live.client, admin)
    product = create_product(live.client, admin, mfi["id"])
    keys = [live.key(f"race MFI officer {k}", "partner", mfi["id"]) for k in (1, 2)]
    site = create_site(live.client, officer)
    family = create_household(live.client, officer, site["id"], **ELIGIBLE_FINANCES)
    return family, product, officer, {"keys": keys}


def race_of_the_applications(live: Live) -> None:
    family, product, officer, partners = _live_family(live)
    bodies = [application(family["id"], product["id"], str(1000 + 100 * i), 12) for i in range(PARALLEL)]
    responses = live.at_once(
        lambda i: live.client.post("/v1/loans", headers=partners["keys"][i % 2], json=bodies[i]), PARALLEL
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: PARALLEL - 1}, [r.text for r in responses if r.status_code >= 500]
    [winner] = [r.json() for r in responses if r.status_code == 201]
    refused = [r.json() for r in responses if r.status_code == 409]
    assert {p["code"] for p in refused} == {"DUPLICATE_APPLICATION"}
    assert {p["existing_loan_id"] for p in refused} == {winner["id"]}
    listed = live.ok("GET", "/v1/loans", officer, status=200)
    assert [loan["id"] for loan in listed["items"] if loan["household_id"] == family["id"]] == [winner["id"]]
    # the refused applications left nothing behind: one consent, the winner's
    assert len(live.ok("GET", f"/v1/households/{family['id']}", officer, status=200)["consents"]) == 1


def race_of_the_retries(live: Live) -> None:
    family, product, officer, partners = _live_family(live)
    body = application(family["id"], product["id"], "1000", 12)
    headers = {**partners["keys"][0], "Idempotency-Key": "apply-race-5c1e"}
    responses = live.at_once(lambda i: live.client.post("/v1/loans", headers=headers, json=body), PARALLEL)
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert all(r.json() == responses[0].json() for r in responses)  # one answer, replayed
    listed = live.ok("GET", "/v1/loans", officer, status=200)
    assert [loan["id"] for loan in listed["items"] if loan["household_id"] == family["id"]] == [
        responses[0].json()["id"]
    ]


@pytest.mark.postgres_only
def test_postgresql_ten_applications_at_once_make_one_loan(live_pg):
    race_of_the_applications(live_pg)


@pytest.mark.postgres_only
def test_postgresql_ten_retries_with_one_key_make_one_loan(live_pg):
    race_of_the_retries(live_pg)


def test_sqlite_ten_applications_at_once_make_one_loan(live_sqlite):
    race_of_the_applications(live_sqlite)


def test_sqlite_ten_retries_with_one_key_make_one_loan(live_sqlite):
    race_of_the_retries(live_sqlite)
