"""Every uniqueness rule holds under 40 requests at once on PostgreSQL, with real commits on
parallel connections: exactly one succeeds, the others get the rule's documented 409, none a 5xx
(issue 12, item 1). The later requests either see the winner in the service's own check, or meet
the unique index and get the same 409 from the IntegrityError's constraint name.

The live-server fixtures and `Live.at_once` are the concurrency tests' own (tests/api/test_concurrency).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from decimal import Decimal as D

import pytest

from loansvc.web.clock import Clock
from tests.api.helpers import create_lender, create_product, create_site, household_body
from tests.api.lending import ELIGIBLE_FINANCES, application
from tests.api.test_concurrency import Live, _partner_loan, _tranche, live_pg

__all__ = ["live_pg"]

PARALLEL = 40

pytestmark = pytest.mark.postgres_only


def _one_wins(live: Live, send: Callable[[int], object], code: str) -> dict:
    """Fire `send(i)` 40 times at once: one 201, 39 × 409 `code`, no 5xx; the winner's body."""
    responses = live.at_once(send, PARALLEL)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: PARALLEL - 1}, [r.text for r in responses if r.status_code != 409][:3]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {code}
    assert all(
        r.headers["content-type"] == "application/problem+json" for r in responses if r.status_code == 409
    )
    [winner] = [r.json() for r in responses if r.status_code == 201]
    return winner


def test_one_household_per_parcel(live_pg):
    officer = live_pg.key("parcel race officer", "loan_officer")
    site = create_site(live_pg.client, officer)
    # 40 officers record 40 different families (titles differ) on parcel SMC-7 at once
    bodies = [household_body(site["id"], parcel_code="SMC-7") for _ in range(PARALLEL)]
    winner = _one_wins(
        live_pg,
        lambda i: live_pg.client.post("/v1/households", headers=officer, json=bodies[i]),
        "PARCEL_TAKEN",
    )
    listed = live_pg.ok("GET", f"/v1/households?site_id={site['id']}", officer, status=200)
    assert [h["id"] for h in listed["items"]] == [winner["id"]]


def test_one_parcel_per_title(live_pg):
    officer = live_pg.key("title race officer", "loan_officer")
    site = create_site(live_pg.client, officer)
    # 40 parcels claim one title number at once
    bodies = [household_body(site["id"], title_number="PP-MC-2024-RACE40") for _ in range(PARALLEL)]
    winner = _one_wins(
        live_pg,
        lambda i: live_pg.client.post("/v1/households", headers=officer, json=bodies[i]),
        "TITLE_TAKEN",
    )
    listed = live_pg.ok("GET", f"/v1/households?site_id={site['id']}", officer, status=200)
    assert [h["id"] for h in listed["items"]] == [winner["id"]]


def test_one_api_key_per_name(live_pg):
    admin = live_pg.key("key race admin", "admin")
    body = {"name": "branch-office-7", "role": "loan_officer"}
    _one_wins(
        live_pg, lambda i: live_pg.client.post("/v1/api-keys", headers=admin, json=body), "KEY_NAME_TAKEN"
    )
    keys = live_pg.ok("GET", "/v1/api-keys", admin, status=200)["items"]
    assert [k["name"] for k in keys].count("branch-office-7") == 1


def test_one_material_per_sku(live_pg):
    officer = live_pg.key("sku race officer", "loan_officer")
    bodies = [
        {"sku": "RACE-BRICK", "name": f"brick {i}", "unit": "piece", "unit_cost": "0.12"}
        for i in range(PARALLEL)
    ]
    winner = _one_wins(
        live_pg, lambda i: live_pg.client.post("/v1/materials", headers=officer, json=bodies[i]), "SKU_TAKEN"
    )
    assert live_pg.ok("GET", "/v1/materials/RACE-BRICK", officer, status=200)["name"] == winner["name"]


def test_one_open_application_per_household_and_lender(live_pg):
    # the household-lender link and the open application: 40 applications of one family to one MFI,
    # through two of its products and two partner keys, at once
    admin = live_pg.key("apply race admin", "admin")
    officer = live_pg.key("apply race officer", "loan_officer")
    mfi = create_lender(live_pg.client, admin)
    products = [create_product(live_pg.client, admin, mfi["id"]) for _ in range(2)]
    keys = [live_pg.key(f"apply race partner {k}", "partner", mfi["id"]) for k in range(2)]
    site = create_site(live_pg.client, officer)
    family = live_pg.ok("POST", "/v1/households", officer, household_body(site["id"], **ELIGIBLE_FINANCES))
    bodies = [application(family["id"], products[i % 2]["id"], "1000", 12) for i in range(PARALLEL)]
    winner = _one_wins(
        live_pg,
        lambda i: live_pg.client.post("/v1/loans", headers=keys[i % 2], json=bodies[i]),
        "DUPLICATE_APPLICATION",
    )
    listed = live_pg.ok("GET", f"/v1/loans?household_id={family['id']}", officer, status=200)
    assert [loan["id"] for loan in listed["items"]] == [winner["id"]]


def test_one_repayment_per_reference(live_pg):
    loan, releaser = _partner_loan(live_pg, "1000")
    live_pg.ok("POST", f"/v1/loans/{loan['id']}/disbursements", releaser, _tranche("1000"))
    path = f"/v1/loans/{loan['id']}/repayments"
    # the MFI's system sends receipt RC-0001 forty times at once (40 retries without an Idempotency-Key)
    body = {"amount": "25", "reference": "RC-0001", "channel": "cash"}
    _one_wins(
        live_pg, lambda i: live_pg.client.post(path, headers=releaser, json=body), "DUPLICATE_REFERENCE"
    )
    recorded = live_pg.ok("GET", path, releaser, status=200)
    assert [r["reference"] for r in recorded["items"]] == ["RC-0001"]
    assert live_pg.ok("GET", f"/v1/loans/{loan['id']}", releaser, status=200)["total_paid"] == "25.00"


def test_the_same_file_imported_twice_at_once_records_each_payment_once(live_pg):
    loan, releaser = _partner_loan(live_pg, "1000")
    live_pg.ok("POST", f"/v1/loans/{loan['id']}/disbursements", releaser, _tranche("1000"))
    today = Clock().today().isoformat()  # the live app's clock: the day of the disbursement
    rows = "".join(f"{loan['id']},{today},{10 + k},FILE-{k:03d}\n" for k in range(30))
    data = ("loan_id,paid_on,amount,reference\n" + rows).encode()

    def send(_i: int):
        return live_pg.client.post(
            "/v1/repayments/import", headers=releaser, files={"file": ("june.csv", data, "text/csv")}
        )

    responses = live_pg.at_once(send, 2)
    assert all(r.status_code in (200, 409) for r in responses), [r.text for r in responses]
    recorded = live_pg.ok("GET", f"/v1/loans/{loan['id']}/repayments?limit=100", releaser, status=200)
    assert sorted(r["reference"] for r in recorded["items"]) == [f"FILE-{k:03d}" for k in range(30)]
    # 10 + 11 + ... + 39 = 30 x (10 + 39) / 2 = 735, recorded once
    assert sum(D(r["amount"]) for r in recorded["items"]) == D("735")
