"""Benchmark: a partner MFI's repayment file (1,000 and 20,000 rows), imported, against posting the
same rows one by one through the API, in the same run and on the same database.

The world: one partner MFI, 2 x LOANS families each with an approved 1,000 USD loan over 12 months
(18 %), disbursed today, made through the API. Half of the loans receive the files, the other half
the one-by-one baseline, so both record the very same kind of payments on loans in the same state:
row k of a file pays 4.00 on loan k mod LOANS (references unique), so the 1,000-row file is one
payment per loan and the 20,000-row file twenty (a month-end file of many small collections).

Timed: `POST /v1/repayments/import` end to end, in-process (the HTTP request included, no network),
and the same rows as `POST /v1/loans/{id}/repayments`, one request each, in-process too (which
favours the baseline: no network, no server). The 20,000-row baseline posts its first
`--baseline-cap` rows and projects the rest at the same pace (said so in the output). Then the
file's figures are checked: every payment recorded once, the sums as posted.

Usage: .venv/bin/python scripts/bench_import.py [--db URL] [--loans 1000] [--baseline-cap 2000]
Default database: a fresh SQLite file. Only local traffic.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from loansvc.auth.service import create_key  # noqa: E402
from loansvc.config import Settings  # noqa: E402
from loansvc.db.models import Repayment  # noqa: E402
from loansvc.db.session import Database  # noqa: E402
from loansvc.main import create_app  # noqa: E402
from loansvc.migrate import upgrade  # noqa: E402
from loansvc.web.clock import Clock  # noqa: E402

AMOUNT = Decimal("4.00")
FAMILY = {
    "household_size": 4,
    "idpoor_level": 0,
    "vulnerabilities": [],
    "temporary_shelter": False,
    "incomes": [{"source": "garment wage", "amount": "420", "frequency": "monthly", "currency": "USD"}],
    "expenses": [{"category": "food", "amount": "120", "frequency": "monthly"}],
    "existing_debts": [],
}


def _ok(response, status: int = 201) -> dict:
    assert response.status_code == status, response.text[:2000]
    return response.json()


def build_world(client: TestClient, database: Database, loans: int) -> dict:
    with database.transaction() as session:
        admin = create_key(session, name="bench-admin", role="admin", lender_id=None, created_by="bench").key
        officer = create_key(session, name="bench-officer", role="loan_officer", lender_id=None, created_by="b").key
    admin_h, officer_h = {"Authorization": f"Bearer {admin}"}, {"Authorization": f"Bearer {officer}"}
    mfi = _ok(client.post("/v1/lenders", headers=admin_h, json={"name": "Bench MFI", "kind": "mfi"}))
    product = _ok(
        client.post(
            "/v1/products",
            headers=admin_h,
            json={
                "lender_id": mfi["id"],
                "name": "Home improvement",
                "currency": "USD",
                "annual_rate_percent": "18",
                "min_amount": "250",
                "max_amount": "5000",
                "min_term": 6,
                "max_term": 48,
                "milestones": ["foundation"],
            },
        )
    )
    with database.transaction() as session:
        keys = [
            create_key(session, name=f"bench-partner-{k}", role="partner", lender_id=mfi["id"], created_by="b").key
            for k in (1, 2)
        ]
    submitter, releaser = ({"Authorization": f"Bearer {k}"} for k in keys)
    site = _ok(
        client.post(
            "/v1/sites", headers=officer_h, json={"name": "Bench site", "district": "Mean Chey", "city": "PP"}
        )
    )
    today = Clock().today().isoformat()  # the app's business day (Phnom Penh)
    ids = []
    for n in range(2 * loans):
        family = _ok(
            client.post(
                "/v1/households",
                headers=officer_h,
                json={"site_id": site["id"], "parcel_code": f"B-{n}", "head_name": f"Family {n}", **FAMILY},
            )
        )
        body = {
            "household_id": family["id"],
            "product_id": product["id"],
            "amount": "1000",
            "term": 12,
            "purpose": "core house",
            "consent": {"given_on": today, "method": "signed_form", "reference": f"CF-{n}"},
        }
        loan = _ok(client.post("/v1/loans", headers=submitter, json=body))
        _ok(client.post(f"/v1/loans/{loan['id']}/approve", headers=releaser, json={}), 200)
        tranche = {"kind": "cash", "amount": "1000", "milestone": "foundation"}
        _ok(client.post(f"/v1/loans/{loan['id']}/disbursements", headers=releaser, json=tranche))
        ids.append(loan["id"])
    return {"partner": releaser, "file_loans": ids[:loans], "baseline_loans": ids[loans:], "today": today}


def rows(loan_ids: list[str], count: int, tag: str) -> list[tuple[str, str, str]]:
    return [(loan_ids[k % len(loan_ids)], str(AMOUNT), f"{tag}-{k:06d}") for k in range(count)]


def as_csv(lines: list[tuple[str, str, str]], today: str) -> bytes:
    body = "".join(f"{loan},{today},{amount},{ref}\n" for loan, amount, ref in lines)
    return ("loan_id,paid_on,amount,reference\n" + body).encode()


def import_file(client: TestClient, world: dict, lines) -> float:
    data = as_csv(lines, world["today"])
    start = time.perf_counter()
    outcome = _ok(
        client.post(
            "/v1/repayments/import", headers=world["partner"], files={"file": ("bench.csv", data, "text/csv")}
        ),
        200,
    )
    elapsed = time.perf_counter() - start
    assert outcome["recorded"] == len(lines) and not outcome["rejected"], outcome
    return elapsed


def one_by_one(client: TestClient, world: dict, lines) -> float:
    start = time.perf_counter()
    for loan, amount, ref in lines:
        body = {"amount": amount, "reference": ref, "channel": "cash", "paid_on": world["today"]}
        _ok(client.post(f"/v1/loans/{loan}/repayments", headers=world["partner"], json=body))
    return time.perf_counter() - start


def recorded(database: Database, tag: str) -> tuple[int, Decimal]:
    with database.transaction(write=False) as session:
        query = select(func.count(), func.coalesce(func.sum(Repayment.amount), 0)).where(
            Repayment.reference.like(f"{tag}-%")
        )
        count, total = session.execute(query).one()
    return count, Decimal(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--loans", type=int, default=1000)
    parser.add_argument("--baseline-cap", type=int, default=2000)
    args = parser.parse_args()
    url = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='loansvc-import-')}/import.db"
    upgrade(url)
    database = Database(url)
    app = create_app(Settings(database_url=url, log_level="WARNING"), database=database)
    report: dict = {
        "db": url.split("@")[-1],
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "uptime_before": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    }
    with TestClient(app) as client:
        start = time.perf_counter()
        world = build_world(client, database, args.loans)
        report["world_seconds"] = round(time.perf_counter() - start, 1)
        for size, tag in ((1000, "F1K"), (20000, "F20K")):
            lines = rows(world["file_loans"], size, tag)
            seconds = import_file(client, world, lines)
            count, total = recorded(database, tag)
            assert (count, total) == (size, AMOUNT * size), (count, total)
            posted = rows(world["baseline_loans"], min(size, args.baseline_cap), f"B{tag}")
            baseline = one_by_one(client, world, posted)
            projected = baseline * size / len(posted)
            report[f"{size}_rows"] = {
                "import_s": round(seconds, 2),
                "rows_per_s": round(size / seconds),
                "one_by_one_s": round(projected, 1),
                "one_by_one_measured": f"{len(posted)} rows in {baseline:.1f} s"
                + ("" if len(posted) == size else f", projected to {size}"),
                "speedup": round(projected / seconds, 1),
            }
            print(json.dumps({size: report[f"{size}_rows"]}), flush=True)
        # a refused file: 20,000 rows, the last one dated tomorrow: every row is checked before any
        # lock or write, so the refusal costs a read of the file's loans
        lines = rows(world["file_loans"], 20000, "BAD")
        data = as_csv(lines, world["today"]).rstrip(b"\n").rsplit(b"\n", 1)[0] + b"\n"
        data += f"{lines[-1][0]},2100-01-01,4.00,BAD-LAST\n".encode()
        start = time.perf_counter()
        refused = client.post(
            "/v1/repayments/import", headers=world["partner"], files={"file": ("bad.csv", data, "text/csv")}
        )
        report["refused_20000_rows_s"] = round(time.perf_counter() - start, 2)
        assert refused.status_code == 422 and recorded(database, "BAD") == (0, Decimal(0)), refused.text[:500]
    report["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    database.engine.dispose()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
