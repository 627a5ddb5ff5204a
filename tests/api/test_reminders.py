"""Reminders before a payment is due and notices when it is late (issue 15, item 3), told as a
family's first installments, then the rules, opt-outs, gateways, logs and overlapping runs.

The loan: 1,200 USD from the partner MFI at 18 %/year over 12 monthly installments, released on
2026-01-10, so installment k is due on the 10th, k months later (10 February, 10 March, ...).
  rate per month = 18 % / 12 = 1.5 %
  PMT            = 1200 x 0.015 / (1 - 1.015^-12) = 110.0160 -> 110.02 per installment
The default rules: 3 days before a due date (7 February for installment 1), and 1, 7 and 30 days
after it (11 February, 17 February, 12 March while installment 1 stays unpaid).
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from loansvc import cli
from loansvc.config import Settings, get_settings
from loansvc.db.models import EventOutbox
from loansvc.db.session import Database
from loansvc.main import create_app
from loansvc.notify import gateways, reminders
from loansvc.notify import repository as notify_repository
from loansvc.notify.worker import transactions
from tests.api.helpers import assert_problem, create_lender
from tests.api.lending import apply, approve, business_day, lending_world, release
from tests.api.test_concurrency import Live, _delete_rows_added_since, _partner_loan, _rows, _tranche

PHONE, NAME = "012 345 678", "Sok Sreymom"  # household_body's family


def _loan(client, session, monkeypatch, **household) -> tuple[dict, str]:
    world = lending_world(client, session, **household)
    business_day(monkeypatch, date(2026, 1, 5))
    applied = apply(
        client, world["partner_1"], world["household"]["id"], world["cash_product"]["id"], "1200", 12
    )
    approve(client, world["partner_2"], applied["id"])
    business_day(monkeypatch, date(2026, 1, 10))
    release(client, world["partner_1"], applied["id"], "1200", "foundation", date(2026, 1, 10))
    return world, applied["id"]


def run(client, admin, day: date, monkeypatch=None, status: int = 200) -> dict:
    if monkeypatch is not None:
        business_day(monkeypatch, day)
    response = client.post("/v1/reminders/run", headers=admin, params={"as_of": day.isoformat()})
    assert response.status_code == status, response.text
    return response.json()


def messages(client, headers, household_id: str) -> list[dict]:
    response = client.get(f"/v1/households/{household_id}/messages", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def arrears_events(session, loan_id: str) -> list[dict]:
    rows = session.scalars(
        select(EventOutbox).where(EventOutbox.type == "loan.arrears_changed").order_by(EventOutbox.created_at)
    )
    return [e.data for e in rows if e.data["loan_id"] == loan_id]


def test_a_family_reminded_before_and_after_its_first_due_date(client, session, monkeypatch):
    world, loan_id = _loan(client, session, monkeypatch, language="en")
    admin, household = world["admin"], world["household"]
    assert household["language"] == "en"

    # 7 February, 3 days before installment 1 is due: one reminder, sent by the log gateway.
    first = run(client, admin, date(2026, 2, 7), monkeypatch)
    assert (first["ran"], first["created"], first["sent"], first["window_from"]) == (True, 1, 1, "2026-02-07")
    [reminder] = messages(client, world["officer_1"], household["id"])
    assert (reminder["rule"], reminder["installment_number"], reminder["trigger_on"]) == (
        "before_due:3",
        1,
        "2026-02-07",
    )
    assert (reminder["amount"], reminder["due_on"], reminder["status"]) == ("110.02", "2026-02-10", "sent")
    assert reminder["body"] == (
        "Reminder: your housing loan payment of $110.02 is due on 10 Feb 2026. "
        f"Thank you — {world['mfi']['name']}"
    )

    # The same day again: nothing new (installment 1, rule before_due:3, 7 February is written).
    again = run(client, admin, date(2026, 2, 7))
    assert (again["ran"], again["created"]) == (True, 0)
    assert len(messages(client, admin, household["id"])) == 1

    # 11 February: installment 1 unpaid, 1 day past due; the arrears event crosses 0 -> 1.
    late = run(client, admin, date(2026, 2, 11), monkeypatch)
    assert (late["created"], late["arrears_events"]) == (1, 1)
    notice = messages(client, admin, household["id"])[0]
    assert (notice["rule"], notice["amount"]) == ("past_due:1", "110.02")
    assert "is 1 days late. Amount overdue: $110.02" in notice["body"]
    [crossed] = arrears_events(session, loan_id)
    assert (crossed["days_past_due"], crossed["threshold"], crossed["previous_threshold"]) == (1, 1, 0)

    # No run from 12 to 19 February; the run of the 20th catches up 12..20: the 7-day notice of
    # the 17th (10 February + 7). Still 1..29 days late: no new arrears threshold.
    caught_up = run(client, admin, date(2026, 2, 20), monkeypatch)
    assert (caught_up["window_from"], caught_up["created"], caught_up["arrears_events"]) == (
        "2026-02-12",
        1,
        0,
    )
    week = messages(client, admin, household["id"])[0]
    assert (week["rule"], week["trigger_on"]) == ("past_due:7", "2026-02-17")

    # The family pays installment 1 on the 20th. On 7 March (10 March - 3) installment 2's reminder
    # names its 110.02; the loan is no longer late, so the event goes back 1 -> 0.
    paid = client.post(
        f"/v1/loans/{loan_id}/repayments",
        headers=world["partner_1"],
        json={"amount": "110.02", "paid_on": "2026-02-20", "reference": "R-1"},
    )
    assert paid.status_code == 201, paid.text
    march = run(client, admin, date(2026, 3, 7), monkeypatch)
    assert (march["created"], march["arrears_events"]) == (1, 1)
    second = messages(client, admin, household["id"])[0]
    assert (second["rule"], second["installment_number"], second["due_on"]) == (
        "before_due:3",
        2,
        "2026-03-10",
    )
    assert arrears_events(session, loan_id)[-1]["threshold"] == 0
    # The run of 12 March handles 8..12 March: installment 2 (due the 10th) is 1 day late on the
    # 11th; the 30-day notice of installment 1 (12 March) is not written, it is paid.
    assert run(client, admin, date(2026, 3, 12), monkeypatch)["created"] == 1
    newest = messages(client, admin, household["id"])[0]
    assert (newest["rule"], newest["installment_number"], newest["trigger_on"]) == (
        "past_due:1",
        2,
        "2026-03-11",
    )

    outbox = client.get("/v1/reminders/outbox", headers=admin, params={"status": "sent"}).json()
    assert sorted(
        (m["installment_number"], m["rule"]) for m in outbox["items"] if m["loan_id"] == loan_id
    ) == [
        (1, "before_due:3"),
        (1, "past_due:1"),
        (1, "past_due:7"),
        (2, "before_due:3"),
        (2, "past_due:1"),
    ]
    assert client.get("/v1/reminders/outbox", headers=admin, params={"status": "queued"}).json()["total"] == 0


def test_arrears_events_cross_1_30_and_90_days(client, session, monkeypatch):
    world, loan_id = _loan(client, session, monkeypatch)
    admin = world["admin"]
    # nothing is paid; installment 1 was due on 10 February 2026
    assert run(client, admin, date(2026, 2, 11), monkeypatch)["arrears_events"] == 1  # 1 day
    assert run(client, admin, date(2026, 3, 11), monkeypatch)["arrears_events"] == 0  # 29 days
    # 12 March: 18 days left of February + 12 = 30 days past due; the 30-day notice goes out too
    march = run(client, admin, date(2026, 3, 12), monkeypatch)
    assert (march["arrears_events"], march["created"]) == (1, 1)
    assert messages(client, admin, world["household"]["id"])[0]["rule"] == "past_due:30"
    # 11 May: 18 (Feb) + 31 (Mar) + 30 (Apr) + 11 = 90 days
    assert run(client, admin, date(2026, 5, 10), monkeypatch)["arrears_events"] == 0
    assert run(client, admin, date(2026, 5, 11), monkeypatch)["arrears_events"] == 1
    crossings = [
        (e["previous_threshold"], e["threshold"], e["days_past_due"])
        for e in arrears_events(session, loan_id)
    ]
    assert crossings == [(0, 1, 1), (1, 30, 30), (30, 90, 90)]


def test_khmer_is_the_default_language(client, session, monkeypatch):
    world, _ = _loan(client, session, monkeypatch)
    assert world["household"]["language"] == "km"
    run(client, world["admin"], date(2026, 2, 7), monkeypatch)
    [reminder] = messages(client, world["admin"], world["household"]["id"])
    assert reminder["language"] == "km"
    # the amount and the date the Khmer way: "$110.02", "10 កុម្ភៈ 2026" (February)
    assert "$110.02" in reminder["body"] and "10 កុម្ភៈ 2026" in reminder["body"]
    assert "សូមរំលឹក" in reminder["body"]


def test_a_household_that_opted_out_gets_nothing(client, session, monkeypatch, db_state):
    world, _ = _loan(client, session, monkeypatch)
    household_id, officer = world["household"]["id"], world["officer_1"]
    business_day(monkeypatch, date(2026, 2, 1))
    path = f"/v1/households/{household_id}/reminders-opt-out"
    assert client.get(path, headers=officer).json()["opted_out"] is False

    before = db_state()
    assert_problem(
        client.post(path, headers=officer, json={"opted_out_on": "2026-02-02"}), 422, "DATE_IN_FUTURE"
    )
    assert db_state() == before

    opted = client.post(path, headers=officer, json={"reason": "prefers the officer's visits"})
    assert opted.status_code == 201, opted.text
    assert (opted.json()["opted_out"], opted.json()["opted_out_on"]) == (True, "2026-02-01")
    assert client.get(path, headers=world["partner_1"]).json() == opted.json()
    assert_problem(client.post(path, headers=officer, json={}), 409, "ALREADY_OPTED_OUT")

    result = run(client, world["admin"], date(2026, 2, 7), monkeypatch)
    assert (result["created"], result["skipped_opted_out"]) == (0, 1)
    assert messages(client, officer, household_id) == []

    # opting back in: the 11 February notice is written again
    assert client.delete(path, headers=officer).status_code == 204
    assert_problem(client.delete(path, headers=officer), 404, "NOT_OPTED_OUT")
    assert run(client, world["admin"], date(2026, 2, 11), monkeypatch)["created"] == 1


def test_a_lenders_own_rules_and_templates(client, session, monkeypatch, db_state):
    world, _ = _loan(client, session, monkeypatch, language="en")
    lender_id, partner = world["mfi"]["id"], world["partner_1"]
    path = f"/v1/lenders/{lender_id}/reminder-rules"
    defaults = client.get(path, headers=partner).json()
    assert defaults["defaults"] is True
    assert [(r["kind"], r["days"]) for r in defaults["rules"]] == [
        ("before_due", 3),
        ("past_due", 1),
        ("past_due", 7),
        ("past_due", 30),
    ]

    other = create_lender(client, world["admin"])
    before = db_state()
    for bad, code in (
        (
            {"rules": [{"kind": "before_due", "days": 5, "template_en": "Dear {head_name}, pay"}]},
            "TEMPLATE_INVALID",
        ),
        (
            {"rules": [{"kind": "before_due", "days": 5, "template_km": "{amount.__class__}"}]},
            "TEMPLATE_INVALID",
        ),
        ({"rules": [{"kind": "past_due", "days": 2}, {"kind": "past_due", "days": 2}]}, "DUPLICATE_RULE"),
        ({"rules": [{"kind": "past_due", "days": 0}]}, "INVALID_RULE"),
    ):
        assert_problem(client.put(path, headers=partner, json=bad), 422, code)
    assert_problem(client.put(path, headers=partner, json={"rules": []}), 422)
    assert_problem(
        client.put(
            f"/v1/lenders/{other['id']}/reminder-rules", headers=partner, json={"rules": defaults["rules"]}
        ),
        404,
    )
    assert_problem(
        client.put(path, headers=world["officer_1"], json={"rules": [{"kind": "past_due", "days": 2}]}), 403
    )
    assert db_state() == before

    own = {"rules": [{"kind": "before_due", "days": 5, "template_en": "Please pay {amount} by {due_date}."}]}
    saved = client.put(path, headers=partner, json=own)
    assert saved.status_code == 200, saved.text
    assert saved.json()["defaults"] is False
    assert saved.json()["rules"][0]["template_km"].startswith("សូមរំលឹក")  # the built-in Khmer text

    # 5 February = 10 February - 5; the 3-day default no longer applies on the 7th
    assert run(client, world["admin"], date(2026, 2, 5), monkeypatch)["created"] == 1
    [reminder] = messages(client, partner, world["household"]["id"])
    assert reminder["body"] == "Please pay $110.02 by 10 Feb 2026."
    assert run(client, world["admin"], date(2026, 2, 7), monkeypatch)["created"] == 0


def test_runs_need_an_admin_and_a_date_not_in_the_future(client, session, monkeypatch, db_state):
    world, _ = _loan(client, session, monkeypatch)
    business_day(monkeypatch, date(2026, 2, 7))
    before = db_state()
    assert_problem(client.post("/v1/reminders/run", headers=world["officer_1"]), 403)
    response = client.post("/v1/reminders/run", headers=world["admin"], params={"as_of": "2026-02-08"})
    assert_problem(response, 422, "DATE_IN_FUTURE")
    assert db_state() == before


def test_no_phone_number_or_name_in_any_log_line(client, session, monkeypatch, caplog):
    world, _ = _loan(client, session, monkeypatch)
    caplog.set_level(logging.DEBUG)
    business_day(monkeypatch, date(2026, 2, 7))
    run(client, world["admin"], date(2026, 2, 7))
    run(client, world["admin"], date(2026, 2, 11), monkeypatch)
    messages(client, world["officer_1"], world["household"]["id"])
    logged = [record.getMessage() for record in caplog.records]
    assert any("sent via log gateway" in line for line in logged)  # the gateway did log
    assert not [line for line in logged if PHONE in line or NAME in line or PHONE.replace(" ", "") in line]


class _SmsAdapter(BaseHTTPRequestHandler):
    """An SMS provider's adapter: the first request fails (500), the next ones are taken."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        server.received.append((body, self.headers.get("Authorization")))
        status = server.answers.pop(0) if server.answers else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):  # the test output stays quiet
        pass


@pytest.fixture()
def sms_adapter():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SmsAdapter)
    server.received, server.answers = [], [500]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_the_http_gateway_retries_then_sends(db, database_url, session, monkeypatch, sms_adapter):
    settings = Settings(
        database_url=database_url,
        reminders_gateway="http",
        reminders_http_url=f"http://127.0.0.1:{sms_adapter.server_port}/sms",
        reminders_http_token="adapter-token",
        reminders_retry_seconds=0,
    )
    with TestClient(create_app(settings, database=db), raise_server_exceptions=False) as client:
        world, _ = _loan(client, session, monkeypatch, language="en")
        result = run(client, world["admin"], date(2026, 2, 7), monkeypatch)
        assert (result["created"], result["sent"], result["queued"]) == (1, 0, 1)

        assert gateways.deliver_due(transactions(db), settings) == {"sent": 0, "failed": 0, "retrying": 1}
        [queued] = messages(client, world["admin"], world["household"]["id"])
        assert (queued["status"], queued["attempts"], queued["failure_reason"]) == ("queued", 1, "HTTP 500")

        assert gateways.deliver_due(transactions(db), settings) == {"sent": 1, "failed": 0, "retrying": 0}
        [sent] = messages(client, world["admin"], world["household"]["id"])
        assert (sent["status"], sent["attempts"], sent["gateway"]) == ("sent", 2, "http")
        # the adapter got the message twice (once refused), with the phone number to send it to
        assert [(b["id"], b["to"], auth) for b, auth in sms_adapter.received] == [
            (sent["id"], PHONE, "Bearer adapter-token")
        ] * 2
        assert sms_adapter.received[0][0]["text"] == sent["body"]

        # a message the adapter refuses (400) fails at once, with the reason
        sms_adapter.answers = [400]
        assert run(client, world["admin"], date(2026, 2, 11), monkeypatch)["created"] == 1
        assert gateways.deliver_due(transactions(db), settings)["failed"] == 1
        failed = client.get(
            "/v1/reminders/outbox", headers=world["admin"], params={"status": "failed"}
        ).json()
        assert [m["failure_reason"] for m in failed["items"]] == ["gateway refused it: HTTP 400"]


@pytest.fixture()
def live(engine: Engine, database_url: str):
    """The app on its own Database (real commits, one connection per request), on either engine;
    whatever the test commits is deleted at its end."""
    before = _rows(engine)
    database = Database(database_url)
    app = create_app(Settings(database_url=database_url), database=database)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, database
    finally:
        database.engine.dispose()
        _delete_rows_added_since(engine, before)


def _live_loan(client, database, monkeypatch) -> str:
    business_day(monkeypatch, date(2026, 1, 10))
    live = Live(client, database)
    loan, releaser = _partner_loan(live, "1200")
    live.ok("POST", f"/v1/loans/{loan['id']}/disbursements", releaser, _tranche("1200"))
    return loan["id"]


def _outbox_of(database, loan_id: str) -> list[tuple[str, date]]:
    with database.transaction(write=False) as session:
        query = notify_repository.messages_query(lender_id=None)
        return sorted((m.rule_key, m.trigger_on) for m in session.scalars(query) if m.loan_id == loan_id)


def test_two_runs_started_together_write_each_message_once(live, monkeypatch):
    client, database = live
    loan_id = _live_loan(client, database, monkeypatch)
    admin = Live(client, database).key("reminder race admin", "admin")
    business_day(monkeypatch, date(2026, 2, 7))
    start = threading.Barrier(4)

    def one_run(_):
        start.wait()
        return client.post("/v1/reminders/run", headers=admin, params={"as_of": "2026-02-07"})

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(one_run, range(4)))
    assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
    results = [r.json() for r in responses]
    # on PostgreSQL a run that finds the advisory lock taken does nothing and says so
    assert sum(r["created"] for r in results) == 1
    assert all(r["ran"] or "lock" in r["note"] for r in results)
    assert _outbox_of(database, loan_id) == [("before_due:3", date(2026, 2, 7))]


def test_the_unique_key_alone_holds_under_overlapping_runs(live, monkeypatch):
    """Without the advisory lock (as if two servers ran with different locks), the outbox's unique
    key and ON CONFLICT DO NOTHING still write the message once."""
    client, database = live
    loan_id = _live_loan(client, database, monkeypatch)
    monkeypatch.setattr(notify_repository, "try_job_lock", lambda session, key: True)
    start = threading.Barrier(4)

    def one_run(i):
        start.wait()
        with database.transaction() as session:
            return reminders.run(
                session, date(2026, 2, 7), date(2026, 2, 7), catch_up_days=31, ran_by=f"t{i}"
            )

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one_run, range(4)))
    assert sorted(r.created for r in results) == [0, 0, 0, 1]
    assert _outbox_of(database, loan_id) == [("before_due:3", date(2026, 2, 7))]


def test_the_cron_commands(live, database_url, monkeypatch):
    client, database = live
    loan_id = _live_loan(client, database, monkeypatch)
    monkeypatch.setenv("LOANSVC_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        business_day(monkeypatch, date(2026, 2, 7))
        runner = CliRunner()
        first = runner.invoke(cli.app, ["reminders", "run", "--as-of", "2026-02-07"])
        assert first.exit_code == 0, first.output
        assert "1 written, 1 sent, 0 failed" in first.output
        again = runner.invoke(cli.app, ["reminders", "run"])  # today: 7 February
        assert "0 written" in again.output
        for bad in ("2026-13-01", "2026-02-08"):  # not a date; in the future
            assert runner.invoke(cli.app, ["reminders", "run", "--as-of", bad]).exit_code == 2
        delivered = runner.invoke(cli.app, ["webhooks", "deliver"])
        assert delivered.exit_code == 0, delivered.output
        assert "0 delivered" in delivered.output
    finally:
        get_settings.cache_clear()
    assert _outbox_of(database, loan_id) == [("before_due:3", date(2026, 2, 7))]
