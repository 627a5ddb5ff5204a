"""SQLite waits instead of failing (issue 12, item 2): every write transaction takes the write lock
when it begins (BEGIN IMMEDIATE), so concurrent writers queue, on one worker's pool or on two; one
that still cannot have the lock within the lock timeout answers 503 with Retry-After, not 500.

Real commits on parallel connections: the concurrency tests' live-server fixture (it deletes what
the test committed).
"""

from __future__ import annotations

import sqlite3
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import make_url

from loansvc.config import Settings
from loansvc.db.session import Database
from loansvc.main import create_app
from tests.api.helpers import create_lender, create_product, create_site, household_body
from tests.api.lending import ELIGIBLE_FINANCES, application
from tests.api.test_concurrency import Live, live_sqlite

__all__ = ["live_sqlite"]

SITE = {"name": "Boeung Tompun", "district": "Meanchey", "city": "Phnom Penh"}


def _second_worker(live: Live, **engine_options) -> tuple[TestClient, Database]:
    """Another app on the same database file with its own pool: a second worker process's view."""
    url = str(live.database.engine.url)
    database = Database(url, **engine_options)
    return TestClient(
        create_app(Settings(database_url=url), database=database), raise_server_exceptions=False
    ), database


def test_twenty_applications_for_twenty_families_at_once_all_succeed(live_sqlite):
    live = live_sqlite
    admin = live.key("sqlite writes admin", "admin")
    officer = live.key("sqlite writes officer", "loan_officer")
    mfi = create_lender(live.client, admin)
    product = create_product(live.client, admin, mfi["id"])
    partner = live.key("sqlite writes partner", "partner", mfi["id"])
    site = create_site(live.client, officer)
    families = [
        live.ok("POST", "/v1/households", officer, household_body(site["id"], **ELIGIBLE_FINANCES))
        for _ in range(20)
    ]
    bodies = [application(f["id"], product["id"], "1000", 12) for f in families]
    other, database = _second_worker(live)
    try:
        with other:
            # half of them through "worker 2": two pools, one database file, one write lock
            clients = (live.client, other)
            responses = live.at_once(
                lambda i: clients[i % 2].post("/v1/loans", headers=partner, json=bodies[i]), 20
            )
    finally:
        database.engine.dispose()
    assert Counter(r.status_code for r in responses) == {201: 20}, [r.text for r in responses][:2]
    loans = live.ok("GET", "/v1/loans?limit=100", officer, status=200)["items"]
    assert sorted(loan["household_id"] for loan in loans if loan["lender_id"] == mfi["id"]) == sorted(
        f["id"] for f in families
    )


def test_twenty_officers_recording_twenty_families_at_once_all_succeed(live_sqlite):
    # POST /v1/households reads (the site, the parcel, the title) before it writes: a deferred
    # transaction would be refused at once when another writer commits between its read and its write
    live = live_sqlite
    officer = live.key("sqlite households officer", "loan_officer")
    site = create_site(live.client, officer)
    bodies = [household_body(site["id"]) for _ in range(20)]
    other, database = _second_worker(live)
    try:
        with other:
            clients = (live.client, other)
            responses = live.at_once(
                lambda i: clients[i % 2].post("/v1/households", headers=officer, json=bodies[i]), 20
            )
    finally:
        database.engine.dispose()
    assert Counter(r.status_code for r in responses) == {201: 20}, [r.text for r in responses][:2]
    listed = live.ok("GET", f"/v1/households?site_id={site['id']}&limit=100", officer, status=200)
    assert listed["total"] == 20


def test_every_write_takes_the_lock_when_it_begins_and_reads_do_not(live_sqlite):
    live = live_sqlite
    officer = live.key("sqlite begin officer", "loan_officer")
    site = create_site(live.client, officer)
    family = live.ok("POST", "/v1/households", officer, household_body(site["id"]))
    begun: list[str] = []

    def _seen(conn, cursor, statement, *args):
        if statement.startswith("BEGIN"):
            begun.append(statement)

    event.listen(live.database.engine, "before_cursor_execute", _seen)
    try:
        writes = [
            live.client.post("/v1/sites", headers=officer, json=SITE),
            live.client.patch(f"/v1/households/{family['id']}", headers=officer, json={"household_size": 5}),
        ]
        written, begun[:] = list(begun), []
        live.client.get(f"/v1/households/{family['id']}", headers=officer)
        read = list(begun)
    finally:
        event.remove(live.database.engine, "before_cursor_execute", _seen)
    assert [r.status_code for r in writes] == [201, 200], [r.text for r in writes]
    # each request's own transaction; the key is cached after its first lookup, so no auth BEGIN
    assert written == ["BEGIN IMMEDIATE", "BEGIN IMMEDIATE"]
    assert read == ["BEGIN"]


def test_a_write_that_cannot_have_the_lock_in_time_is_a_503_with_retry_after(live_sqlite):
    live = live_sqlite
    officer = live.key("sqlite lock officer", "loan_officer")
    other, database = _second_worker(live, lock_timeout=0.2)
    holder = sqlite3.connect(make_url(str(live.database.engine.url)).database, isolation_level=None)
    try:
        with other:
            holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock (a long import)
            try:
                refused = other.post("/v1/sites", headers=officer, json=SITE)
                read = other.get("/v1/sites", headers=officer)  # readers never wait (WAL)
            finally:
                holder.execute("ROLLBACK")
            accepted = other.post("/v1/sites", headers=officer, json=SITE)
    finally:
        holder.close()
        database.engine.dispose()
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "DATABASE_BUSY"
    assert read.status_code == 200
    assert accepted.status_code == 201, accepted.text  # the lock released, the same write goes through
    names = [s["name"] for s in live.ok("GET", "/v1/sites?limit=500", officer, status=200)["items"]]
    assert names.count("Boeung Tompun") == 1


@pytest.fixture(autouse=True)
def _sqlite_only(engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock")
