"""Complaints: a family's complaint about its MFI handled from open to resolved, an anonymous one the
MFI reads without the family's name, the report's counts and median, and a partner refused when it
complains about another lender's client.

The world: the partner MFI lent to the Sok family (applied 2026-01-05); the materials bank has an
application from a second family, which never consented to share its file with the MFI.
"""

from __future__ import annotations

from datetime import date

import pytest

from tests.api.helpers import assert_problem
from tests.api.lending import another_family, apply, business_day, lending_world


@pytest.fixture()
def world(client, session, monkeypatch):
    world = lending_world(client, session)
    business_day(monkeypatch, date(2026, 1, 5))
    world["loan"] = apply(
        client, world["partner_1"], world["household"]["id"], world["cash_product"]["id"], "1200", 12
    )
    world["bank_family"] = another_family(client, world)
    world["bank_loan"] = apply(
        client, world["officer_1"], world["bank_family"]["id"], world["materials_product"]["id"], "500", 12
    )
    business_day(monkeypatch, date(2026, 2, 1))
    return world


def complaint(**fields) -> dict:
    return {
        "channel": "hotline",
        "category": "title_not_returned",
        "description": "the MFI keeps our title though we finished paying",
        "received_on": "2026-01-20",
        **fields,
    }


def post(client, headers, body):
    return client.post("/v1/complaints", headers=headers, json=body)


def created(response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()


def patch(client, headers, complaint_id, **body):
    return client.patch(f"/v1/complaints/{complaint_id}", headers=headers, json=body)


def test_a_complaint_is_handled_from_open_to_resolved(client, world):
    officer, partner = world["officer_1"], world["partner_1"]
    body = complaint(loan_id=world["loan"]["id"], complainant_name="Sok Sreymom")
    opened = created(post(client, officer, body))
    # the loan gives the household and the lender
    assert (opened["household_id"], opened["lender_id"], opened["status"]) == (
        world["household"]["id"],
        world["mfi"]["id"],
        "open",
    )
    assert (opened["complainant_name"], opened["days_to_resolve"]) == ("Sok Sreymom", None)

    # resolving an open complaint skips its handling: refused, as is reopening later
    assert_problem(
        patch(client, partner, opened["id"], status="resolved", resolution="x"), 409, "ILLEGAL_TRANSITION"
    )
    started = patch(client, partner, opened["id"], status="in_progress")
    assert started.status_code == 200, started.text
    assert_problem(patch(client, partner, opened["id"], status="resolved"), 422, "RESOLUTION_REQUIRED")
    done = patch(
        client,
        partner,
        opened["id"],
        status="resolved",
        resolution="title handed back at the branch, receipt RR-5",
        resolved_on="2026-01-27",
    )
    assert done.status_code == 200, done.text
    # Jan 20 -> Jan 27: 7 days
    assert (done.json()["status"], done.json()["resolved_on"], done.json()["days_to_resolve"]) == (
        "resolved",
        "2026-01-27",
        7,
    )
    problem = assert_problem(
        patch(client, officer, opened["id"], status="in_progress"), 409, "ILLEGAL_TRANSITION"
    )
    assert problem["current_status"] == "resolved"
    history = client.get(f"/v1/loans/{world['loan']['id']}/history", headers=partner).json()["items"]
    assert [h["action"] for h in history if h["entity_type"] == "complaint"] == [
        "complaint_received",
        "complaint_in_progress",
        "complaint_resolved",
    ]


def test_an_anonymous_complaint_reaches_the_lender_without_the_complainants_name(client, world):
    officer, partner = world["officer_1"], world["partner_1"]
    body = complaint(
        loan_id=world["loan"]["id"],
        category="collection_practice",
        complainant_name="Sok Sreymom",
        anonymous=True,
        description="the collector came at night and shouted",
    )
    opened = created(post(client, officer, body))
    seen = client.get(f"/v1/complaints/{opened['id']}", headers=partner).json()
    assert (seen["complainant_name"], seen["household_id"], seen["loan_id"]) == (None, None, None)
    assert (seen["category"], seen["lender_id"], seen["anonymous"]) == (
        "collection_practice",
        world["mfi"]["id"],
        True,
    )
    # the NGO's officer sees who complained
    full = client.get(f"/v1/complaints/{opened['id']}", headers=officer).json()
    assert (full["complainant_name"], full["loan_id"]) == ("Sok Sreymom", world["loan"]["id"])
    # the lender cannot find it through the family or its loan: not in the list, not in the history
    by_family = client.get(
        "/v1/complaints", headers=partner, params={"household_id": world["household"]["id"]}
    )
    assert by_family.json()["total"] == 0
    listed = client.get("/v1/complaints", headers=partner).json()
    assert [(c["id"], c["complainant_name"]) for c in listed["items"]] == [(opened["id"], None)]
    history = client.get(f"/v1/loans/{world['loan']['id']}/history", headers=partner).json()["items"]
    assert [h for h in history if h["entity_type"] == "complaint"] == []


def test_a_partner_sees_only_the_complaints_about_its_own_lender(client, world):
    officer, partner = world["officer_1"], world["partner_1"]
    about_bank = created(
        post(client, officer, complaint(loan_id=world["bank_loan"]["id"], category="service"))
    )
    about_mfi = created(
        post(client, partner, complaint(household_id=world["household"]["id"], category="pricing"))
    )
    assert about_mfi["lender_id"] == world["mfi"]["id"]  # a partner's complaint is about its lender
    assert_problem(
        client.get(f"/v1/complaints/{about_bank['id']}", headers=partner), 404, "COMPLAINT_NOT_FOUND"
    )
    assert_problem(patch(client, partner, about_bank["id"], status="in_progress"), 404, "COMPLAINT_NOT_FOUND")
    mine = client.get("/v1/complaints", headers=partner).json()
    assert [c["id"] for c in mine["items"]] == [about_mfi["id"]]
    theirs = client.get("/v1/complaints", headers=partner, params={"lender_id": world["bank"]["id"]}).json()
    assert theirs["total"] == 0
    everyone = client.get("/v1/complaints", headers=officer, params={"status": "open"}).json()
    assert {c["id"] for c in everyone["items"]} == {about_bank["id"], about_mfi["id"]}


def test_a_partner_cannot_complain_about_another_lenders_client(client, world, db_state):
    partner = world["partner_1"]
    before = db_state()
    # another lender named: the partner acts for its own lender only
    forbidden = post(client, partner, complaint(lender_id=world["bank"]["id"]))
    assert_problem(forbidden, 403, "LENDER_NOT_ALLOWED")
    # the bank's family never consented to share its file with the MFI: not found, as on a read
    hidden = post(client, partner, complaint(household_id=world["bank_family"]["id"]))
    assert_problem(hidden, 404, "HOUSEHOLD_NOT_FOUND")
    assert client.get(f"/v1/households/{world['bank_family']['id']}", headers=partner).status_code == 404
    # the bank's loan is not the MFI's
    other_loan = post(client, partner, complaint(loan_id=world["bank_loan"]["id"]))
    assert_problem(other_loan, 404, "LOAN_NOT_FOUND")
    assert db_state() == before


def test_bad_complaints_are_refused_and_change_nothing(client, world, db_state):
    officer = world["officer_1"]
    opened = created(post(client, officer, complaint(lender_id=world["mfi"]["id"])))
    before = db_state()
    cases = [
        (complaint(received_on="2026-02-02"), 422, "DATE_IN_FUTURE"),
        (complaint(channel="fax"), 422, "VALIDATION_ERROR"),
        (complaint(lender_id="no-such-lender"), 422, "UNKNOWN_LENDER"),
        (complaint(household_id="no-such-household"), 404, "HOUSEHOLD_NOT_FOUND"),
        (
            complaint(loan_id=world["loan"]["id"], household_id=world["bank_family"]["id"]),
            422,
            "LOAN_NOT_HOUSEHOLDS",
        ),
        (complaint(loan_id=world["loan"]["id"], lender_id=world["bank"]["id"]), 422, "LOAN_NOT_LENDERS"),
    ]
    for body, status, code in cases:
        assert_problem(post(client, officer, body), status, code)
    assert_problem(patch(client, officer, opened["id"], status="open"), 409, "ILLEGAL_TRANSITION")
    assert_problem(patch(client, officer, opened["id"], status="in_progress", resolved_on="2026-01-30"), 422)
    patch(client, officer, opened["id"], status="in_progress")
    before = db_state()
    early = patch(
        client, officer, opened["id"], status="rejected", resolution="no ground", resolved_on="2026-01-19"
    )
    assert_problem(early, 422, "DATE_BEFORE_PREVIOUS_STEP")  # received on Jan 20
    assert db_state() == before


def test_the_complaints_report_counts_and_gives_the_median_days_to_resolve(client, world, finance):
    officer, partner = world["officer_1"], world["partner_1"]
    mfi, bank = world["mfi"]["id"], world["bank"]["id"]

    def settled(lender_id, category, received, resolved, status="resolved"):
        c = created(
            post(client, officer, complaint(lender_id=lender_id, category=category, received_on=received))
        )
        patch(client, officer, c["id"], status="in_progress")
        done = patch(client, officer, c["id"], status=status, resolution="settled", resolved_on=resolved)
        assert done.status_code == 200, done.text

    settled(mfi, "pricing", "2026-01-02", "2026-01-04")  # 2 days
    settled(mfi, "collection_practice", "2026-01-03", "2026-01-08")  # 5 days
    settled(mfi, "title_not_returned", "2026-01-05", "2026-01-14")  # 9 days
    settled(mfi, "pricing", "2026-01-06", "2026-01-07", status="rejected")  # not a resolution
    settled(bank, "other", "2026-01-01", "2026-01-11")  # 10 days
    created(post(client, officer, complaint(category="service")))  # about the programme itself, open

    report = client.get("/v1/reports/complaints", headers=finance).json()
    # resolved: 2, 5, 9, 10 days -> the two middle ones (5 + 9) / 2 = 7
    assert report["median_days_to_resolve"] == "7"
    assert report["totals"] == {"total": 6, "open": 1, "in_progress": 0, "resolved": 4, "rejected": 1}
    by_category = {c["category"]: (c["total"], c["resolved"], c["rejected"]) for c in report["by_category"]}
    assert by_category == {
        "pricing": (2, 1, 1),
        "collection_practice": (1, 1, 0),
        "title_not_returned": (1, 1, 0),
        "data_privacy": (0, 0, 0),
        "service": (1, 0, 0),
        "other": (1, 1, 0),
    }
    by_lender = {c["lender_id"]: c["total"] for c in report["by_lender"]}
    assert by_lender == {mfi: 4, bank: 1, None: 1}
    pairs = {(r["lender_id"], r["category"]): r["complaints"] for r in report["by_lender_and_category"]}
    assert pairs[(mfi, "pricing")] == 2 and pairs[(bank, "other")] == 1 and pairs[(None, "service")] == 1

    # the MFI's own: 2, 5, 9 days -> 5; its partner key counts only those
    own = client.get("/v1/reports/complaints", headers=partner).json()
    assert (own["median_days_to_resolve"], own["totals"]["total"]) == ("5", 4)
    assert own == client.get("/v1/reports/complaints", headers=officer, params={"lender_id": mfi}).json()
    # received in January's first three days: the bank's (Jan 1), two of the MFI's (Jan 2, 3)
    early = client.get(
        "/v1/reports/complaints",
        headers=officer,
        params={"received_from": "2026-01-01", "received_to": "2026-01-03"},
    ).json()
    assert (early["totals"]["total"], early["median_days_to_resolve"]) == (3, "5")  # 2, 5, 10 -> 5
