"""Benchmark part: the list endpoints at scale, served by `loansvc serve` and driven open-loop.

Used by scripts/bench_reports.py on its own database at each size; runnable alone on a loaded one:
  .venv/bin/python scripts/bench_lists.py --db URL [--port 8765] [--rate 20] [--seconds 10] [--wrk]

The requests (a finance lead's key, made for the run): `GET /v1/loans?limit=50` (the first page),
a deep page of the same list (half way through it: the keyset cursor the first pages hand out when
the list has one, else a bounded offset, see `deep_page`), the delinquent list
`GET /v1/reports/delinquent-loans?limit=50` (as of the server's today) and, when it hands out a
keyset cursor, a page half way through it (see `delinquent_deep_page`). Each is sent at a fixed rate, open loop:
request k leaves at start + k / rate whatever the others do, and its latency counts from that
scheduled time (no coordinated omission). `--wrk` checks this client once against `wrk` on the
same endpoint, both closed-loop with the same connections for the same time: if the two agree on
the latencies, the client's own figures can be trusted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TIMEOUT = 30.0
PAGE = 50
# the server's warnings and crashes, for when a request does not answer 200
LOG = Path(f"/tmp/bench_lists_server_{os.getpid()}.log")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str, port: int, env_extra: dict | None = None) -> subprocess.Popen:
    """`loansvc serve --port` (one worker) on the database; waits for /health."""
    python = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable
    env = {**os.environ, **(env_extra or {}), "LOANSVC_DATABASE_URL": url, "LOANSVC_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [python, "-c", "from loansvc.cli import app; app()", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=LOG.open("ab"),
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"loansvc serve exited with {server.returncode} (is port {port} free?)")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_server(server)
    raise SystemExit("the server did not start")


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


def make_key(url: str) -> str:
    """A finance lead's key for this run (it sees every lender)."""
    from loansvc.auth.service import create_key
    from loansvc.db.session import Database

    database = Database(url)
    with database.transaction() as session:
        issued = create_key(
            session,
            name=f"bench-lists-{os.getpid()}-{time.time_ns()}",
            role="finance_lead",
            lender_id=None,
            created_by="bench",
        )
    database.engine.dispose()
    return issued.key


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(p / 100 * len(values)))] * 1000


def _summary(latencies: list[float], statuses: dict[str, int], elapsed: float) -> dict:
    return {
        "n": len(latencies),
        "p50_ms": round(_pct(latencies, 50), 1),
        "p90_ms": round(_pct(latencies, 90), 1),
        "p99_ms": round(_pct(latencies, 99), 1),
        "max_ms": round(max(latencies) * 1000, 1) if latencies else float("nan"),
        "rps": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "statuses": dict(sorted(statuses.items())),
    }


async def fixed_rate(base: str, path: str, headers: dict, rate: float, seconds: float) -> dict:
    """Open loop: request k leaves at start + k / rate; latency from the scheduled time."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT, limits=limits, headers=headers) as client:
        await client.get(path)  # untimed: the connection, the key's cache, the plan

        async def one(scheduled: float) -> None:
            try:
                response = await client.get(path)
                status = str(response.status_code)
            except (httpx.HTTPError, OSError) as exc:
                status = type(exc).__name__
            latencies.append(time.perf_counter() - scheduled)
            statuses[status] = statuses.get(status, 0) + 1

        start = time.perf_counter()
        tasks = []
        for k in range(int(rate * seconds)):
            scheduled = start + k / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(scheduled)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return {"rate": rate, "seconds": seconds, **_summary(latencies, statuses, elapsed)}


async def closed_loop(base: str, path: str, headers: dict, connections: int, seconds: float) -> dict:
    """As many requests as `connections` keep-alive connections can do in `seconds`."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT, limits=limits, headers=headers) as client:
        await client.get(path)
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < stop:
                sent = time.perf_counter()
                response = await client.get(path)
                latencies.append(time.perf_counter() - sent)
                statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - start
    return {"connections": connections, "seconds": seconds, **_summary(latencies, statuses, elapsed)}


def _wrk_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(base: str, path: str, headers: dict, connections: int, seconds: int) -> dict:
    """`wrk -t1 -c<connections> --latency` on the same endpoint: req/s, p50/p90/p99."""
    tool = shutil.which("wrk")
    if not tool:
        return {"error": "wrk not installed (apt-get install -y wrk)"}
    command = [tool, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    result = subprocess.run([*command, f"{base}{path}"], capture_output=True, text=True, check=True)
    out: dict = {"connections": connections, "seconds": seconds, "tool": "wrk 4.1 (Debian), -t1 --latency"}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "90%", "99%"):
            out[f"p{parts[0][:-1]}_ms"] = round(_wrk_ms(parts[1]), 1)
        elif line.startswith("Requests/sec"):
            out["rps"] = float(parts[-1])
        elif "Non-2xx" in line:
            out["non_2xx"] = int(parts[-1])
    return out


def deep_page(url: str, base: str, headers: dict, loans: int) -> tuple[str, str]:
    """A page half way through GET /v1/loans and how it was reached. With a keyset list (its
    pages hand out `next_after`), the cursor of the loan in the middle of the list's order
    (submitted_on descending, then id), made as the list makes it (fields.cursor_token of its sort
    key) from one untimed SQL lookup, instead of following loans / 100 pages; else a deep offset."""
    first = httpx.get(f"{base}/v1/loans", params={"limit": PAGE}, headers=headers, timeout=TIMEOUT).json()
    if "next_after" not in first:
        return f"/v1/loans?{urlencode({'limit': PAGE, 'offset': loans // 2})}", f"offset {loans // 2:,}"
    from sqlalchemy import create_engine, text

    from loansvc.fields import cursor_token

    engine = create_engine(url)
    with engine.connect() as conn:
        day, loan_id = conn.execute(
            text("SELECT submitted_on, id FROM loans ORDER BY submitted_on DESC, id OFFSET :n LIMIT 1"),
            {"n": loans // 2 - 1},
        ).one()
    engine.dispose()
    token = cursor_token([day.isoformat(), loan_id])
    return (
        f"/v1/loans?{urlencode({'limit': PAGE, 'after': token})}",
        f"keyset `after`, loan {loans // 2:,} on",
    )


def delinquent_deep_page(url: str, base: str, headers: dict) -> tuple[str, str] | None:
    """A page half way through the delinquent list (as of the server's today: the active loans whose
    stored oldest open due date is before today), by its keyset cursor when the list hands one out
    (`next_after`): made as the list makes it (fields.cursor_token of the oldest due date and id)
    from one untimed SQL lookup. None when the list has no cursor or fewer than two pages."""
    first = httpx.get(
        f"{base}/v1/reports/delinquent-loans", params={"limit": PAGE}, headers=headers, timeout=TIMEOUT
    ).json()
    if not first.get("next_after"):
        return None
    from sqlalchemy import create_engine, text

    from loansvc.clock import today
    from loansvc.fields import cursor_token

    engine = create_engine(url)
    with engine.connect() as conn:
        late = f"status = 'active' AND oldest_due_on < DATE '{today().isoformat()}'"  # the server's clock
        count = conn.execute(text(f"SELECT count(*) FROM loans WHERE {late}")).scalar_one()
        row = conn.execute(
            text(
                f"SELECT oldest_due_on, id FROM loans WHERE {late} ORDER BY oldest_due_on, id OFFSET :n LIMIT 1"
            ),
            {"n": max(count // 2 - 1, 0)},
        ).one_or_none()
    engine.dispose()
    if row is None:
        return None
    token = cursor_token([row[0].isoformat(), row[1]])
    path = f"/v1/reports/delinquent-loans?{urlencode({'limit': PAGE, 'after': token})}"
    return path, f"keyset `after`, late loan {count // 2:,} of {count:,} on"


def offset_page(loans: int) -> str:
    """The same depth by offset (the list keeps it): the baseline a keyset page is compared with."""
    return f"/v1/loans?{urlencode({'limit': PAGE, 'offset': loans // 2})}"


def measure(
    url: str,
    port: int,
    loans: int,
    as_of: date,
    rate: float,
    seconds: float,
    check_wrk: bool,
    env: dict | None = None,
) -> dict:
    """Serve the database and time the three requests; the wrk check when asked. `env`: the
    server's extra environment (PGOPTIONS)."""
    server = start_server(url, port, env)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {make_key(url)}"}
    try:
        deep, how = deep_page(url, base, headers, loans)
        paths = {
            "first page": f"/v1/loans?limit={PAGE}",
            "deep page": deep,
            # as of the server's today: the positions the ledger keeps (an earlier as_of is exact)
            "delinquent list": f"/v1/reports/delinquent-loans?limit={PAGE}",
            "deep offset (baseline)": offset_page(loans),
        }
        late = delinquent_deep_page(url, base, headers)
        if late is not None:
            paths["delinquent deep page"] = late[0]
        out: dict = {"deep_page": how, "paths": paths}
        if late is not None:
            out["delinquent_deep_page"] = late[1]
        for name, path in paths.items():
            if name == "deep offset (baseline)" and "offset" in how:
                continue
            # the baseline reads half the list a request: a few, slowly, not to swamp the server
            slow = name.startswith("deep offset")
            rate_here, seconds_here = (min(rate, 2.0), min(seconds, 5.0)) if slow else (rate, seconds)
            check = httpx.get(f"{base}{path}", headers=headers, timeout=TIMEOUT)
            body = check.json() if check.headers.get("content-type", "").startswith("application") else {}
            items = len(body.get("items", [])) if isinstance(body, dict) else 0
            out[name] = {
                "status": check.status_code,
                "items": items,
                **asyncio.run(fixed_rate(base, path, headers, rate_here, seconds_here)),
            }
            print(f"    {name}: {json.dumps(out[name])}", flush=True)
        if check_wrk:
            path = paths["first page"]
            out["wrk_check"] = {
                "path": path,
                "this client": asyncio.run(closed_loop(base, path, headers, 4, 10)),
                "wrk": wrk(base, path, headers, 4, 10),
            }
            print(f"    wrk check: {json.dumps(out['wrk_check'])}", flush=True)
    finally:
        stop_server(server)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a loaded PostgreSQL database (only read, plus one key)")
    parser.add_argument("--port", type=int, default=0, help="the server's port (default: a free one)")
    parser.add_argument("--as-of", default="2026-11-30")
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--wrk", action="store_true")
    args = parser.parse_args()
    from sqlalchemy import create_engine, text

    engine = create_engine(args.db)
    with engine.connect() as conn:
        loans = conn.execute(text("SELECT count(*) FROM loans")).scalar_one()
    engine.dispose()
    out = measure(
        args.db,
        args.port or free_port(),
        loans,
        date.fromisoformat(args.as_of),
        args.rate,
        args.seconds,
        args.wrk,
    )
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
