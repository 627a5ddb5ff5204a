"""Benchmark: reports, charts, the positions refresh and the lists at 100k, 300k and 1M loans (PostgreSQL).

All in one run, on one database that grows 100k -> 300k -> 1M (scripts/bench_portfolio_data.py: 24
monthly installments a loan, a payment with its allocation for each installment paid by as_of).
At each size, in the same run and on the same database:
  - the generation (set-based SQL, then VACUUM ANALYZE) and the ledger's positions refresh
    (`loansvc positions refresh --as-of`, a fresh process: the backfill as of the day before as_of,
    then as_of's nightly run on it, the month-end figure, then as_of once again);
  - the plain scan `SELECT count(*), sum(outstanding_principal) FROM loans` (the floor a report
    over every loan can reach) and the portfolio report grouped by lender and by site, read from the
    positions, beside the old whole-schedule query (`exact=True`): the time (median of the timed
    runs after an untimed one), the peak memory of the fresh process (ru_maxrss), and whether the
    two give the same figures, cell for cell (every total and group);
  - month-end snapshots (`loansvc snapshots take --month`, the 36 month ends up to as_of, timed:
    the first take) and then the PAR-trend chart for 12 and 36 months;
  - `GET /v1/loans?limit=50` (first and a deep page) and the delinquent list, served by
    `loansvc serve` on a port and driven at a fixed rate, open loop (scripts/bench_lists.py); at
    the last size the client is checked once against `wrk` on the same endpoint.
Each report and chart runs in a fresh Python process, so that its peak memory is its own. A part
whose code is not in this tree yet is reported as missing, not guessed.

The run creates its own database (loansvc_bench_<pid>) and drops it at the end (--keep keeps it);
`--db URL` uses an existing database instead: it is never dropped nor truncated, only grown with
the same synthetic loans (a run resumes on a database an earlier --keep left).

Usage: .venv/bin/python scripts/bench_reports.py [--sizes 100000,300000,1000000] [--db URL]
          [--pg-port 5432] [--port HTTP_PORT] [--keep] [--write] [--json FILE]
--write puts the tables into docs/benchmarks.md between the bench_reports markers, after each size
(so a run stopped early leaves the sizes it finished). Traffic goes only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

AS_OF = date(2026, 11, 30)  # a month end: the refresh, the snapshots and the reports share it
REPEATS = 3
CHUNK = 100_000  # loans generated per transaction
SLOW = 5.0  # seconds: a run slower than this is timed once (after the untimed one), not 3 times
START, END = "<!-- bench_reports:start -->", "<!-- bench_reports:end -->"
# what the nightly jobs store from the history (the daily flows, the month-end snapshots): stale once
# the generator adds loans with their past movements, so a grown database starts without them
DERIVED = ("portfolio_flows", "portfolio_flow_days", "portfolio_snapshots", "portfolio_snapshot_months")
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable

# a fresh process: argv = url, as_of, group_by, mode (positions | exact), repeats
REPORT = """
SLOW = 5.0  # as SLOW below
import inspect, json, resource, statistics, sys, time
from datetime import date
from sqlalchemy import event
from loansvc.auth.principal import Principal
from loansvc.config import RATE_CAP_PERCENT
from loansvc.db.session import Database
from loansvc.reports import service
url, as_of, group_by, mode, repeats = sys.argv[1], date.fromisoformat(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
# from the positions: as_of is "today" (the service reads the loans' stored positions as of today);
# the old whole-schedule query: no today (or exact=True where the service takes it)
parameters = inspect.signature(service.portfolio).parameters
has_exact = "today" in parameters or "exact" in parameters
extra = {}
if "exact" in parameters:
    extra["exact"] = mode == "exact"
if "today" in parameters:
    extra["today"] = as_of if mode == "positions" else None
db = Database(url)
statements = []
@event.listens_for(db.engine, "before_cursor_execute")
def _before(conn, cursor, statement, parameters, context, executemany):
    conn.info["started"] = time.perf_counter()
@event.listens_for(db.engine, "after_cursor_execute")
def _after(conn, cursor, statement, parameters, context, executemany):
    statements.append((time.perf_counter() - conn.info["started"], " ".join(statement.split())[:90]))
admin = Principal(key_id="bench", name="bench", role="admin", lender_id=None)
times = []
warm = repeats > 1  # the old query: one timed run, no untimed one (it takes tens of seconds at 1M)
k = 0
while len(times) < repeats:
    statements.clear()
    start = time.perf_counter()
    with db.transaction(write=False) as session:
        report = service.portfolio(session, admin, as_of, group_by, rate_cap_percent=RATE_CAP_PERCENT, **extra)
    took = time.perf_counter() - start
    if k or not warm:
        times.append(took)
    elif took > SLOW:
        repeats = 1  # a slow one: one timed run after the untimed one
    k += 1
figures = {"totals": report.totals, "groups": report.groups}
usd = next(t for t in report.totals if t["currency"] == "USD")
slowest = [[round(t, 3), text] for t, text in sorted(statements, reverse=True)[:3]]
print(json.dumps({"seconds": statistics.median(times), "all": times, "has_exact": has_exact,
                  "statements": len(statements), "slowest": slowest,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "glp": str(usd["gross_loan_portfolio"]), "par30": str(usd["par30_balance"]),
                  "loans": usd["active_loans"], "figures": json.loads(json.dumps(figures, default=str))}))
"""

# argv = url, sql, repeats
SCAN = """
import json, statistics, sys, time
from sqlalchemy import create_engine, text
engine = create_engine(sys.argv[1])
times = []
with engine.connect() as conn:
    for k in range(int(sys.argv[3]) + 1):
        start = time.perf_counter()
        row = conn.execute(text(sys.argv[2])).one()
        if k:
            times.append(time.perf_counter() - start)
print(json.dumps({"seconds": statistics.median(times), "all": times, "row": [str(v) for v in row]}))
"""

# argv = url, as_of, months, repeats
CHART = """
SLOW = 5.0  # as SLOW below
import inspect, json, resource, statistics, sys, time
from loansvc.config import RATE_CAP_PERCENT
from datetime import date
from loansvc.auth.principal import Principal
from loansvc.db.session import Database
from loansvc.reports import service
db = Database(sys.argv[1])
as_of = date.fromisoformat(sys.argv[2])
admin = Principal(key_id="bench", name="bench", role="admin", lender_id=None)
parameters = inspect.signature(service.par_trend_chart).parameters
extra = {"rate_cap_percent": RATE_CAP_PERCENT} if "rate_cap_percent" in parameters else {}
if "today" in parameters:
    extra["today"] = as_of
times = []
repeats, k = int(sys.argv[4]), 0
while len(times) < repeats:
    start = time.perf_counter()
    with db.transaction(write=False) as session:
        png = service.par_trend_chart(session, admin, as_of, int(sys.argv[3]), "USD", **extra)
    took = time.perf_counter() - start
    if k:
        times.append(took)
    elif took > SLOW:
        repeats = 1
    k += 1
print(json.dumps({"seconds": statistics.median(times), "all": times, "bytes": len(png), "today": "today" in extra,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


# argv = url, comma-separated months: `snapshots.service.take` (what the CLI runs), one transaction
# each, in one process (36 CLI processes would time 36 interpreter starts)
TAKE = """
import json, sys, time
from loansvc.config import RATE_CAP_PERCENT
from loansvc.db.session import Database
from loansvc.snapshots import service
from loansvc.web.clock import today
db = Database(sys.argv[1])
out = []
for month in sys.argv[2].split(","):
    start = time.perf_counter()
    with db.transaction() as session:
        taken = service.take(session, service.month_end_of(month), today=today(), rate_cap_percent=RATE_CAP_PERCENT)
    out.append([month, taken.status, taken.rows, time.perf_counter() - start])
print(json.dumps(out))
"""


# PostgreSQL's JIT compiles a statement whose estimated cost passes jit_above_cost: the report's
# restructured-watch subquery makes the estimate huge, so a 50 ms statement spends seconds compiling.
# Each figure is taken with the server's default (jit on) and, beside it, with `-c jit=off`.
JIT_OFF = {"PGOPTIONS": "-c jit=off"}
# the lists served with Python's collector as it comes (LOANSVC_GC_FREEZE=false): the baseline of
# the server's gc.freeze at startup (loansvc.main), in the same run (--skip gc leaves it out)
GC_DEFAULT = {"LOANSVC_GC_FREEZE": "false"}
VARIANTS = True  # --skip jit: the figures with the server's default only


def _py(code: str, *argv: str, env: dict | None = None, timeout: float = 3600) -> dict:
    result = subprocess.run(
        [PYTHON, "-c", code, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def _cli(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LOANSVC_DATABASE_URL": url}
    command = [PYTHON, "-c", "from loansvc.cli import app; app()", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _machine() -> dict:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


# The parts -----------------------------------------------------------------------------------------


def _diff(a: dict, b: dict) -> list[str]:
    """The cells where two reports' figures differ (path = value / value), at most a few."""
    out: list[str] = []

    def walk(x, y, path):
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                walk(x.get(k), y.get(k), f"{path}.{k}")
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for i, (p, q) in enumerate(zip(x, y, strict=True)):
                walk(p, q, f"{path}[{i}]")
        elif x != y:
            out.append(f"{path}: {x} / {y}")

    walk(a, b, "")
    return out


def _scan_sql(url: str) -> str:
    from sqlalchemy import create_engine, inspect

    engine = create_engine(url)
    columns = {c["name"] for c in inspect(engine).get_columns("loans")}
    engine.dispose()
    if "outstanding_principal" in columns:
        return "SELECT count(*), sum(outstanding_principal) FROM loans"
    # before the positions columns: the same one-table scan over the ledger's running projection
    return "SELECT count(*), sum(disbursed_amount + capitalised_amount - principal_repaid) FROM loans"


def reports(url: str, as_of: date) -> dict:
    sql = _scan_sql(url)
    out: dict = {"scan": {"sql": sql, **_py(SCAN, url, sql, str(REPEATS))}}
    print(f"  plain scan {out['scan']['seconds']:.3f} s", flush=True)
    for group_by in ("lender", "site"):
        fast = _py(REPORT, url, as_of.isoformat(), group_by, "positions", str(REPEATS))
        no_jit = (
            _py(REPORT, url, as_of.isoformat(), group_by, "positions", str(REPEATS), env=JIT_OFF)
            if VARIANTS
            else {}
        )
        exact = _py(REPORT, url, as_of.isoformat(), group_by, "exact", "1")
        figures = fast.pop("figures")
        differences = _diff(figures, exact.pop("figures")) + _diff(figures, no_jit.pop("figures", figures))
        out[group_by] = {
            "positions": fast,
            "positions_jit_off": no_jit,
            "exact": exact,
            "differences": len(differences),
            "first_differences": differences[:5],
        }
        print(
            f"  by {group_by}: positions {fast['seconds']:.2f} s / {fast['peak_mib']:.0f} MiB "
            f"(jit off {no_jit.get('seconds', float('nan')):.2f} s; slowest {fast['slowest'][:2]}), "
            f"exact {exact['seconds']:.2f} s / {exact['peak_mib']:.0f} MiB, differences {len(differences)}"
            f"{'' if fast['has_exact'] else ' (no exact=True in this tree: both are the same code)'}",
            flush=True,
        )
    return out


def _months(as_of: date, count: int) -> list[str]:
    index = as_of.year * 12 + as_of.month - 1
    return [f"{(index - k) // 12:04d}-{(index - k) % 12 + 1:02d}" for k in range(count - 1, -1, -1)]


def snapshots_and_charts(url: str, as_of: date) -> dict:
    probe = _cli(url, "snapshots", "take", "--help")
    if probe.returncode != 0:
        return {"missing": "no `loansvc snapshots take` in this tree"}
    months = _months(as_of, 36)
    start = time.perf_counter()
    each = _py(TAKE, url, ",".join(months))
    first_take = time.perf_counter() - start
    t = time.perf_counter()
    again = _cli(url, "snapshots", "take", "--month", months[-1])
    again_seconds = time.perf_counter() - t
    out: dict = {
        "months": f"{months[0]}..{months[-1]}",
        "first_take_seconds": first_take,
        "first_take_each": each,
        "take_again_seconds": again_seconds,
        "take_again_said": again.stdout.strip()[-200:],
    }
    slowest = max(each, key=lambda e: e[3])
    print(
        f"  snapshots: 36 month ends taken in {first_take:.1f} s (slowest {slowest[0]}: {slowest[3]:.1f} s); "
        f"again by the CLI {again_seconds:.1f} s: {out['take_again_said']}",
        flush=True,
    )
    for months_shown in (12, 36):
        chart = _py(CHART, url, as_of.isoformat(), str(months_shown), str(REPEATS))
        chart["jit_off"] = (
            _py(CHART, url, as_of.isoformat(), str(months_shown), str(REPEATS), env=JIT_OFF)
            if VARIANTS
            else {"seconds": None}
        )
        out[f"chart_{months_shown}"] = chart
        print(
            f"  PAR trend {months_shown} months: {chart['seconds']:.3f} s (jit off {chart['jit_off']['seconds']})",
            flush=True,
        )
    return out


def refresh(url: str, as_of: date) -> dict:
    """The month end as the nightly job meets it: the backfill (every position filled, as of the day
    before as_of), then the month end's own nightly run on positions refreshed the day before (the
    month-end figure), then the same day again (writes nothing). Each a fresh `loansvc` process."""
    import bench_portfolio_data as data

    eve = as_of - timedelta(days=1)
    first = data.fill_positions(url, eve)
    if first is None:
        return {"missing": "no `loansvc positions refresh` in this tree"}
    nightly = data.fill_positions(url, as_of)
    again = data.fill_positions(url, as_of)
    no_jit = data.fill_positions(url, as_of, env=JIT_OFF) if VARIANTS else None
    print(
        f"  positions refresh: {first:.1f} s (backfill as of {eve}), {nightly:.1f} s (month end, the "
        f"nightly run), {again:.1f} s (again the same day), {no_jit} s (again, jit off)",
        flush=True,
    )
    return {
        "first_seconds": first,  # the backfill (as of backfill_as_of)
        "backfill_as_of": eve.isoformat(),
        "nightly_seconds": nightly,  # as_of's nightly run on positions as of the day before
        "again_seconds": again,  # the same day again: writes nothing
        "again_jit_off_seconds": no_jit,
    }


def flows_fill(url: str, as_of: date) -> dict:
    """The daily flows the current report reads (`loansvc snapshots flows`, a fresh process each):
    the backfill of the 61 days before the eve of as_of, then the nightly run that stores the one
    day left (the eve), as the job meets it each night."""
    eve = as_of - timedelta(days=1)

    def timed(*args: str) -> float:
        start = time.perf_counter()
        done = _cli(url, "snapshots", "flows", *args)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-800:])
        return time.perf_counter() - start

    if _cli(url, "snapshots", "flows", "--help").returncode != 0:
        return {"missing": "no `loansvc snapshots flows` in this tree"}
    backfill = timed("--until", (eve - timedelta(days=1)).isoformat(), "--days", "61")
    nightly = timed("--until", eve.isoformat(), "--days", "62")
    print(
        f"  flows: {backfill:.1f} s (backfill of 61 days), {nightly:.1f} s (the nightly run: one day)",
        flush=True,
    )
    return {"backfill_seconds": backfill, "nightly_seconds": nightly}


def expected_dues(url: str, as_of: date) -> dict:
    """The expected dues the current report reads (`loansvc positions expected --as-of`, a fresh
    process): every active loan anchored at as_of (at a month end every loan's windows move, so all
    are written), then `VACUUM ANALYZE loans`, as autovacuum would after the night's writes, so the
    planner and the index-only counts see the rows as they are."""
    from sqlalchemy import create_engine, text

    if _cli(url, "positions", "expected", "--help").returncode != 0:
        return {"missing": "no `loansvc positions expected` in this tree"}
    start = time.perf_counter()
    done = _cli(url, "positions", "expected", "--as-of", as_of.isoformat())
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-800:])
    seconds = time.perf_counter() - start
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    start = time.perf_counter()
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE loans"))
    vacuum = time.perf_counter() - start
    engine.dispose()
    print(
        f"  expected dues: {seconds:.1f} s ({done.stdout.strip()}); VACUUM ANALYZE loans {vacuum:.1f} s",
        flush=True,
    )
    return {"seconds": seconds, "vacuum_seconds": vacuum, "output": done.stdout.strip()}


# The database --------------------------------------------------------------------------------------


def _admin_engine(pg_port: int):
    from sqlalchemy import create_engine

    url = f"postgresql+psycopg://root@127.0.0.1:{pg_port}/postgres"
    return create_engine(url, isolation_level="AUTOCOMMIT")


def create_own(pg_port: int) -> str:
    from sqlalchemy import text

    name = f"loansvc_bench_{os.getpid()}"
    engine = _admin_engine(pg_port)
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"postgresql+psycopg://root@127.0.0.1:{pg_port}/{name}"


def drop_own(url: str, pg_port: int) -> None:
    from sqlalchemy import text

    name = url.rsplit("/", 1)[1]
    assert name.startswith("loansvc_bench_"), name  # only the database this run created
    engine = _admin_engine(pg_port)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def grow(url: str, size: int, as_of: date) -> dict:
    import bench_portfolio_data as data
    from sqlalchemy import text

    from loansvc.db.session import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        data.seed(conn)
        have = data.built(conn)
    start = time.perf_counter()
    for first in range(
        have + 1, size + 1, CHUNK
    ):  # a transaction per chunk: progress shows, memory stays flat
        with engine.begin() as conn:
            data.extend(conn, first, min(first + CHUNK, size + 1), as_of)
        print(f"    [{datetime.now(UTC):%H:%M:%S}] loans up to {min(first + CHUNK - 1, size):,}", flush=True)
    generated = time.perf_counter() - start
    if size > have:  # the history was written behind the ledger's back: drop what was derived from it
        with engine.begin() as conn:
            for table in DERIVED:
                conn.execute(text(f"DELETE FROM {table}"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
        installments, payments, mib = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM scheduled_installments), (SELECT count(*) FROM repayments), "
                "pg_database_size(current_database()) / 1048576"
            )
        ).one()
    engine.dispose()
    built = time.perf_counter() - start
    print(
        f"{size:>9,} loans: {size - have:,} added in {generated:.0f} s (+ VACUUM ANALYZE: {built:.0f} s); "
        f"{installments:,} installments, {payments:,} payments, {mib:,} MiB",
        flush=True,
    )
    return {
        "added": size - have,
        "generate_seconds": generated,
        "with_vacuum_seconds": built,
        "installments": installments,
        "payments": payments,
        "database_mib": mib,
    }


# The table -----------------------------------------------------------------------------------------


def _s(value: float | None) -> str:
    if value is None or value != value:  # not measured (None or NaN)
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if a == a and b == b and b else "-"  # NaN: not measured


def table(run: dict) -> list[str]:
    m, sizes = run["machine"], run["sizes"]
    invocations = run["command"].count(" ; ") + 1
    if invocations > 1 and not run["own_db"]:
        how = f"in {invocations} invocations, each on a database given with --db (never dropped): `{run['command']}`."
    elif invocations > 1:
        how = f"in {invocations} invocations on one database (the first one's own, dropped afterwards): `{run['command']}`."
    elif run["own_db"]:
        fate = "created and kept (--keep)" if "--keep" in run["command"].split() else "created and dropped"
        how = f"all in one run: `{run['command']}` (its own database, {fate})."
    else:
        how = f"all in one run: `{run['command']}`."
    lines = [
        f"Measured {run['started']} to {run.get('ended', '(running)')} UTC, {how}",
        "",
        f"- Machine: {m['cores']} cores, {m['cpu']}, {m['system']}; Python {m['python']}; PostgreSQL "
        f"{run['postgres']} on 127.0.0.1, shared with other engineers' work. 1-minute load average at the start, "
        f"after each size and at the end: {' / '.join(str(x) for x in run['load'])}.",
        f"- Data: as_of {run['as_of']}; per loan 24 monthly installments, one disbursement and a payment (with "
        "its allocation) for each installment paid by as_of; 10 lenders, 20 sites, 1 loan in 10 in riel.",
        "- Times: median of 3 timed runs after an untimed one (1 timed run when the untimed one took over 5 s), "
        "each report and chart in a fresh process (peak RSS = its ru_maxrss); the old whole-schedule query: "
        "1 run."
        + (
            " `jit off`: the same with `PGOPTIONS='-c jit=off'` (see below)."
            if any(_variants(r) for r in sizes.values())
            else " PostgreSQL connections run with jit off (loansvc.db.session), so the jit-off columns are empty."
        ),
        "",
        "| loans | installments | payments | database | generation (+ VACUUM ANALYZE) | positions refresh "
        "(backfill / month end: the nightly run / again the same day / again with jit off) |",
        "|--:|--:|--:|--:|--:|--:|",
    ]
    for n, r in sizes.items():
        d, p = r["data"], r.get("refresh", {})
        ref = p.get("missing") or (  # a run before the nightly figure: "-" in its place
            f"{_s(p.get('first_seconds'))} / {_s(p.get('nightly_seconds'))} / {_s(p.get('again_seconds'))} / "
            f"{_s(p.get('again_jit_off_seconds'))}"
        )
        lines.append(
            f"| {int(n):,} | {d['installments']:,} | {d['payments']:,} | {d['database_mib']:,} MiB "
            f"| {_s(d['generate_seconds'])} ({_s(d['with_vacuum_seconds'])}) | {ref} |"
        )
    flow_lines = [
        f"| {int(n):,} | {_s(r['flows'].get('backfill_seconds'))} | {_s(r['flows'].get('nightly_seconds'))} "
        f"| {_s(r.get('expected', {}).get('seconds'))} | {_s(r.get('expected', {}).get('vacuum_seconds'))} |"
        for n, r in sizes.items()
        if r.get("flows") and "missing" not in r["flows"]
    ]
    if flow_lines:
        lines += [
            "",
            "The other nightly jobs the current report reads, each a fresh process: the daily flows "
            "(`loansvc snapshots flows`: the backfill of 61 days, then the nightly run storing the eve of "
            "as_of) and the expected dues (`loansvc positions expected --as-of`: every active loan "
            "anchored at as_of, a month end, so every loan written), then `VACUUM ANALYZE loans`:",
            "",
            "| loans | flows backfill (61 days) | flows nightly (1 day) | expected dues (month end) | VACUUM ANALYZE loans |",
            "|--:|--:|--:|--:|--:|",
            *flow_lines,
        ]
    lines += [
        "",
        "Portfolio report (`reports.service.portfolio`, JSON figures) from the positions, beside the plain "
        "scan and the old whole-schedule query:",
        "",
        "| loans | group | plain scan | report | report, jit off | report / scan (jit off) | per 100k loans "
        "(jit off) | peak RSS | old query (exact) | old peak RSS | speed-up | same figures |",
        "|--:|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|:--:|",
    ]
    for n, r in sizes.items():
        rep = r.get("reports")
        if not rep:
            continue
        for g in ("lender", "site"):
            fast, exact = rep[g]["positions"], rep[g]["exact"]
            cold = rep[g]["positions_jit_off"] or {"seconds": float("nan")}
            same = "yes" if rep[g]["differences"] == 0 else f"**no** ({rep[g]['differences']} cells)"
            if not fast["has_exact"]:
                same += " (same code)"
            lines.append(
                f"| {int(n):,} | {g} | {_s(rep['scan']['seconds'])} | {_s(fast['seconds'])} | {_s(cold['seconds'])} "
                f"| {_ratio(fast['seconds'], rep['scan']['seconds'])} ({_ratio(cold['seconds'], rep['scan']['seconds'])}) "
                f"| {_s(fast['seconds'] * 100_000 / int(n))} ({_s(cold['seconds'] * 100_000 / int(n))}) "
                f"| {fast['peak_mib']:.0f} MiB | {_s(exact['seconds'])} | {exact['peak_mib']:.0f} MiB "
                f"| {exact['seconds'] / fast['seconds']:.1f}x | {same} |"
            )
    lines += [
        "",
        "Month-end snapshots and the PAR-trend chart (USD, every lender):",
        "",
        "| loans | snapshots: first take (36 month ends) | take one again (CLI) | PAR trend 12 months "
        "(jit off) | PAR trend 36 months (jit off) | chart peak RSS |",
        "|--:|--:|--:|--:|--:|--:|",
    ]
    for n, r in sizes.items():
        c = r.get("charts")
        if not c:
            continue
        if "missing" in c:
            lines.append(f"| {int(n):,} | {c['missing']} | | | | |")
            continue
        lines.append(
            f"| {int(n):,} | {_s(c['first_take_seconds'])} | {_s(c['take_again_seconds'])} "
            f"| {_s(c['chart_12']['seconds'])} ({_s(c['chart_12']['jit_off']['seconds'])}) "
            f"| {_s(c['chart_36']['seconds'])} ({_s(c['chart_36']['jit_off']['seconds'])}) "
            f"| {c['chart_36']['peak_mib']:.0f} MiB |"
        )
    lines += [
        "",
        "Lists through HTTP (`loansvc serve`, one worker, a finance lead's key; fixed rate, open loop, "
        "latency from each request's scheduled time; p50 / p99):",
        "",
        "| loans | rate | GET /v1/loans?limit=50 | deep page (keyset) | deep page by offset (baseline) "
        "| delinquent list (limit=50, as of today) |",
        "|--:|--:|--:|--:|--:|--:|",
    ]

    def cell(h: dict, k: str) -> str:
        if k not in h:
            return "-"
        c = h[k]
        text = f"{c['p50_ms']} / {c['p99_ms']} ms"
        if k.startswith("deep offset"):
            text += f" ({c['rate']:.0f} req/s x {c['seconds']:.0f} s)"
        return text + (
            "" if c["status"] == 200 and set(c["statuses"]) == {"200"} else f" (HTTP {c['statuses']})"
        )

    for n, h, label in [
        (n, r[k], note)
        for n, r in sizes.items()
        for k, note in (
            ("http", ""),
            ("http_jit_off", ", jit off"),
            ("http_gc_default", ", collector not frozen (baseline)"),
        )
        if r.get(k)
    ]:
        lines.append(
            f"| {int(n):,}{label} | {h['first page']['rate']:.0f} req/s x {h['first page']['seconds']:.0f} s "
            f"| {cell(h, 'first page')} | {cell(h, 'deep page')} ({h['deep_page']}) "
            f"| {cell(h, 'deep offset (baseline)')} | {cell(h, 'delinquent list')} |"
        )
    for n, r in sizes.items():
        check = r.get("http", {}).get("wrk_check")
        if not check:
            continue
        ours, theirs = check["this client"], check["wrk"]
        lines += [
            "",
            f"Client check at {int(n):,} loans (`{check['path']}`, closed loop, {ours['connections']} connections, "
            f"{ours['seconds']} s each): this client {ours['rps']} req/s, p50 {ours['p50_ms']} / p99 "
            f"{ours['p99_ms']} ms; "
            + (
                f"{theirs.get('tool', 'wrk')} {theirs.get('rps')} req/s, p50 {theirs.get('p50_ms')} / p99 "
                f"{theirs.get('p99_ms')} ms."
                if theirs.get("rps") is not None
                else "wrk was not installed for that run (no figure to compare)."
            ),
        ]
    lines += ["", *goals(run)]
    if run.get("notes"):  # what the run's operator found reading the figures (--notes FILE)
        lines += ["", *run["notes"]]
    return lines


def _variants(r: dict) -> bool:
    """Whether this size was also measured with jit off beside the default (before jit=off was it)."""
    rep = r.get("reports") or {}
    return any((rep.get(g) or {}).get("positions_jit_off") for g in ("lender", "site"))


def goals(run: dict) -> list[str]:
    top = max(run["sizes"], key=int)
    r = run["sizes"][top]
    out = [
        f"Goals at the largest size measured ({int(top):,} loans), as shipped"
        f"{' (the server' + chr(39) + 's jit on) and with jit off' if _variants(r) else ' (PostgreSQL connections run with jit off)'}:",
        "",
    ]
    rep = r.get("reports")
    if rep:
        for g in ("lender", "site"):
            for label, fast in (("", rep[g]["positions"]), (", jit off", rep[g]["positions_jit_off"])):
                if not fast:
                    continue
                ratio = fast["seconds"] / rep["scan"]["seconds"]
                mib = fast.get("peak_mib", float("nan"))
                memory = (
                    f"{mib:.0f} MiB < 300 MiB: {_met(mib < 300)}" if mib == mib else "peak RSS not recorded"
                )
                out.append(
                    f"- report by {g}{label}: {_s(fast['seconds'])} < 2 s: {_met(fast['seconds'] < 2)}; "
                    f"{ratio:.1f}x the scan <= 2x: {_met(ratio <= 2)}; {memory}; same figures as the old "
                    f"query: {_met(rep[g]['differences'] == 0)}"
                )
    c = r.get("charts", {})
    for k in (12, 36):
        if f"chart_{k}" in c:
            on, off = c[f"chart_{k}"]["seconds"], c[f"chart_{k}"].get("jit_off", {}).get("seconds")
            line = f"- PAR trend {k} months: {_s(on)} < 1 s: {_met(on < 1)}"
            if off is not None:  # measured with jit off beside it (before jit was off by default)
                line += f"; jit off {_s(off)}: {_met(off < 1)}"
            out.append(line)
    p = r.get("refresh", {})
    if p.get("nightly_seconds") is not None:
        month_end, first = p["nightly_seconds"], p["first_seconds"]
        out.append(
            f"- positions refresh at the month end (the nightly run, positions as of the day before): "
            f"{_s(month_end)} < 60 s: {_met(month_end < 60)}; the backfill of every position (once): "
            f"{_s(first)} < 60 s: {_met(first < 60)}"
        )
    elif "first_seconds" in p:  # a run from before the nightly figure: the backfill stood for it
        worst = max(p["first_seconds"], p["again_seconds"])
        out.append(
            f"- positions refresh: {_s(worst)} (the slower of the first two) < 60 s: {_met(worst < 60)}"
        )
    for key, label in (("http", ""), ("http_jit_off", ", jit off")):
        h = r.get(key, {})
        for k in ("first page", "deep page", "delinquent list"):
            if k in h:
                out.append(
                    f"- {k}{label}: p50 {h[k]['p50_ms']} ms, p99 {h[k]['p99_ms']} ms; p99 < 50 ms: "
                    f"{_met(h[k]['p99_ms'] < 50 and h[k]['status'] == 200)}"
                )
    return out


def write_doc(lines: list[str]) -> None:
    doc = ROOT / "docs" / "benchmarks.md"
    body = doc.read_text()
    section = f"{START}\n" + "\n".join(lines) + f"\n{END}"
    if START in body:
        head, rest = body.split(START, 1)
        body = head + section + rest.split(END, 1)[1]
    else:
        body = (
            body.rstrip()
            + "\n\n## Portfolio report at scale (`scripts/bench_reports.py`)\n\n"
            + section
            + "\n"
        )
    doc.write_text(body)


# Main ------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,300000,1000000")
    parser.add_argument("--db", help="an existing database to use (never dropped nor truncated)")
    parser.add_argument("--pg-port", type=int, default=5432, help="the local PostgreSQL's port")
    parser.add_argument(
        "--port", type=int, default=0, help="the port for `loansvc serve` (default: a free one)"
    )
    parser.add_argument("--as-of", default=AS_OF.isoformat())
    parser.add_argument("--rate", type=float, default=4, help="requests per second for each list")
    parser.add_argument("--seconds", type=float, default=15, help="seconds at that rate for each list")
    parser.add_argument(
        "--skip", default="", help="parts to leave out: refresh,flows,reports,charts,http,jit,gc"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database this run created")
    parser.add_argument("--write", action="store_true", help="write the tables into docs/benchmarks.md")
    parser.add_argument("--json", help="write every figure to this file (after each size)")
    parser.add_argument(
        "--render",
        help="only print (and with --write, write) the tables of earlier --json files "
        "(comma-separated: runs that grew the same database, in order)",
    )
    parser.add_argument("--notes", help="with --render: a markdown file put under the tables")
    args = parser.parse_args()
    if args.render:
        run = _merged([json.loads(Path(f).read_text()) for f in args.render.split(",")])
        if args.notes:
            run["notes"] = Path(args.notes).read_text().rstrip().splitlines()
        lines = table(run)
        print("\n".join(lines))
        if args.write:
            write_doc(lines)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    as_of = date.fromisoformat(args.as_of)
    skip = set(filter(None, args.skip.split(",")))
    global VARIANTS
    VARIANTS = "jit" not in skip

    import bench_lists

    from loansvc.migrate import upgrade

    url = args.db or create_own(args.pg_port)
    run: dict = {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "machine": _machine(),
        "load": [_load()],
        "own_db": not args.db,
        "as_of": as_of.isoformat(),
        "sizes": {},
        "command": "scripts/bench_reports.py "
        + " ".join(a for a in sys.argv[1:] if not a.startswith("postgres")),
    }
    try:
        upgrade(url)
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.connect() as conn:
            run["postgres"] = conn.execute(text("SHOW server_version")).scalar_one().split()[0]
        engine.dispose()
        for size in sizes:
            r: dict = {"data": grow(url, size, as_of)}
            run["sizes"][str(size)] = r
            port = args.port or bench_lists.free_port()
            measure = partial(bench_lists.measure, url, port, size, as_of, args.rate, args.seconds)
            parts = {  # the month-end snapshots' first take is the longest part: last
                "refresh": partial(refresh, url, as_of),
                "flows": partial(flows_fill, url, as_of),
                "expected": partial(expected_dues, url, as_of),
                "reports": partial(reports, url, as_of),
                "http": partial(measure, check_wrk=size == sizes[-1]),
                "http_jit_off": partial(measure, check_wrk=False, env=JIT_OFF),
                "http_gc_default": partial(measure, check_wrk=False, env=GC_DEFAULT),
                "charts": partial(snapshots_and_charts, url, as_of),
            }
            for name, part in parts.items():
                variant_off = (name == "http_jit_off" and "jit" in skip) or (
                    name == "http_gc_default" and "gc" in skip
                )
                if name.split("_")[0] in skip or variant_off:
                    continue
                print(f"  [{datetime.now(UTC):%H:%M:%S}] {name}", flush=True)
                try:
                    r[name] = part()
                except Exception as exc:  # one part failing (code changing under the run) leaves the others
                    r.setdefault("errors", {})[name] = repr(exc)[-1500:]
                    print(f"  {name} FAILED: {exc!r}"[:3000], flush=True)
                _save(run, args)
            run["load"].append(_load())
            _save(run, args)
        run["ended"] = datetime.now(UTC).strftime("%H:%M")
        run["load"].append(_load())
        _save(run, args)
        print("\n".join(table(run)))
    finally:
        if not args.db and not args.keep:
            drop_own(url, args.pg_port)
        elif not args.db:
            print(f"kept the database: {url}")


def _merged(runs: list[dict]) -> dict:
    """Runs that grew one database in turn (a later one resumed with --db), as one."""
    out = {**runs[0], "sizes": {}, "load": [], "command": " ; ".join(r["command"] for r in runs)}
    for r in runs:
        out["sizes"].update(r["sizes"])
        out["load"] += r["load"]
        out["notes"] = out.get("notes", []) if r is runs[0] else out.get("notes", []) + r.get("notes", [])
    out["ended"] = runs[-1].get("ended", "(stopped)")
    return out


def _save(run: dict, args) -> None:
    if args.json:
        Path(args.json).write_text(json.dumps(run, indent=2, default=str))
    if args.write:
        write_doc(table(run))


if __name__ == "__main__":
    main()
