"""Following up late loans in March 2026: the officers' visits and calls, the families' promises to
pay kept, broken and still open, what the delinquent list shows of them, and the collections report.

Four families on one site each borrowed 600 USD from the partner MFI at 0 % over 6 months,
released on 2026-01-10: 100.00 due on the 10th of Feb .. Jul. None paid on Feb 10 or Mar 10, so
on Mar 26 each is 16 days late at least (from Mar 10), unless noted:
  family 1  Sokha visits Mar 15: a promise of 150 by Mar 25; the family pays 100 on Mar 20 (it pays
            Feb 10's installment); Sokha calls again on Mar 24, no answer. The promise is broken:
            100 < 150 by Mar 25. The MFI holds the family's land title.
  family 2  Dara calls Mar 16: a promise of 100 by Mar 20; paid 100 on Mar 18: kept.
  family 3  never contacted.
  family 4  Dara visits Mar 25: a promise of 200 by Apr 5: open on Mar 26.
Each is still late on Mar 26: Mar 10's installment is unpaid everywhere.
"""

from __future__ import annotations

from datetime import date

import pytest

from tests.api.helpers import assert_problem
from tests.api.lending import (
    another_family,
    apply,
    approve,
    business_day,
    cash_product,
    lending_world,
    release,
)

AS_OF = date(2026, 3, 26)


@pytest.fixture()
def march(client, session, monkeypatch):
    world = lending_world(client, session)
    partner = world["partner_1"]
    business_day(monkeypatch, date(2026, 1, 5))
    product = cash_product(client, world["admin"], world["mfi"]["id"], annual_rate_percent="0", min_term=6)
    families = [world["household"], *(another_family(client, world) for _ in range(3))]
    loans = [apply(client, partner, f["id"], product["id"], "600", 6) for f in families]
    for loan in loans:
        approve(client, world["partner_2"], loan["id"])
    business_day(monkeypatch, date(2026, 1, 10))
    for loan in loans:
        release(client, partner, loan["id"], "600", "foundation", date(2026, 1, 10))
    title = {
        "kind": "land_title",
        "title_number": families[0]["title_number"],
        "description": "hard title",
        "held_by_lender_id": world["mfi"]["id"],
        "received_on": "2026-01-10",
    }
    held = client.post(f"/v1/loans/{loans[0]['id']}/collateral", headers=partner, json=title)
    assert held.status_code == 201, held.text
    business_day(monkeypatch, AS_OF)
    world.update(families=families, loans=[loan["id"] for loan in loans], title=held.json())
    return world


def contact(client, headers, loan_id, on, by, kind="visit", outcome="reached", promise=None):
    body = {"kind": kind, "contacted_on": on, "by": by, "outcome": outcome, "note": "spoke with the head"}
    if promise is not None:
        body["promise"] = {"amount": promise[0], "due_on": promise[1]}
    response = client.post(f"/v1/loans/{loan_id}/contacts", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def pay(client, headers, loan_id, amount, paid_on, reference):
    body = {"amount": amount, "paid_on": paid_on, "reference": reference}
    response = client.post(f"/v1/loans/{loan_id}/repayments", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def follow_up(client, march) -> dict:
    officer, partner = march["officer_1"], march["partner_1"]
    one, two, _, four = march["loans"]
    contact(client, officer, one, "2026-03-15", "Sokha", promise=("150", "2026-03-25"))
    pay(client, partner, one, "100.00", "2026-03-20", "R-1-1")
    contact(client, officer, one, "2026-03-24", "Sokha", kind="call", outcome="not_reached")
    kept = contact(client, partner, two, "2026-03-16", "Dara", kind="call", promise=("100", "2026-03-20"))
    payment = pay(client, partner, two, "100.00", "2026-03-18", "R-2-1")
    contact(client, officer, four, "2026-03-25", "Dara", promise=("200", "2026-04-05"))
    return {"kept": kept, "payment": payment}


def delinquent(client, headers, **params) -> dict[str, dict]:
    response = client.get("/v1/reports/delinquent-loans", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return {item["loan_id"]: item for item in response.json()["items"]}


def test_a_broken_promise_shows_on_the_delinquent_list(client, march):
    follow_up(client, march)
    officer, finance = march["officer_1"], march["finance"]
    one, two, three, four = march["loans"]
    listed = delinquent(client, officer)
    assert set(listed) == {one, two, three, four}

    first = listed[one]
    # the last contact is Mar 24's unanswered call; the latest promise, Mar 15's, is broken: the
    # family paid 100 of the 150 it promised by Mar 25
    assert first["last_contact"] == {
        "contact_id": first["last_contact"]["contact_id"],
        "kind": "call",
        "contacted_on": "2026-03-24",
        "by": "Sokha",
        "outcome": "not_reached",
    }
    promise = first["latest_promise"]
    assert (promise["amount"], promise["due_on"], promise["paid"], promise["state"]) == (
        "150.00",
        "2026-03-25",
        "100.00",
        "broken",
    )
    assert [(c["id"], c["kind"], c["title_number"]) for c in first["collateral_held"]] == [
        (march["title"]["id"], "land_title", march["families"][0]["title_number"])
    ]
    assert listed[two]["latest_promise"]["state"] == "kept"
    assert listed[four]["latest_promise"]["state"] == "open"
    assert (
        listed[three]["last_contact"],
        listed[three]["latest_promise"],
        listed[three]["collateral_held"],
    ) == (
        None,
        None,
        [],
    )

    # As of Mar 25, the promise's own day, it was still open (100 paid, a day left to pay 50);
    # as of Mar 19 nothing had been paid toward it and Mar 24's call had not happened.
    assert delinquent(client, officer, as_of="2026-03-25")[one]["latest_promise"]["state"] == "open"
    before = delinquent(client, officer, as_of="2026-03-19")[one]
    assert (before["latest_promise"]["paid"], before["latest_promise"]["state"]) == ("0.00", "open")
    assert (before["last_contact"]["contacted_on"], before["last_contact"]["kind"]) == ("2026-03-15", "visit")

    # the finance lead sees what is held, without the title number
    assert delinquent(client, finance)[one]["collateral_held"][0]["title_number"] is None


def test_the_collections_report_per_officer_and_site(client, march):
    follow_up(client, march)
    site = march["site"]
    report = client.get(
        "/v1/reports/collections", headers=march["finance"], params={"as_of": AS_OF.isoformat()}
    )
    assert report.status_code == 200, report.text
    body = report.json()
    # Last 7 days: Mar 20..26. Promises due in the 30 days to Mar 26: (Feb 24, Mar 26].
    #   Dara:  families 2 and 4 (latest contacts Mar 16 and Mar 25: only 4 in the 7 days); family 2's
    #          promise kept (due Mar 20), family 4's open (due Apr 5)
    #   Sokha: family 1 (latest contact Mar 24, in the 7 days); its promise broken (due Mar 25)
    #   none:  family 3, never contacted
    base = {"site_id": site["id"], "site_name": site["name"]}
    assert body["rows"] == [
        base | dict(officer="Dara", loans_in_arrears=2, contacted_last_7_days=1, promises_kept=1,
                    promises_broken=0, promises_open=1),
        base | dict(officer="Sokha", loans_in_arrears=1, contacted_last_7_days=1, promises_kept=0,
                    promises_broken=1, promises_open=0),
        base | dict(officer=None, loans_in_arrears=1, contacted_last_7_days=0, promises_kept=0,
                    promises_broken=0, promises_open=0),
    ]  # fmt: skip
    assert body["totals"] == {
        "loans_in_arrears": 4,
        "contacted_last_7_days": 2,
        "promises_kept": 1,
        "promises_broken": 1,
        "promises_open": 1,
    }
    # the partner MFI lent all four: it gets the same report
    mine = client.get("/v1/reports/collections", headers=march["partner_1"]).json()
    assert mine["rows"] == body["rows"]


def test_a_reversed_payment_no_longer_keeps_a_promise(client, march):
    done = follow_up(client, march)
    partner, two = march["partner_1"], march["loans"][1]
    [kept] = [c for c in client.get(f"/v1/loans/{two}/contacts", headers=partner).json()["items"]]
    assert (kept["promise"]["paid"], kept["promise"]["state"]) == ("100.00", "kept")
    reversed_ = client.post(
        f"/v1/repayments/{done['payment']['id']}/reverse", headers=partner, json={"reason": "cheque bounced"}
    )
    assert reversed_.status_code == 200, reversed_.text
    [now] = client.get(f"/v1/loans/{two}/contacts", headers=partner).json()["items"]
    # nothing paid from Mar 16 to Mar 20 once the payment is reversed, and Mar 20 has passed
    assert (now["promise"]["paid"], now["promise"]["state"]) == ("0.00", "broken")
    history = client.get(f"/v1/loans/{two}/history", headers=partner).json()["items"]
    assert "promise_to_pay" in [h["action"] for h in history]


def test_bad_contacts_are_refused_and_change_nothing(client, session, march, db_state):
    officer, loan_id = march["officer_1"], march["loans"][0]
    undisbursed = apply(
        client, officer, another_family(client, march)["id"], march["materials_product"]["id"], "300", 12
    )

    def body(**fields):
        return {
            "kind": "visit",
            "contacted_on": "2026-03-20",
            "by": "Sokha",
            "outcome": "reached",
            "note": "n",
            **fields,
        }

    cases = [
        (
            loan_id,
            body(outcome="not_reached", promise={"amount": "50", "due_on": "2026-03-30"}),
            422,
            "PROMISE_NOT_REACHED",
        ),
        (loan_id, body(promise={"amount": "50", "due_on": "2026-03-19"}), 422, "DATE_BEFORE_PREVIOUS_STEP"),
        (loan_id, body(promise={"amount": "0", "due_on": "2026-03-30"}), 422, "VALIDATION_ERROR"),
        (loan_id, body(promise={"amount": "50.001", "due_on": "2026-03-30"}), 422, "TOO_MANY_DECIMALS"),
        (loan_id, body(contacted_on="2026-03-27"), 422, "DATE_IN_FUTURE"),
        (loan_id, body(contacted_on="2026-01-09"), 422, "DATE_BEFORE_PREVIOUS_STEP"),
        (loan_id, body(outcome="promised"), 422, "VALIDATION_ERROR"),
        (undisbursed["id"], body(), 409, "LOAN_NOT_IN_REPAYMENT"),
        ("no-such-loan", body(), 404, "LOAN_NOT_FOUND"),
    ]
    before = db_state()
    for target, sent, status, code in cases:
        response = client.post(f"/v1/loans/{target}/contacts", headers=officer, json=sent)
        assert_problem(response, status, code)
    assert db_state() == before
