"""Events for partners' systems (issue 15, item 5), against a real HTTP receiver on 127.0.0.1.

The receiver checks each request's signature (HMAC-SHA256 of the raw body with the webhook's
secret), answers 500 to the very first request and 200 to every later one, and keeps the events
it took by their id (a receiver de-duplicates: delivery is at least once).

The loan: 1,200 USD from the partner MFI at 18 %/year over 12 months, released on 2026-01-10;
installment 1 is 110.02 (1200 x 0.015 / (1 - 1.015^-12) = 110.0160), and the loan owes
1,200 + 12 x 110.02 - 1,200 = 1,320.24 in all, so 5,000 is an overpayment (409).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from loansvc.config import Settings
from loansvc.db.session import Database
from loansvc.main import create_app
from loansvc.notify import delivery
from loansvc.notify.worker import transactions
from tests.api.helpers import assert_problem, create_household, create_lender, create_product, create_site
from tests.api.lending import (
    ELIGIBLE_FINANCES,
    apply,
    approve,
    business_day,
    consent,
    lending_world,
    named_key,
    release,
)
from tests.api.test_concurrency import Live, _delete_rows_added_since, _rows

SECRET = "partner-shared-secret-0123456789"
ALL_EVENTS = [
    "loan.approved",
    "disbursement.recorded",
    "repayment.recorded",
    "repayment.reversed",
    "loan.arrears_changed",
    "restructure.approved",
    "loan.closed",
    "title.due_for_return",
]


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        server = self.server
        expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(self.headers.get("X-Loansvc-Signature", ""), expected)
        body = json.loads(raw)
        with server.lock:
            server.requests.append({"headers": dict(self.headers), "body": body, "signed": signed})
            status = 500 if len(server.requests) == 1 else (200 if signed else 401)
            if status == 200:
                server.events.setdefault(body["id"], body)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.requests, server.events, server.lock = [], {}, threading.Lock()
    server.url = f"http://127.0.0.1:{server.server_port}/loansvc-events"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def hook_settings(database_url: str, **overrides) -> Settings:
    return Settings(
        **{"database_url": database_url, "webhooks_allow_private": True, "webhooks_retry_seconds": 0.05}
        | overrides
    )


@pytest.fixture()
def settings(database_url) -> Settings:
    return hook_settings(database_url)


@pytest.fixture()
def hook_client(db, settings):
    with TestClient(create_app(settings, database=db), raise_server_exceptions=False) as c:
        yield c


def register(client, headers, url, events=None, **extra) -> dict:
    body = {"url": url, "events": events or ALL_EVENTS, "secret": SECRET, **extra}
    response = client.post("/v1/webhooks", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(client, headers, webhook_id) -> list[dict]:
    response = client.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def _released_loan(client, session, monkeypatch) -> tuple[dict, str]:
    world = lending_world(client, session)
    business_day(monkeypatch, date(2026, 1, 5))
    applied = apply(
        client, world["partner_1"], world["household"]["id"], world["cash_product"]["id"], "1200", 12
    )
    approve(client, world["partner_2"], applied["id"])
    business_day(monkeypatch, date(2026, 1, 10))
    release(client, world["partner_1"], applied["id"], "1200", "foundation", date(2026, 1, 10))
    return world, applied["id"]


def _csv(rows: list[str]) -> bytes:
    return ("loan_id,paid_on,amount,reference\n" + "\n".join(rows) + "\n").encode()


def test_a_repayment_arrives_once_signed_after_a_retry(
    hook_client, db, settings, session, monkeypatch, receiver
):
    client = hook_client
    world, loan_id = _released_loan(client, session, monkeypatch)
    partner, mfi_id = world["partner_1"], world["mfi"]["id"]
    # registered after the approval and the tranche: those two events are not its business
    hook = register(client, partner, receiver.url)
    assert (hook["lender_id"], hook["active"]) == (mfi_id, True)
    assert "secret" not in hook
    # the materials bank's own webhook: it never gets the MFI's events
    bank_hook = register(client, world["admin"], receiver.url, lender_id=world["bank"]["id"])

    business_day(monkeypatch, date(2026, 2, 10))
    paid = client.post(
        f"/v1/loans/{loan_id}/repayments",
        headers=partner,
        json={"amount": "110.02", "paid_on": "2026-02-10", "reference": "R-1"},
    )
    assert paid.status_code == 201, paid.text
    # rolled back: an overpayment (409), and a file row refused for the same reason
    too_much = client.post(
        f"/v1/loans/{loan_id}/repayments",
        headers=partner,
        json={"amount": "5000", "paid_on": "2026-02-10", "reference": "R-X"},
    )
    assert_problem(too_much, 409, "OVERPAYMENT")
    data = _csv([f"{loan_id},2026-02-10,5000,F-X", f"{loan_id},2026-02-10,110.02,F-2"])
    imported = client.post(
        "/v1/repayments/import",
        headers=partner,
        params={"mode": "valid_rows"},
        files={"file": ("feb.csv", data, "text/csv")},
    )
    assert imported.status_code == 200, imported.text
    assert (imported.json()["recorded"], len(imported.json()["rejected"])) == (1, 1)

    # first pass: two deliveries (R-1 and F-2) to the MFI's webhook; the receiver refuses the first
    first = delivery.deliver_due(transactions(db), settings)
    assert first == {"dispatched": 2, "delivered": 1, "retrying": 1, "failed": 0}
    pending = [d for d in deliveries(client, partner, hook["id"]) if d["status"] == "pending"]
    [retry] = pending
    [attempt] = retry["attempts"]
    assert attempt["status_code"] == 500
    # the retry is due webhooks_retry_seconds (0.05 s here) after the attempt: well within 10 s
    due_in = datetime.fromisoformat(retry["next_attempt_at"]) - datetime.fromisoformat(
        attempt["attempted_at"]
    )
    assert timedelta(0) < due_in < timedelta(seconds=10)

    time.sleep(0.1)
    assert delivery.deliver_due(transactions(db), settings)["delivered"] == 1
    assert delivery.deliver_due(transactions(db), settings) == {
        "dispatched": 0,
        "delivered": 0,
        "retrying": 0,
        "failed": 0,
    }

    # three requests, all signed; two events after de-duplication by id, both repayments recorded
    assert len(receiver.requests) == 3 and all(r["signed"] for r in receiver.requests)
    assert len({r["body"]["id"] for r in receiver.requests}) == 2
    events = list(receiver.events.values())
    assert sorted(e["data"]["reference"] for e in events) == ["F-2", "R-1"]  # never R-X nor F-X
    for event in events:
        assert set(event) == {"id", "type", "occurred_at", "lender_id", "data"}
        assert (event["type"], event["lender_id"], event["data"]["loan_id"]) == (
            "repayment.recorded",
            mfi_id,
            loan_id,
        )
        assert event["data"]["amount"] == "110.02"
    for request in receiver.requests:
        assert request["headers"]["X-Loansvc-Event-Id"] == request["body"]["id"]
        assert request["headers"]["Content-Type"] == "application/json"

    listed = deliveries(client, partner, hook["id"])
    assert sorted(len(d["attempts"]) for d in listed) == [1, 2]
    assert {d["status"] for d in listed} == {"delivered"}
    retried = next(d for d in listed if len(d["attempts"]) == 2)
    assert [a["status_code"] for a in retried["attempts"]] == [500, 200]
    assert deliveries(client, world["admin"], bank_hook["id"]) == []


def test_a_partner_gets_the_event_types_it_chose_from_its_loans(
    hook_client, db, settings, session, monkeypatch, receiver
):
    client = hook_client
    world = lending_world(client, session)
    receiver.requests.append({"body": {"id": "warm-up"}, "signed": True})  # no 500 in this test
    hook = register(client, world["partner_1"], receiver.url, events=["loan.approved", "loan.closed"])
    business_day(monkeypatch, date(2026, 1, 5))
    applied = apply(
        client, world["partner_1"], world["household"]["id"], world["cash_product"]["id"], "1200", 12
    )
    approve(client, world["partner_2"], applied["id"])
    business_day(monkeypatch, date(2026, 1, 10))
    release(client, world["partner_1"], applied["id"], "1200", "foundation", date(2026, 1, 10))
    assert delivery.deliver_due(transactions(db), settings)["delivered"] == 1
    [approved] = receiver.events.values()
    assert approved["type"] == "loan.approved"
    assert approved["data"] == {
        "loan_id": applied["id"],
        "household_id": world["household"]["id"],
        "approved_amount": "1200.00",
        "currency": "USD",
        "approved_on": "2026-01-05",
    }
    # the tranche (disbursement.recorded) was not chosen: no delivery
    assert len(deliveries(client, world["partner_1"], hook["id"])) == 1


def test_a_deleted_webhook_gets_nothing_more(hook_client, db, settings, session, monkeypatch, receiver):
    client = hook_client
    world, loan_id = _released_loan(client, session, monkeypatch)
    partner = world["partner_1"]
    hook = register(client, partner, receiver.url)
    other_mfi = create_lender(client, world["admin"])
    outsider = named_key(session, "another MFI's officer", "partner", other_mfi["id"])
    assert_problem(client.get(f"/v1/webhooks/{hook['id']}", headers=outsider), 404, "WEBHOOK_NOT_FOUND")
    assert_problem(client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=outsider), 404)
    assert_problem(client.delete(f"/v1/webhooks/{hook['id']}", headers=outsider), 404)
    assert client.get("/v1/webhooks", headers=outsider).json()["total"] == 0

    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=partner).status_code == 204
    assert client.get("/v1/webhooks", headers=partner).json()["total"] == 0
    business_day(monkeypatch, date(2026, 2, 10))
    paid = client.post(
        f"/v1/loans/{loan_id}/repayments",
        headers=partner,
        json={"amount": "110.02", "paid_on": "2026-02-10", "reference": "R-1"},
    )
    assert paid.status_code == 201
    assert delivery.deliver_due(transactions(db), settings)["dispatched"] == 0
    assert receiver.requests == []


def test_a_delivery_that_keeps_failing_gives_up(db, database_url, session, monkeypatch, receiver):
    settings = hook_settings(database_url, webhooks_retry_seconds=0, webhooks_max_attempts=2)
    with TestClient(create_app(settings, database=db), raise_server_exceptions=False) as client:
        world, loan_id = _released_loan(client, session, monkeypatch)
        hook = register(client, world["partner_1"], receiver.url.replace("/loansvc-events", "/x"))
        receiver.server_close()  # nobody answers any more: connection refused
        business_day(monkeypatch, date(2026, 2, 10))
        paid = client.post(
            f"/v1/loans/{loan_id}/repayments",
            headers=world["partner_1"],
            json={"amount": "110.02", "paid_on": "2026-02-10", "reference": "R-1"},
        )
        assert paid.status_code == 201
        assert delivery.deliver_due(transactions(db), settings)["retrying"] == 1
        assert delivery.deliver_due(transactions(db), settings)["failed"] == 1
        [failed] = deliveries(client, world["partner_1"], hook["id"])
        assert (failed["status"], failed["attempt_count"], failed["next_attempt_at"]) == ("failed", 2, None)
        assert all(a["status_code"] is None and a["error"] for a in failed["attempts"])


def test_backoff_defaults_retry_within_ten_seconds_then_double():
    settings = Settings()
    assert delivery.retry_delay(settings, 1) == timedelta(seconds=5)  # the first retry: 5 s
    assert delivery.retry_delay(settings, 2) == timedelta(seconds=10)
    assert delivery.retry_delay(settings, 20) == timedelta(seconds=3600)  # capped at an hour


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://partner.example/hook", "WEBHOOK_URL_INVALID"),
        ("file:///etc/passwd", "WEBHOOK_URL_INVALID"),
        ("partner.example/hook", "WEBHOOK_URL_INVALID"),
        ("https://user:pw@partner.example/hook", "WEBHOOK_URL_INVALID"),
        ("http://127.0.0.1:8080/hook", "WEBHOOK_URL_PRIVATE"),
        ("http://localhost/hook", "WEBHOOK_URL_PRIVATE"),
        ("http://10.1.2.3/hook", "WEBHOOK_URL_PRIVATE"),
        ("http://192.168.1.20/hook", "WEBHOOK_URL_PRIVATE"),
        ("http://169.254.169.254/latest/meta-data", "WEBHOOK_URL_PRIVATE"),
        ("http://[::1]/hook", "WEBHOOK_URL_PRIVATE"),
        ("http://[::ffff:10.0.0.1]/hook", "WEBHOOK_URL_PRIVATE"),
    ],
)
def test_urls_refused_without_the_private_setting(client, session, db_state, url, code):
    """The default app (LOANSVC_WEBHOOKS_ALLOW_PRIVATE unset)."""
    world = lending_world(client, session)
    before = db_state()
    response = client.post(
        "/v1/webhooks", headers=world["partner_1"], json={"url": url, "events": ALL_EVENTS, "secret": SECRET}
    )
    assert_problem(response, 422, code)
    assert db_state() == before


def test_bad_registrations_change_nothing(hook_client, session, db_state):
    client = hook_client
    world = lending_world(client, session)
    partner = world["partner_1"]
    before = db_state()
    good = {"url": "http://127.0.0.1:9/hook", "events": ["loan.approved"], "secret": SECRET}
    for body, status, code in (
        ({**good, "url": "ftp://127.0.0.1/hook"}, 422, "WEBHOOK_URL_INVALID"),  # even with the setting
        ({**good, "events": ["loan.exploded"]}, 422, None),
        ({**good, "events": []}, 422, None),
        ({**good, "secret": "short"}, 422, None),
        ({**good, "lender_id": world["bank"]["id"]}, 403, "OTHER_LENDER"),
    ):
        assert_problem(client.post("/v1/webhooks", headers=partner, json=body), status, code)
    assert_problem(client.post("/v1/webhooks", headers=world["officer_1"], json=good), 403)
    assert_problem(client.post("/v1/webhooks", headers=world["admin"], json=good), 422, "LENDER_REQUIRED")
    unknown = {**good, "lender_id": "no-such-lender"}
    assert_problem(client.post("/v1/webhooks", headers=world["admin"], json=unknown), 422, "UNKNOWN_LENDER")
    assert db_state() == before


@pytest.fixture()
def live_worker(engine: Engine, database_url: str):
    """The app on its own Database with its delivery worker running (polling every 50 ms)."""
    before = _rows(engine)
    database = Database(database_url)
    settings = hook_settings(database_url, worker_enabled=True, worker_poll_seconds=0.05)
    try:
        with TestClient(create_app(settings, database=database), raise_server_exceptions=False) as client:
            yield Live(client, database)
    finally:
        database.engine.dispose()
        _delete_rows_added_since(engine, before)


def test_the_service_delivers_on_its_own(live_worker, monkeypatch, receiver):
    live = live_worker
    business_day(monkeypatch, date(2026, 1, 5))
    admin = live.key("worker admin", "admin")
    officer = live.key("worker officer", "loan_officer")
    mfi = create_lender(live.client, admin)
    product = create_product(live.client, admin, mfi["id"])
    submitter = live.key("worker MFI officer", "partner", mfi["id"])
    decider = live.key("worker MFI manager", "partner", mfi["id"])
    family = create_household(
        live.client, officer, create_site(live.client, officer)["id"], **ELIGIBLE_FINANCES
    )
    body = {
        "household_id": family["id"],
        "product_id": product["id"],
        "amount": "1200",
        "term": 12,
        "purpose": "core house",
        "consent": consent(),
    }
    loan = live.ok("POST", "/v1/loans", submitter, body)
    hook = live.ok(
        "POST", "/v1/webhooks", decider, {"url": receiver.url, "events": ["loan.approved"], "secret": SECRET}
    )
    live.ok("POST", f"/v1/loans/{loan['id']}/approve", decider, {}, status=200)
    # the worker sends it (500), retries 50 ms later (200): no one calls deliver here
    deadline = time.monotonic() + 10
    while not receiver.events and time.monotonic() < deadline:
        time.sleep(0.05)
    [event] = receiver.events.values()
    assert (event["type"], event["data"]["loan_id"]) == ("loan.approved", loan["id"])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        [listed] = live.ok("GET", f"/v1/webhooks/{hook['id']}/deliveries", decider, status=200)["items"]
        if listed["status"] == "delivered":
            break
        time.sleep(0.05)
    assert [a["status_code"] for a in listed["attempts"]] == [500, 200]
