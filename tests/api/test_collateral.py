"""Title custody told as a family's loan: the MFI holds the family's land title, the family repays
its last installment, the title becomes due for return, is overdue on day 31 in the titles and
portfolio reports, and the release clears it. Then the refusals: ID cards, another family's title,
a second hold, a release dated before the hold, and 20 holds of one title at once on PostgreSQL.

The loan: 600 USD from the partner MFI at 0 % over 6 monthly installments, applied for on
2026-01-05, released on 2026-01-10: installment k is 600 / 6 = 100.00, due on the 10th, k months
later (Feb 10 .. Jul 10). The title is received on 2026-01-08.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from sqlalchemy import select

from loansvc.db.models import EventOutbox
from loansvc.web.clock import Clock
from tests.api.helpers import assert_problem, create_lender, create_product
from tests.api.lending import apply, approve, business_day, cash_product, lending_world, named_key, release
from tests.api.test_concurrency import Live, _partner_loan, live_pg

__all__ = ["live_pg"]

DUE_DATES = [date(2026, m, 10) for m in range(2, 8)]  # Feb 10 .. Jul 10


@pytest.fixture()
def story(client, session, monkeypatch):
    world = lending_world(client, session)
    business_day(monkeypatch, date(2026, 1, 5))
    product = cash_product(client, world["admin"], world["mfi"]["id"], annual_rate_percent="0", min_term=6)
    loan = apply(client, world["partner_1"], world["household"]["id"], product["id"], "600", 6)
    approve(client, world["partner_2"], loan["id"])
    business_day(monkeypatch, date(2026, 1, 10))
    release(client, world["partner_1"], loan["id"], "600", "foundation", date(2026, 1, 10))
    world["loan"] = loan
    return world


def land_title(world, **overrides) -> dict:
    return {
        "kind": "land_title",
        "title_number": world["household"]["title_number"],
        "description": "hard title of parcel " + world["household"]["parcel_code"],
        "held_by_lender_id": world["mfi"]["id"],
        "received_on": "2026-01-08",
        "storage_location": "Chbar Ampov branch safe",
        "value": "8000",
        **overrides,
    }


def hold(client, headers, loan_id, body):
    return client.post(f"/v1/loans/{loan_id}/collateral", headers=headers, json=body)


def pay(client, headers, loan_id, amount, paid_on, reference):
    body = {"amount": amount, "paid_on": paid_on.isoformat(), "reference": reference}
    response = client.post(f"/v1/loans/{loan_id}/repayments", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def titles(client, headers, **params) -> list[dict]:
    response = client.get("/v1/reports/titles", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def overdue_returns(client, headers, **params) -> list[dict]:
    response = client.get("/v1/reports/portfolio", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()["overdue_title_returns"]


def test_the_title_goes_back_when_the_family_has_repaid(client, session, story, monkeypatch):
    partner, officer, finance = story["partner_1"], story["officer_1"], story["finance"]
    loan_id, mfi = story["loan"]["id"], story["mfi"]
    held = hold(client, partner, loan_id, land_title(story))
    assert held.status_code == 201, held.text
    title = held.json()
    assert (title["status"], title["loan_closed_on"], title["return_due_on"]) == ("held", None, None)
    assert (title["title_number"], title["value"], title["currency"]) == (
        story["household"]["title_number"],
        "8000.00",
        "USD",
    )
    # the household's file shows what is held
    family = client.get(f"/v1/households/{story['household']['id']}", headers=officer).json()
    assert [(c["id"], c["kind"], c["held_by_lender_id"]) for c in family["collateral_held"]] == [
        (title["id"], "land_title", mfi["id"])
    ]

    # Installments 1-5 paid on their due dates: still open, the title still held.
    business_day(monkeypatch, date(2026, 7, 10))
    for k, due in enumerate(DUE_DATES[:5], start=1):
        assert pay(client, partner, loan_id, "100.00", due, f"R-{k}")["loan_status"] == "active"
    assert titles(client, officer, status="held")[0]["collateral_id"] == title["id"]
    # The last installment on Jul 10 closes the loan (6 x 100 = 600 repaid).
    assert pay(client, partner, loan_id, "100.00", DUE_DATES[5], "R-6")["loan_status"] == "closed"

    # Due for return from closed_on, Jul 10, to Jul 10 + 30 days = Aug 9 (21 days left in July + 9).
    [now] = client.get(f"/v1/loans/{loan_id}/collateral", headers=partner).json()["items"]
    assert (now["status"], now["loan_closed_on"], now["return_due_on"], now["days_since_closure"]) == (
        "due_for_return",
        "2026-07-10",
        "2026-08-09",
        0,
    )
    # the closing payment wrote the event for the MFI's systems, in its own transaction
    [event] = session.scalars(select(EventOutbox).where(EventOutbox.type == "title.due_for_return")).all()
    assert (event.lender_id, event.data["collateral_id"], event.data["closed_on"]) == (
        mfi["id"],
        title["id"],
        "2026-07-10",
    )

    # Day 30 (Aug 9): still due for return, not overdue; the portfolio lists no overdue title.
    business_day(monkeypatch, date(2026, 8, 9))
    [row] = titles(client, officer, status="due_for_return")
    assert (row["collateral_id"], row["days_since_closure"]) == (title["id"], 30)
    assert titles(client, officer, status="overdue") == []
    assert overdue_returns(client, officer) == []

    # Day 31 (Aug 10): overdue, in the titles report and in the MFI's line of the portfolio report.
    business_day(monkeypatch, date(2026, 8, 10))
    [row] = titles(client, officer, status="overdue")
    assert (row["collateral_id"], row["status"], row["days_since_closure"]) == (title["id"], "overdue", 31)
    assert (row["head_name"], row["title_number"]) == ("Sok Sreymom", story["household"]["title_number"])
    assert titles(client, officer, status="due_for_return") == []
    assert overdue_returns(client, officer) == [
        {"lender_id": mfi["id"], "lender_name": mfi["name"], "titles": 1}
    ]
    assert overdue_returns(client, partner) == [
        {"lender_id": mfi["id"], "lender_name": mfi["name"], "titles": 1}
    ]
    # the finance lead sees the overdue title, without the family's name or the title number
    [seen] = titles(client, finance, status="overdue", lender_id=mfi["id"])
    assert (seen["collateral_id"], seen["head_name"], seen["title_number"]) == (title["id"], None, None)

    # Aug 12: the MFI gives it back against a signed receipt (no reason needed: the loan closed).
    business_day(monkeypatch, date(2026, 8, 12))
    body = {"released_on": "2026-08-12", "released_to": "Sok Sreymom", "receipt_reference": "RR-2026-081"}
    released = client.post(f"/v1/collateral/{title['id']}/release", headers=partner, json=body)
    assert released.status_code == 200, released.text
    assert (released.json()["status"], released.json()["days_since_closure"]) == ("released", None)
    assert titles(client, officer, status="overdue") == []
    assert [r["collateral_id"] for r in titles(client, officer, status="released")] == [title["id"]]
    assert overdue_returns(client, officer) == []
    # as of Aug 11 it was still held, 32 days after closure: the report as of that day says so
    assert overdue_returns(client, officer, as_of="2026-08-11") == [
        {"lender_id": mfi["id"], "lender_name": mfi["name"], "titles": 1}
    ]
    family = client.get(f"/v1/households/{story['household']['id']}", headers=officer).json()
    assert family["collateral_held"] == []

    # every step is in the loan's history; the release says it came 33 days after closure, late
    history = client.get(f"/v1/loans/{loan_id}/history", headers=partner, params={"limit": 100}).json()
    steps = [h for h in history["items"] if h["entity_type"] == "collateral"]
    assert [h["action"] for h in steps] == [
        "collateral_received",
        "collateral_due_for_return",
        "collateral_released",
    ]
    assert (steps[-1]["before"]["status"], steps[-1]["after"]["days_since_closure"]) == ("overdue", 33)
    assert steps[-1]["after"]["returned_late"] is True


def test_an_early_release_needs_a_reason_and_a_released_title_can_be_held_again(client, story, monkeypatch):
    partner, loan_id = story["partner_1"], story["loan"]["id"]
    title = hold(client, partner, loan_id, land_title(story)).json()
    business_day(monkeypatch, date(2026, 3, 1))
    body = {"released_on": "2026-03-01", "released_to": "Sok Sreymom", "receipt_reference": "RR-7"}
    early = client.post(f"/v1/collateral/{title['id']}/release", headers=partner, json=body)
    assert_problem(early, 422, "REASON_REQUIRED")
    body["reason"] = "the family needs the title to register the new house; the loan stays unsecured"
    released = client.post(f"/v1/collateral/{title['id']}/release", headers=partner, json=body)
    assert released.status_code == 200, released.text
    assert released.json()["release_reason"] == body["reason"]
    again = client.post(f"/v1/collateral/{title['id']}/release", headers=partner, json=body)
    assert_problem(again, 409, "ALREADY_RELEASED")
    # once released, the title may be held again (one hold at a time, not one ever)
    rehold = hold(client, partner, loan_id, land_title(story, received_on="2026-03-01"))
    assert rehold.status_code == 201, rehold.text
    listed = client.get(f"/v1/loans/{loan_id}/collateral", headers=partner).json()
    assert [c["status"] for c in listed["items"]] == ["released", "held"]


def test_movables_and_guarantors_are_held_too_but_only_titles_are_in_the_titles_report(client, story):
    partner, loan_id = story["partner_1"], story["loan"]["id"]
    moto = {
        "kind": "movable",
        "description": "Honda Dream motorbike, registration card",
        "held_by_lender_id": story["mfi"]["id"],
        "received_on": "2026-01-09",
    }
    assert hold(client, partner, loan_id, moto).status_code == 201
    guarantor = {**moto, "kind": "guarantor", "description": "the head's brother, a garment supervisor"}
    assert hold(client, story["officer_1"], loan_id, guarantor).status_code == 201
    listed = client.get(f"/v1/loans/{loan_id}/collateral", headers=partner).json()
    assert [(c["kind"], c["status"]) for c in listed["items"]] == [("movable", "held"), ("guarantor", "held")]
    assert titles(client, story["officer_1"]) == []


@pytest.mark.parametrize("kind", ["id_card", "idpoor_card"])
def test_an_id_card_is_never_collateral(client, story, db_state, kind):
    before = db_state()
    body = {**land_title(story), "kind": kind, "title_number": None, "description": "national ID card"}
    problem = assert_problem(
        hold(client, story["partner_1"], story["loan"]["id"], body), 422, "COLLATERAL_NOT_ALLOWED"
    )
    assert problem["errors"][0]["loc"] == ["body", "kind"]
    assert db_state() == before


def test_bad_holds_are_refused_and_change_nothing(client, session, story, db_state):
    officer, loan_id = story["officer_1"], story["loan"]["id"]
    other = create_lender(client, story["admin"])
    stranger = named_key(session, "other MFI officer", "partner", other["id"])
    cases = [
        # another family's title number
        (land_title(story, title_number="PP-MC-2024-99999"), 422, "TITLE_NOT_HOUSEHOLDS"),
        # a land title without its number, a movable with one
        (land_title(story, title_number=None), 422, "TITLE_NUMBER_REQUIRED"),
        ({**land_title(story), "kind": "movable"}, 422, "TITLE_NUMBER_NOT_ALLOWED"),
        (land_title(story, kind="jewellery"), 422, "UNKNOWN_COLLATERAL_KIND"),
        # held by a lender that did not lend
        (land_title(story, held_by_lender_id=story["bank"]["id"]), 422, "HOLDER_NOT_LOANS_LENDER"),
        # before the application (Jan 5), after today (Jan 10)
        (land_title(story, received_on="2026-01-04"), 422, "DATE_BEFORE_PREVIOUS_STEP"),
        (land_title(story, received_on="2026-01-11"), 422, "DATE_IN_FUTURE"),
        (land_title(story, value="8000.001"), 422, "TOO_MANY_DECIMALS"),
        (land_title(story, value="12.50", extra="x"), 422, "VALIDATION_ERROR"),
    ]
    before = db_state()
    for body, status, code in cases:
        assert_problem(hold(client, officer, loan_id, body), status, code)
    # another lender's partner key does not find the loan
    assert_problem(hold(client, stranger, loan_id, land_title(story)), 404, "LOAN_NOT_FOUND")
    assert db_state() == before


def test_a_held_title_cannot_be_held_a_second_time(client, story, monkeypatch, db_state):
    partner, loan_id = story["partner_1"], story["loan"]["id"]
    assert hold(client, partner, loan_id, land_title(story)).status_code == 201
    # the same family borrows from a second MFI, which asks for the same title
    second_mfi = create_lender(client, story["admin"])
    product = create_product(client, story["admin"], second_mfi["id"])
    other_loan = apply(client, story["officer_1"], story["household"]["id"], product["id"], "500", 12)
    before = db_state()
    for target, holder in ((other_loan["id"], second_mfi["id"]), (loan_id, story["mfi"]["id"])):
        body = land_title(story, held_by_lender_id=holder, received_on="2026-01-10")
        problem = assert_problem(hold(client, story["officer_1"], target, body), 409, "TITLE_ALREADY_HELD")
        assert problem["held_since"] == "2026-01-08"
    assert db_state() == before


def test_a_release_dated_before_the_hold_is_refused_and_changes_nothing(client, story, monkeypatch, db_state):
    partner = story["partner_1"]
    title = hold(client, partner, story["loan"]["id"], land_title(story)).json()
    reason = "returned at the family's request"
    before = db_state()
    for released_on, code in (("2026-01-07", "DATE_BEFORE_PREVIOUS_STEP"), ("2026-01-11", "DATE_IN_FUTURE")):
        body = {
            "released_on": released_on,
            "released_to": "Sok",
            "receipt_reference": "RR-1",
            "reason": reason,
        }
        problem = assert_problem(
            client.post(f"/v1/collateral/{title['id']}/release", headers=partner, json=body), 422, code
        )
        assert problem["errors"][0]["loc"] == ["body", "released_on"]
    missing = client.post(
        "/v1/collateral/no-such-item/release",
        headers=partner,
        json={
            "released_on": "2026-01-09",
            "released_to": "Sok",
            "receipt_reference": "RR-1",
            "reason": reason,
        },
    )
    assert_problem(missing, 404, "COLLATERAL_NOT_FOUND")
    assert db_state() == before


def test_twenty_holds_of_one_title_at_once_leave_one(live_pg: Live):
    loan, partner = _partner_loan(live_pg, "1000")
    officer = live_pg.key("custody race officer", "loan_officer")
    family = live_pg.ok("GET", f"/v1/households/{loan['household_id']}", officer, status=200)
    body = {
        "kind": "land_title",
        "title_number": family["title_number"],
        "description": "hard title",
        "held_by_lender_id": loan["lender_id"],
        "received_on": Clock().today().isoformat(),
    }
    path = f"/v1/loans/{loan['id']}/collateral"
    responses = live_pg.at_once(lambda i: live_pg.client.post(path, headers=partner, json=body))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: 19}, [r.text for r in responses if r.status_code not in (201, 409)]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"TITLE_ALREADY_HELD"}
    assert live_pg.ok("GET", path, partner, status=200)["total"] == 1
