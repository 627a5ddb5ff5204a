"""Race safety with real commits and real parallel connections: 20 requests fired at once can never
over-disburse a loan, drive stock below zero, or act twice on one Idempotency-Key.

These cannot use the rolled-back `client` fixture: each request here runs in its own transaction on
its own connection, as in production. The app gets its own Database; what a test commits is
deleted at its end (every row that was not there before, children first), so the rest of the
suite finds the database as it was.

On PostgreSQL (CI's PostgreSQL pass) the services lock rows with SELECT ... FOR UPDATE. On SQLite
the same tests check that BEGIN IMMEDIATE makes concurrent writers queue.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal as D

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, select, tuple_

from loansvc.auth.service import create_key
from loansvc.config import Settings
from loansvc.db.base import Base
from loansvc.db.models import Loan
from loansvc.db.session import Database
from loansvc.lending import borrowers
from loansvc.main import create_app
from tests.api.helpers import create_household, create_lender, create_product, create_site
from tests.api.lending import ELIGIBLE_FINANCES, consent, materials_product

PARALLEL = 20


def _rows(engine: Engine) -> dict[str, set[tuple]]:
    """The primary key of every row of every table."""
    with engine.connect() as conn:
        return {
            table.name: {tuple(row) for row in conn.execute(select(*table.primary_key.columns))}
            for table in Base.metadata.sorted_tables
        }


def _delete_rows_added_since(engine: Engine, before: dict[str, set[tuple]]) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):  # children before their parents
            key = list(table.primary_key.columns)
            added = {tuple(row) for row in conn.execute(select(*key))} - before[table.name]
            if added:
                conn.execute(delete(table).where(tuple_(*key).in_(sorted(added))))


@dataclass
class Live:
    client: TestClient
    database: Database

    def key(self, name: str, role: str, lender_id: str | None = None) -> dict[str, str]:
        with self.database.transaction() as session:
            issued = create_key(session, name=name, role=role, lender_id=lender_id, created_by="tests")
        return {"Authorization": f"Bearer {issued.key}"}

    def ok(self, method: str, path: str, headers: dict, body: dict | None = None, status: int = 201) -> dict:
        response = self.client.request(method, path, headers=headers, json=body)
        assert response.status_code == status, response.text
        return response.json()

    def at_once(self, request: Callable[[int], object], parallel: int = PARALLEL) -> list:
        """Call `request(i)` for i in 0..parallel-1 from that many threads released together."""
        start = threading.Barrier(parallel)

        def run(i: int):
            start.wait()
            return request(i)

        with ThreadPoolExecutor(max_workers=parallel) as pool:
            return list(pool.map(run, range(parallel)))


def _live(engine: Engine, database_url: str) -> Iterator[Live]:
    before = _rows(engine)
    database = Database(database_url)
    app = create_app(Settings(database_url=database_url), database=database)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Live(client, database)
    finally:
        database.engine.dispose()
        _delete_rows_added_since(engine, before)
        assert _rows(engine) == before


@pytest.fixture()
def live_pg(engine: Engine, database_url: str) -> Iterator[Live]:
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks under real concurrency: runs when the suite runs on PostgreSQL")
    yield from _live(engine, database_url)


@pytest.fixture()
def live_sqlite(engine: Engine, database_url: str) -> Iterator[Live]:
    if engine.dialect.name != "sqlite":
        pytest.skip("BEGIN IMMEDIATE under real concurrency: runs when the suite runs on SQLite")
    yield from _live(engine, database_url)


def _family(live: Live, officer: dict, site_id: str) -> dict:
    return create_household(live.client, officer, site_id, **ELIGIBLE_FINANCES)


def _approved(live: Live, family: dict, product: dict, amount: str, submitter: dict, approver: dict) -> dict:
    """A loan application of the family's (12 months, with its consent), approved by a second key."""
    body = {
        "household_id": family["id"],
        "product_id": product["id"],
        "amount": amount,
        "term": 12,
        "purpose": "core house",
        "consent": consent(),
    }
    loan = live.ok("POST", "/v1/loans", submitter, body)
    live.ok("POST", f"/v1/loans/{loan['id']}/approve", approver, {}, status=200)
    return loan


def _partner_loan(live: Live, amount: str) -> tuple[dict, str]:
    """An approved partner-MFI cash loan of `amount` and the key that releases its tranches (all
    for the foundation, the stage being funded: they need no inspection)."""
    admin = live.key("race admin", "admin")
    officer = live.key("race officer", "loan_officer")
    mfi = create_lender(live.client, admin)
    product = create_product(live.client, admin, mfi["id"])
    submitter, releaser = (
        live.key("race MFI officer", "partner", mfi["id"]),
        live.key("race MFI manager", "partner", mfi["id"]),
    )
    family = _family(live, officer, create_site(live.client, officer)["id"])
    return _approved(live, family, product, amount, submitter, releaser), releaser


def _tranche(amount: str) -> dict:
    return {"kind": "cash", "amount": amount, "milestone": "foundation"}


# The three races, run on either database ------------------------------------------------------


def race_for_the_approval(live: Live) -> None:
    # 1,000 approved; 20 tranches of 150 asked at once (3,000 in all): floor(1000 / 150) = 6 fit
    loan, releaser = _partner_loan(live, "1000")
    path = f"/v1/loans/{loan['id']}/disbursements"
    responses = live.at_once(lambda i: live.client.post(path, headers=releaser, json=_tranche("150")))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 6, 409: 14}, [r.text for r in responses if r.status_code not in (201, 409)]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"OVER_DISBURSEMENT"}
    # they queued: each success saw the one before it, so the running totals are 150, 300 ... 900
    totals = sorted(D(r.json()["disbursed_amount"]) for r in responses if r.status_code == 201)
    assert totals == [D(150) * k for k in range(1, 7)]
    seen = live.ok("GET", f"/v1/loans/{loan['id']}", releaser, status=200)
    assert (seen["status"], D(seen["disbursed_amount"])) == ("active", D("900"))
    assert live.ok("GET", path, releaser, status=200)["total"] == 6
    schedule = live.ok("GET", f"/v1/loans/{loan['id']}/schedule", releaser, status=200)
    assert schedule["version"] == 6
    assert sum(D(i["principal"]) for i in schedule["installments"]) == D("900")


def race_for_the_last_bags(live: Live) -> None:
    # 10 bags on hand; 20 families' loans each ask for 1.5 bags at once: floor(10 / 1.5) = 6 get
    # theirs (9 bags), 14 are refused, 1 bag stays on the shelf
    admin = live.key("stock admin", "admin")
    sokha, dara = live.key("stock officer 1", "loan_officer"), live.key("stock officer 2", "loan_officer")
    bank = create_lender(live.client, admin, kind="materials_bank")
    product = materials_product(live.client, admin, bank["id"])
    site = create_site(live.client, sokha)
    live.ok(
        "POST",
        "/v1/materials",
        sokha,
        {"sku": "RACE-CEMENT", "name": "cement", "unit": "bag", "unit_cost": "6.25"},
    )
    live.ok("POST", "/v1/materials/RACE-CEMENT/receipts", sokha, {"quantity": "10", "supplier": "depot"})
    loans = []
    for _ in range(PARALLEL):
        loans.append(_approved(live, _family(live, sokha, site["id"]), product, "100", sokha, dara)["id"])
    delivery = {
        "kind": "materials",
        "lines": [{"sku": "RACE-CEMENT", "quantity": "1.5"}],
        "milestone": "foundation",
    }
    responses = live.at_once(
        lambda i: live.client.post(f"/v1/loans/{loans[i]}/disbursements", headers=sokha, json=delivery)
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 6, 409: 14}, [r.text for r in responses if r.status_code not in (201, 409)]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"INSUFFICIENT_STOCK"}
    material = live.ok("GET", "/v1/materials/RACE-CEMENT", sokha, status=200)
    assert D(material["quantity_on_hand"]) == D("1")
    issued = [
        D(m["quantity"])
        for m in live.ok("GET", "/v1/materials/RACE-CEMENT/movements", sokha, status=200)["items"]
        if m["kind"] == "issue"
    ]
    assert -sum(issued) == D("10") - D("1") == D("9")  # issued = initial - remaining
    # each served family owes 1.5 x 6.25 = 9.375 -> 9.38 (half-even); the others nothing
    owed = Counter(D(live.ok("GET", f"/v1/loans/{i}", sokha, status=200)["disbursed_amount"]) for i in loans)
    assert owed == {D("9.38"): 6, D("0"): 14}


def race_of_the_retries(live: Live) -> None:
    loan, releaser = _partner_loan(live, "1000")
    path = f"/v1/loans/{loan['id']}/disbursements"
    headers = {**releaser, "Idempotency-Key": "tranche-foundation-7f3a"}
    responses = live.at_once(lambda i: live.client.post(path, headers=headers, json=_tranche("400")))
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    bodies = [r.json() for r in responses]
    assert all(body == bodies[0] for body in bodies)  # 20 identical answers
    assert live.ok("GET", path, releaser, status=200)["total"] == 1  # one effect
    seen = live.ok("GET", f"/v1/loans/{loan['id']}", releaser, status=200)
    assert D(seen["disbursed_amount"]) == D("400")
    history = live.ok("GET", f"/v1/loans/{loan['id']}/history", releaser, status=200)
    assert [e["action"] for e in history["items"]].count("disbursed_cash") == 1


def race_of_one_familys_loans(live: Live) -> None:
    # one family, 6 approved loans with 6 partner MFIs (one open application per lender), all
    # disbursed at once: each disbursement moves a loan into the portfolio and works out the
    # family's later-loan flags (lending.borrowers) under a lock on the household. Whatever the
    # order, 5 of the 6 are "later in the currency" (one borrower, USD) and none is "later with
    # its lender" (each lender has one loan of the family).
    admin = live.key("family admin", "admin")
    officer = live.key("family officer", "loan_officer")
    family = _family(live, officer, create_site(live.client, officer)["id"])
    loans, releasers = [], []
    for k in range(6):
        mfi = create_lender(live.client, admin)
        product = create_product(live.client, admin, mfi["id"])
        partner = live.key(f"family MFI {k}", "partner", mfi["id"])
        manager = live.key(f"family MFI manager {k}", "partner", mfi["id"])
        loans.append(_approved(live, family, product, "300", partner, manager)["id"])
        releasers.append(manager)
    responses = live.at_once(
        lambda i: live.client.post(
            f"/v1/loans/{loans[i]}/disbursements", headers=releasers[i], json=_tranche("300")
        ),
        parallel=len(loans),
    )
    assert [r.status_code for r in responses] == [201] * len(loans), [r.text for r in responses]
    with live.database.transaction() as session:
        assert borrowers.differences(session) == []
        flags = session.execute(
            select(Loan.id, Loan.later_in_currency, Loan.later_with_lender).where(Loan.id.in_(loans))
        ).all()
    first = min(loans)
    assert sorted(flags) == sorted((i, 0 if i == first else 1, 0) for i in loans)


@pytest.mark.postgres_only
def test_postgresql_counts_one_borrower_when_a_familys_loans_are_disbursed_at_once(live_pg):
    race_of_one_familys_loans(live_pg)


def test_sqlite_counts_one_borrower_when_a_familys_loans_are_disbursed_at_once(live_sqlite):
    race_of_one_familys_loans(live_sqlite)


@pytest.mark.postgres_only
def test_postgresql_never_disburses_beyond_the_approval(live_pg):
    race_for_the_approval(live_pg)


@pytest.mark.postgres_only
def test_postgresql_never_issues_stock_it_does_not_have(live_pg):
    race_for_the_last_bags(live_pg)


@pytest.mark.postgres_only
def test_postgresql_acts_once_on_20_simultaneous_retries(live_pg):
    race_of_the_retries(live_pg)


def test_sqlite_never_disburses_beyond_the_approval(live_sqlite):
    race_for_the_approval(live_sqlite)


def test_sqlite_never_issues_stock_it_does_not_have(live_sqlite):
    race_for_the_last_bags(live_sqlite)


def test_sqlite_acts_once_on_20_simultaneous_retries(live_sqlite):
    race_of_the_retries(live_sqlite)
