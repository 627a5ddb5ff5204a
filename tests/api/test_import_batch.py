"""The fast import (issue 12, item 3) records what posting the same rows one by one records: two
twin loans (1,200.00 at 18 % over 12 months from 10 January 2026, installments of 110.02), one
paid by files, the other by the API, end with the same schedule, the same paid parts and the same
figures, through on-time, late and partial payments, a prepayment beyond the installment (the
ledger re-amortizes: the file takes the ledger's own path for it) and a payment dated before the
others (the ledger replays the history). A refused file changes nothing; locks are the file's
loans' only.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from loansvc.repayments import repository
from tests.api.helpers import create_household, create_lender, create_product, create_site
from tests.api.lending import (
    ELIGIBLE_FINANCES,
    another_family,
    application,
    apply,
    approve,
    lending_world,
    release,
)
from tests.api.test_concurrency import _tranche, live_pg
from tests.api.test_repayments import _csv, pay, set_day

__all__ = ["live_pg"]

PAYMENTS = [  # (paid_on, amount): on time, late and partial, a prepayment, on time, a few days on
    (date(2026, 2, 10), "110.02"),
    (date(2026, 3, 20), "50.00"),
    (date(2026, 4, 10), "400.00"),
    (date(2026, 5, 10), "60.00"),
    (date(2026, 5, 12), "5.00"),
]
BACKDATED = (date(2026, 3, 1), "10.00")  # before the payments of 20 March on: a replay


def _twins(client, session, monkeypatch):
    world = lending_world(client, session)
    set_day(monkeypatch, date(2026, 1, 5))
    loans = []
    for family in (world["household"], another_family(client, world)):
        applied = apply(client, world["partner_1"], family["id"], world["cash_product"]["id"], "1200", 12)
        approve(client, world["partner_2"], applied["id"])
        loans.append(applied["id"])
    set_day(monkeypatch, date(2026, 1, 10))
    for loan_id in loans:
        release(client, world["partner_1"], loan_id, "1200", "foundation", date(2026, 1, 10))
    return world, loans


def _import(client, headers, loan_id: str, payments, prefix: str):
    rows = [f"{loan_id},{on},{amount},{prefix}-{k}" for k, (on, amount) in enumerate(payments)]
    files = {"file": ("june.csv", _csv(rows), "text/csv")}
    return client.post("/v1/repayments/import", headers=headers, files=files)


def _seen(client, headers, loan_id: str) -> dict:
    loan = client.get(f"/v1/loans/{loan_id}", headers=headers).json()
    schedule = client.get(f"/v1/loans/{loan_id}/schedule", headers=headers).json()
    repayments = client.get(f"/v1/loans/{loan_id}/repayments?limit=100", headers=headers).json()["items"]
    for volatile in ("id", "created_at", "updated_at", "assessment"):  # each family's own
        loan.pop(volatile, None)
    return {
        "loan": {k: v for k, v in loan.items() if "id" not in k},
        "installments": [{k: v for k, v in i.items() if k != "id"} for i in schedule["installments"]],
        "version": schedule.get("version"),
        "payments": [(r["paid_on"], r["amount"], r["reference"][-1], r["allocations"]) for r in repayments],
    }


def test_a_file_records_what_one_by_one_posting_records(client, session, monkeypatch):
    world, (by_file, by_api) = _twins(client, session, monkeypatch)
    partner = world["partner_1"]
    set_day(monkeypatch, date(2026, 6, 1))
    response = _import(client, partner, by_file, PAYMENTS, "F")
    assert response.json() == {"recorded": 5, "duplicates": 0, "rejected": []}, response.text
    for k, (on, amount) in enumerate(PAYMENTS):
        assert pay(client, partner, by_api, amount, on, f"A-{k}").status_code == 201
    assert _seen(client, partner, by_file) == _seen(client, partner, by_api)
    # the prepayment of 400.00 re-amortized the schedule: a new version on both
    assert _seen(client, partner, by_file)["version"] == _seen(client, partner, by_api)["version"]

    response = _import(client, partner, by_file, [BACKDATED], "G")
    assert response.json()["recorded"] == 1, response.text
    assert pay(client, partner, by_api, BACKDATED[1], BACKDATED[0], "B-0").status_code == 201
    assert _seen(client, partner, by_file) == _seen(client, partner, by_api)


def test_a_refused_file_changes_nothing_and_reports_every_bad_row(client, session, monkeypatch, db_state):
    world, (loan_id, _other) = _twins(client, session, monkeypatch)
    partner = world["partner_1"]
    set_day(monkeypatch, date(2026, 6, 1))
    before = db_state()
    rows = [
        f"{loan_id},2026-02-10,110.02,OK-1",
        f"{loan_id},2026-01-01,10.00,EARLY",  # before the disbursement of 10 January
        f"{loan_id},2026-07-01,10.00,LATER",  # after today (1 June)
        f"{loan_id},2026-03-10,10.005,CENTS",  # USD has cents
        "no-such-loan,2026-03-10,10.00,LOST",
        f"{loan_id},2026-03-10,99999.00,TOO-MUCH",  # more than the loan owes
    ]
    response = client.post(
        "/v1/repayments/import", headers=partner, files={"file": ("june.csv", _csv(rows), "text/csv")}
    )
    assert response.status_code == 422, response.text
    rejected = {r["line"] for r in response.json()["rejected"]}
    assert rejected == {3, 4, 5, 6}  # the overpayment is found once the others pass: a second look
    assert db_state() == before
    response = client.post(
        "/v1/repayments/import",
        headers=partner,
        files={"file": ("june.csv", _csv([rows[0], rows[-1]]), "text/csv")},
    )
    assert [(r["line"], r["reason"]) for r in response.json()["rejected"]] == [
        (3, "more than everything the loan still owes")
    ]
    assert db_state() == before


@pytest.mark.postgres_only
def test_an_import_locks_only_the_loans_of_its_file(live_pg):
    live = live_pg
    admin, officer = live.key("lock admin", "admin"), live.key("lock officer", "loan_officer")
    mfi = create_lender(live.client, admin)
    product = create_product(live.client, admin, mfi["id"])
    submitter, releaser = (live.key(f"lock partner {k}", "partner", mfi["id"]) for k in (1, 2))
    other = releaser
    site = create_site(live.client, officer)
    in_file, elsewhere = (
        live.ok(
            "POST",
            "/v1/loans",
            submitter,
            application(
                create_household(live.client, officer, site["id"], **ELIGIBLE_FINANCES)["id"],
                product["id"],
                "1000",
                12,
            ),
        )
        for _ in range(2)
    )
    for loan in (in_file, elsewhere):
        live.ok("POST", f"/v1/loans/{loan['id']}/approve", releaser, {}, status=200)
        live.ok("POST", f"/v1/loans/{loan['id']}/disbursements", releaser, _tranche("1000"))
    body = {"amount": "5", "reference": "DURING-IMPORT", "channel": "cash"}
    with live.database.transaction() as importing:  # what an import holds while it records its file
        repository.loans_of_file(importing, [in_file["id"]], None, lock=True)
        started = time.perf_counter()
        other_loan = live.client.post(f"/v1/loans/{elsewhere['id']}/repayments", headers=other, json=body)
        assert other_loan.status_code == 201, other_loan.text
        assert time.perf_counter() - started < 2  # at once: that loan is not in the file
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(
                live.client.post, f"/v1/loans/{in_file['id']}/repayments", headers=releaser, json=body
            )
            time.sleep(0.5)
            assert not waiting.done()  # the file's loan waits for the import
            importing.commit()
            assert waiting.result(timeout=10).status_code == 201
