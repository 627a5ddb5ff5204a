"""The holiday calendar: due dates on Khmer New Year (and any holiday or non-working day) move by the
product's rule, a payment on the moved day is on time, and a holiday added later moves the future
due dates of the active loans it touches, once, in their history.

The loan: 520 USD at 18 % a year over 26 weekly installments, disbursed Tuesday 2026-03-17, so
installment k falls due on the Tuesday k weeks later: #1 Mar 24, #2 Mar 31, #3 Apr 7, #4 Apr 14,
#8 May 12 ... Khmer New Year 2026 is Tue Apr 14 to Thu Apr 16 (the `holidays` package's table,
as gazetted): the next working day after Apr 14 is Fri Apr 17.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from tests.api.helpers import assert_problem, create_product
from tests.api.lending import apply, approve, business_day, lending_world, release

START = date(2026, 3, 17)


def weekly(k: int) -> date:
    return START + timedelta(weeks=k)


def add_holiday(client, admin, day: date, name: str, **extra):
    return client.post("/v1/holidays", headers=admin, json={"date": day.isoformat(), "name": name, **extra})


def weekly_loan(client, world, monkeypatch, **product) -> str:
    item = create_product(
        client, world["admin"], world["mfi"]["id"], frequency="weekly", min_term=12, max_term=104, **product
    )
    business_day(monkeypatch, START)
    loan = apply(client, world["officer_1"], world["household"]["id"], item["id"], "520", 26)
    approve(client, world["partner_1"], loan["id"])
    release(client, world["partner_2"], loan["id"], "520", "foundation", START)
    return loan["id"]


def dues(client, headers, loan_id: str) -> list[str]:
    rows = client.get(f"/v1/loans/{loan_id}/schedule", headers=headers).json()["installments"]
    return [r["due_date"] for r in rows]


def test_a_due_date_on_khmer_new_year_moves_to_the_next_working_day(client, session, monkeypatch):
    world = lending_world(client, session)
    admin = world["admin"]
    business_day(monkeypatch, date(2026, 3, 10))
    for day in (date(2026, 4, 14), date(2026, 4, 15), date(2026, 4, 16)):
        assert add_holiday(client, admin, day, "Khmer New Year").status_code == 201
    loan_id = weekly_loan(client, world, monkeypatch)
    partner = world["partner_1"]
    got = dues(client, partner, loan_id)
    assert got[:5] == ["2026-03-24", "2026-03-31", "2026-04-07", "2026-04-17", "2026-04-21"]
    # the other due dates stay on their Tuesdays
    assert got[7] == weekly(8).isoformat()
    rows = client.get(f"/v1/loans/{loan_id}/schedule", headers=partner).json()["installments"]
    # per-period interest: the moved installment owes the same as its neighbours' rule gives,
    # 1.5 % a year / 52 ... the amounts do not depend on the date: #4 equals a same-day product's #4
    same_day = weekly_loan_same_day(client, world, monkeypatch)
    plain = client.get(f"/v1/loans/{same_day}/schedule", headers=partner).json()["installments"]
    assert [(r["principal"], r["interest"]) for r in rows] == [(r["principal"], r["interest"]) for r in plain]
    assert plain[3]["due_date"] == "2026-04-14"  # same_day keeps the holiday
    # pay #1..#3 on their days and #4 on Friday Apr 17: on time, nothing past due
    for k, day in enumerate((weekly(1), weekly(2), weekly(3), date(2026, 4, 17))):
        business_day(monkeypatch, day)
        body = {"amount": rows[k]["total"], "paid_on": day.isoformat(), "reference": f"W{k + 1}"}
        assert client.post(f"/v1/loans/{loan_id}/repayments", headers=partner, json=body).status_code == 201
    arrears = client.get(f"/v1/loans/{loan_id}/arrears", headers=partner, params={"as_of": "2026-04-17"})
    assert arrears.json()["days_past_due"] == 0
    # on Apr 16 (the holiday, before the moved date) it was not late either
    before = client.get(f"/v1/loans/{loan_id}/arrears", headers=partner, params={"as_of": "2026-04-16"})
    assert before.json()["days_past_due"] == 0


def weekly_loan_same_day(client, world, monkeypatch) -> str:
    from tests.api.lending import another_family

    family = another_family(client, world)
    item = create_product(
        client,
        world["admin"],
        world["mfi"]["id"],
        frequency="weekly",
        min_term=12,
        max_term=104,
        holiday_rule="same_day",
    )
    business_day(monkeypatch, START)
    loan = apply(client, world["officer_1"], family["id"], item["id"], "520", 26)
    approve(client, world["partner_1"], loan["id"])
    release(client, world["partner_2"], loan["id"], "520", "foundation", START)
    return loan["id"]


def test_a_holiday_added_later_moves_future_due_dates_once(client, session, monkeypatch, db_state):
    world = lending_world(client, session)
    admin, partner = world["admin"], world["partner_1"]
    loan_id = weekly_loan(client, world, monkeypatch)
    assert dues(client, partner, loan_id)[7] == "2026-05-12"  # #8
    business_day(monkeypatch, date(2026, 4, 20))
    # a holiday in the past moves nothing (but is recorded)
    past = add_holiday(client, admin, date(2026, 3, 31), "a correction after the fact")
    assert (past.status_code, past.json()["moved_loans"]) == (201, 0)
    assert dues(client, partner, loan_id)[1] == "2026-03-31"
    # bad input changes nothing
    before = db_state()
    for bad in (
        {"date": "2026-13-01", "name": "x"},
        {"date": "2026-05-12"},
        {"date": "2026-05-12", "name": ""},
    ):
        assert client.post("/v1/holidays", headers=admin, json=bad).status_code == 422
    assert_problem(
        client.post("/v1/holidays", headers=partner, json={"date": "2026-05-12", "name": "x"}), 403
    )
    assert db_state() == before
    # a holiday on #8 (Tue May 12), entered before it: #8 moves to Wed May 13, once
    added = add_holiday(client, admin, date(2026, 5, 12), "a royal decree")
    assert (added.status_code, added.json()["moved_loans"]) == (201, 1)
    got = dues(client, partner, loan_id)
    assert got[6:9] == ["2026-05-05", "2026-05-13", "2026-05-19"]
    versions = client.get(f"/v1/loans/{loan_id}/schedule/versions", headers=partner).json()
    assert [(v["kind"], v["current"]) for v in versions] == [("disbursement", False), ("holiday", True)]
    history = client.get(f"/v1/loans/{loan_id}/history", headers=partner).json()["items"]
    assert history[-1]["action"] == "due_dates_moved"
    assert_problem(add_holiday(client, admin, date(2026, 5, 12), "again"), 409, "HOLIDAY_EXISTS")
    # removing it moves #8 back
    removed = client.delete(f"/v1/holidays/{added.json()['id']}", headers=admin)
    assert (removed.status_code, removed.json()["moved_loans"]) == (200, 1)
    assert dues(client, partner, loan_id)[7] == "2026-05-12"
    # a lender that does not collect on Tuesdays: every future Tuesday moves to Wednesday
    days = client.put(
        f"/v1/lenders/{world['mfi']['id']}/working-days", headers=admin, json={"non_working_weekdays": [1]}
    )
    assert (days.status_code, days.json()["moved_loans"]) == (200, 1)
    got = dues(client, partner, loan_id)
    assert got[:5] == ["2026-03-24", "2026-03-31", "2026-04-07", "2026-04-14", "2026-04-22"]


def test_holidays_seed_fills_cambodias_public_holidays(tmp_path):
    url = f"sqlite:///{tmp_path / 'seed.db'}"
    env = {"LOANSVC_DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "loansvc.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert run("db", "upgrade").returncode == 0
    first = run("holidays", "seed", "--years", "2026")
    assert first.returncode == 0, first.stderr
    # 2026: 21 days in the table (Khmer New Year 3, Pchum Ben 3, the Water Festival 3, ...)
    assert first.stdout.startswith("21 holidays added for 2026-2026")
    again = run("holidays", "seed", "--years", "2026")
    assert again.stdout.startswith("0 holidays added")
    bad = run("holidays", "seed", "--years", "2030-2026")
    assert bad.returncode == 2


def test_with_daily_interest_the_days_are_counted_to_the_moved_date(client, session, monkeypatch):
    world = lending_world(client, session)
    business_day(monkeypatch, date(2026, 3, 10))
    assert add_holiday(client, world["admin"], date(2026, 4, 14), "Khmer New Year").status_code == 201
    loan_id = weekly_loan(client, world, monkeypatch, interest_calculation="daily", day_count="actual/365")
    rows = client.get(f"/v1/loans/{loan_id}/schedule", headers=world["partner_1"]).json()["installments"]
    # #4 moves from Tue Apr 14 to Wed Apr 15 (only Apr 14 is a holiday here): it accrues 8 days
    # (Apr 7 -> Apr 15) on the balance after #3, and #5 (Apr 21) 6 days on the balance after #4,
    # each balance x days x 18 / 36500, half-even
    assert [r["due_date"] for r in rows[3:5]] == ["2026-04-15", "2026-04-21"]
    b3, b4 = Decimal(rows[2]["balance"]), Decimal(rows[3]["balance"])
    cent = Decimal("0.01")
    assert Decimal(rows[3]["interest"]) == (b3 * 8 * 18 / Decimal(36500)).quantize(cent, ROUND_HALF_EVEN)
    assert Decimal(rows[4]["interest"]) == (b4 * 6 * 18 / Decimal(36500)).quantize(cent, ROUND_HALF_EVEN)
