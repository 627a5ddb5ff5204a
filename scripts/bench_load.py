"""Benchmark: a bounded mixed workload against a local loansvc server, at a fixed rate, then ramped.

The mix, as a month-end looks: schedule simulations (30 %), affordability assessments (15 %),
reading a loan (30 %), recording a repayment (15 %) and the portfolio report (10 %), each with the
role that does it (any key, a loan officer, the partner MFI, the partner MFI, a finance lead).

The script seeds the demo programme (570 households, 18 months of loans) into the database it is
given, starts `loansvc serve --workers N` on a free loopback port, and sends requests open-loop:
each one leaves at its scheduled time whatever the others do, so a slow server shows as latency and
errors, not as a slower client. Latency is measured from the scheduled time (no coordinated
omission). Phase 1: a fixed rate. Phase 2: the rate ramps step by step until p99 passes 1 s or more
than 1 % of requests fail (5xx, timeouts, refused connections); 503 answers (load shed) are counted
apart. Bounded: every phase has a duration and a cap on requests in flight, and it stops by itself.

Usage:
  .venv/bin/python scripts/bench_load.py [--db URL] [--workers 1] [--rate 50] [--seconds 20]
                                         [--ramp 50,100,150,200,300,400] [--step-seconds 10]
  .venv/bin/python scripts/bench_load.py --check-client   # this client vs wrk, on a 404 (no database)

Only loopback traffic. The server logs at INFO to /dev/null, as it would log in production.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MAX_IN_FLIGHT = 512
TIMEOUT = 10.0


# The workload -------------------------------------------------------------------------------------


@dataclass
class World:
    keys: dict[str, str]
    loans: list[str]
    households: list[str]
    product: str
    serial: int = 0

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


def _simulate(world: World, rng: random.Random):
    body = {
        "principal": str(rng.choice((1500, 2500, 3000, 4000))),
        "currency": "USD",
        "annual_rate_percent": "18",
        "term": rng.choice((18, 24, 36)),
        "disbursement_date": "2026-01-15",
    }
    return "simulate", "POST", "/v1/schedules/simulate", world.auth("loan_officer"), body


def _assess(world: World, rng: random.Random):
    body = {
        "household_id": rng.choice(world.households),
        "loan": {"product_id": world.product, "amount": "2000", "term": 24},
    }
    return "assess", "POST", "/v1/affordability/assess", world.auth("loan_officer"), body


def _read_loan(world: World, rng: random.Random):
    return "read loan", "GET", f"/v1/loans/{rng.choice(world.loans)}", world.auth("partner"), None


def _repay(world: World, rng: random.Random):
    world.serial += 1
    body = {"amount": "1", "reference": f"BENCH-{os.getpid()}-{world.serial}", "channel": "cash"}
    path = f"/v1/loans/{rng.choice(world.loans)}/repayments"
    return "repayment", "POST", path, world.auth("partner"), body


def _portfolio(world: World, rng: random.Random):
    return "portfolio", "GET", "/v1/reports/portfolio", world.auth("finance_lead"), None


MIX = [(_simulate, 30), (_assess, 15), (_read_loan, 30), (_repay, 15), (_portfolio, 10)]


# Measuring ----------------------------------------------------------------------------------------


@dataclass
class Phase:
    rate: float
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0  # 5xx other than 503, timeouts, connection failures
    shed: int = 0  # 503 with Retry-After
    sent: int = 0
    elapsed: float = 0.0
    by_kind: dict[str, list[float]] = field(default_factory=dict)

    def percentile(self, p: float, values: list[float] | None = None) -> float:
        values = sorted(self.latencies if values is None else values)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(p / 100 * len(values)))] * 1000

    @property
    def ok(self) -> int:
        return self.sent - self.errors - self.shed

    def row(self) -> dict:
        return {
            "target_rps": self.rate,
            "achieved_rps": round(self.ok / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": round(self.percentile(50), 1),
            "p99_ms": round(self.percentile(99), 1),
            "sent": self.sent,
            "errors": self.errors,
            "shed_503": self.shed,
            "statuses": dict(sorted(self.statuses.items())),
        }


async def _one(client: httpx.AsyncClient, phase: Phase, request, scheduled: float, gate: asyncio.Semaphore):
    kind, method, path, headers, body = request
    async with gate:
        try:
            response = await client.request(method, path, headers=headers, json=body)
            status = str(response.status_code)
            if response.status_code == 503:
                phase.shed += 1
            elif response.status_code >= 500:
                phase.errors += 1
        except (httpx.HTTPError, OSError) as exc:
            status = type(exc).__name__
            phase.errors += 1
    latency = time.perf_counter() - scheduled
    phase.statuses[status] = phase.statuses.get(status, 0) + 1
    phase.latencies.append(latency)
    phase.by_kind.setdefault(kind, []).append(latency)


async def run_phase(base_url: str, world: World, rate: float, seconds: float, seed: int) -> Phase:
    """Open loop: request k leaves at start + k / rate."""
    rng = random.Random(seed)
    kinds, weights = zip(*MIX, strict=True)
    phase = Phase(rate=rate, seconds=seconds)
    gate = asyncio.Semaphore(MAX_IN_FLIGHT)
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT)
    async with httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT, limits=limits) as client:
        start = time.perf_counter()
        tasks = []
        total = int(rate * seconds)
        for k in range(total):
            scheduled = start + k / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            make = rng.choices(kinds, weights)[0]
            tasks.append(asyncio.create_task(_one(client, phase, make(world, rng), scheduled, gate)))
            phase.sent += 1
        await asyncio.gather(*tasks)
        phase.elapsed = time.perf_counter() - start
    return phase


# The server ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(db_url: str) -> World:
    """Migrate and seed the demo programme; the keys and the ids the workload uses."""
    from sqlalchemy import select

    from loansvc.auth.service import authenticate
    from loansvc.db.models import Household, Loan, Product
    from loansvc.db.session import Database
    from loansvc.demo import seed
    from loansvc.migrate import upgrade

    upgrade(db_url)
    database = Database(db_url)
    keys = seed(database)
    with database.transaction(write=False) as session:
        partner = authenticate(session, keys["partner"]).lender_id
        loans = list(
            session.scalars(select(Loan.id).where(Loan.lender_id == partner, Loan.status == "active").limit(300))
        )
        households = list(session.scalars(select(Household.id).limit(300)))
        product = session.scalar(select(Product.id).where(Product.lender_id == partner).limit(1))
    database.engine.dispose()
    return World(keys=keys, loans=loans, households=households, product=product)


def start_server(db_url: str, workers: int, port: int, env_extra: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, "LOANSVC_DATABASE_URL": db_url, "LOANSVC_LOG_LEVEL": "INFO", **env_extra}
    command = [sys.executable, "-c", "from loansvc.cli import app; app()", "serve", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise SystemExit("the server did not start")


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


# Checking the client against wrk ---------------------------------------------------------------------


# the check's request: a path that does not exist, answered (404) by the framework alone, with no
# database work, so that the server is as fast as it gets and the client's own limit shows
CHECK_PATH = "/no-such-path"


async def _closed_loop(base_url: str, connections: int, seconds: float) -> float:
    """As many GET CHECK_PATH as `connections` keep-alive connections can do in `seconds`: req/s."""
    done = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT, limits=limits) as client:

        async def worker():
            nonlocal done
            while time.perf_counter() < stop:
                await client.get(CHECK_PATH)
                done += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
    return done / seconds


def check_client(base_url: str, seconds: float) -> dict:
    ours = asyncio.run(_closed_loop(base_url, 16, seconds))
    out = {"this client (httpx, 16 connections)": round(ours, 1)}
    wrk = shutil.which("wrk")
    if wrk:
        result = subprocess.run(
            [wrk, "-t1", "-c16", f"-d{int(seconds)}s", f"{base_url}{CHECK_PATH}"],
            capture_output=True,
            text=True,
            check=True,
        )
        line = next(x for x in result.stdout.splitlines() if x.startswith("Requests/sec"))
        out["wrk (1 thread, 16 connections)"] = float(line.split()[-1])
    else:
        out["wrk"] = "not installed (apt-get install -y wrk)"
    return out


# Main ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rate", type=float, default=50, help="phase 1: requests per second")
    parser.add_argument("--seconds", type=float, default=20, help="phase 1: duration")
    parser.add_argument("--ramp", default="50,100,150,200,300,400", help="phase 2: the rates, in order")
    parser.add_argument("--step-seconds", type=float, default=10)
    parser.add_argument("--check-client", action="store_true", help="this client vs wrk on one cheap GET")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()

    db_url = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='loansvc-load-')}/load.db"
    world = prepare(db_url)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = start_server(db_url, args.workers, port, {})
    report: dict = {"db": db_url.split("@")[-1], "workers": args.workers, "uptime": _uptime()}
    try:
        if args.check_client:
            report["client_check_rps"] = check_client(base_url, 10)
        else:
            fixed = asyncio.run(run_phase(base_url, world, args.rate, args.seconds, args.seed))
            report["fixed"] = fixed.row()
            report["fixed_p99_ms_by_kind"] = {
                kind: round(fixed.percentile(99, values), 1) for kind, values in sorted(fixed.by_kind.items())
            }
            ramp = []
            for step, rate in enumerate(float(r) for r in args.ramp.split(",")):
                phase = asyncio.run(run_phase(base_url, world, rate, args.step_seconds, args.seed + step + 1))
                ramp.append(phase.row())
                print(json.dumps(ramp[-1]), flush=True)
                if phase.percentile(99) > 1000 or phase.errors > 0.01 * phase.sent:
                    break
            report["ramp"] = ramp
            held = [r for r in ramp if r["p99_ms"] <= 1000 and r["errors"] <= 0.01 * r["sent"]]
            report["holds_rps"] = max((r["achieved_rps"] for r in held), default=0.0)
        report["uptime_after"] = _uptime()
    finally:
        stop_server(server)
    print(json.dumps(report, indent=2))


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    main()
