"""The pages' fixtures: one real uvicorn server and one headless Chromium for the whole package.

The server runs the app on the session's migrated database (SQLite or PostgreSQL, as the suite
runs) with its own connections and real commits, as the race tests' live app does; what the
package commits is deleted at its end with the race tests' own helpers (`_rows`,
`_delete_rows_added_since`), so the database is left as it was found. The app's clock is a
`MovableClock`: the programme below is built on 5 January 2026 and read on 20 March 2026.

The programme: two partner MFIs (A and B) with an 18 % home loan each; family 1 with a loan from A,
family 2 with a loan from B, both released on 5 January for the foundation. By 20 March family 1
has paid nothing (its first installment, due 5 February, is 43 days late: PAR30) and family 2 has
paid both installments due (current).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
import uvicorn

from loansvc.config import Settings
from loansvc.db.session import Database
from loansvc.main import create_app
from loansvc.web.clock import Clock
from tests.api.helpers import create_household, create_lender, create_product, create_site
from tests.api.lending import ELIGIBLE_FINANCES, apply, approve, consent, release
from tests.api.test_concurrency import Live, _delete_rows_added_since, _rows

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BUILT_ON = date(2026, 1, 5)
READ_ON = date(2026, 3, 20)


class MovableClock(Clock):
    """The app's today, set by the fixtures."""

    def __init__(self, day: date):
        self.day = day

    def today(self) -> date:
        return self.day


@dataclass
class Server:
    url: str
    live: Live  # an HTTP client on the server and its database (for API keys)
    clock: MovableClock

    @property
    def api(self) -> httpx.Client:
        return self.live.client  # type: ignore[return-value]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="package")
def server(engine, database_url) -> Iterator[Server]:
    before = _rows(engine)
    database = Database(database_url)
    clock = MovableClock(BUILT_ON)
    settings = Settings(
        database_url=database_url, session_secret="ui-tests-" + "s" * 32, worker_enabled=False
    )
    app = create_app(settings, database=database, clock=clock)
    port = _free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert uv.started, "the uvicorn server did not start"
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, timeout=60)
    try:
        yield Server(url, Live(client, database), clock)  # type: ignore[arg-type]
    finally:
        uv.should_exit = True
        thread.join(timeout=15)
        client.close()
        database.engine.dispose()
        _delete_rows_added_since(engine, before)
        assert _rows(engine) == before


def _family(server: Server, officer: dict, site_id: str, name: str, phone: str) -> dict:
    return create_household(server.api, officer, site_id, head_name=name, phone=phone, **ELIGIBLE_FINANCES)


def _released_loan(server: Server, submitter: dict, approver: dict, household: dict, product: dict) -> dict:
    loan = apply(server.api, submitter, household["id"], product["id"], "1000", 12, consent=consent(BUILT_ON))
    approve(server.api, approver, loan["id"])
    release(server.api, approver, loan["id"], "1000", "foundation", BUILT_ON)
    return loan


@pytest.fixture(scope="package")
def world(server: Server) -> dict[str, Any]:
    """The programme of the module docstring, and one API key per person."""
    live, api = server.live, server.api
    keys = {
        "admin": live.key("ui admin", "admin"),
        "officer": live.key("ui loan officer", "loan_officer"),
        "finance": live.key("ui finance lead", "finance_lead"),
    }
    mfi_a, mfi_b = create_lender(api, keys["admin"]), create_lender(api, keys["admin"])
    for who, mfi in (("a", mfi_a), ("b", mfi_b)):
        keys[f"partner_{who}"] = live.key(f"ui MFI {who} credit officer", "partner", mfi["id"])
        keys[f"manager_{who}"] = live.key(f"ui MFI {who} branch manager", "partner", mfi["id"])
    site = create_site(api, keys["officer"])
    family_1 = _family(server, keys["officer"], site["id"], "Chea Bopharith", "096 111 2233")
    family_2 = _family(server, keys["officer"], site["id"], "Nov Sreyneang", "097 444 5566")
    product_a = create_product(api, keys["admin"], mfi_a["id"])
    product_b = create_product(api, keys["admin"], mfi_b["id"])
    loan_a = _released_loan(server, keys["partner_a"], keys["manager_a"], family_1, product_a)
    loan_b = _released_loan(server, keys["partner_b"], keys["manager_b"], family_2, product_b)
    server.clock.day = READ_ON
    # family 2 pays the two installments due by 20 March (5 February and 5 March)
    schedule = api.get(f"/v1/loans/{loan_b['id']}/schedule", headers=keys["manager_b"]).json()
    due = sum(
        Decimal(i["total"]) for i in schedule["installments"] if date.fromisoformat(i["due_date"]) <= READ_ON
    )
    paid = api.post(
        f"/v1/loans/{loan_b['id']}/repayments",
        headers=keys["manager_b"],
        json={"amount": str(due), "paid_on": READ_ON.isoformat(), "reference": "UI-B-1"},
    )
    assert paid.status_code == 201, paid.text
    return {
        "keys": {k: v["Authorization"].removeprefix("Bearer ") for k, v in keys.items()},
        "headers": keys,
        "site": site,
        "family_1": family_1,
        "family_2": family_2,
        "product_a": product_a,
        "loan_a": loan_a,
        "loan_b": loan_b,
    }


@pytest.fixture(scope="package")
def browser():
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: apt-get install -y chromium fonts-khmeros"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture()
def page(browser, server):
    """A fresh browser context (no cookies) with English as the browser's language."""
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        with contextlib.suppress(Exception):
            context.close()


def sign_in(page, server: Server, key: str) -> None:
    page.goto(f"{server.url}/ui/login")
    page.fill("input[name=api_key]", key)
    page.click("main button[type=submit]")
    page.wait_for_load_state("load")
    assert "/ui/login" not in page.url, page.content()
