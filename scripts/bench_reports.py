"""Benchmark: the portfolio report on 100k, 300k and 1M loans in PostgreSQL, against a naive version.

The synthetic portfolio (scripts/bench_portfolio_data.py) has 24 monthly installments per loan and a
payment with its allocation for each installment paid by as_of (about 24M installments and 12M
payments at 1M loans). At each size, in the same run and on the same database:
  - the report: `loansvc.reports.service.portfolio` (SQL GROUP BY, pandas on the aggregated rows);
  - the naive version: every current installment and loan loaded into pandas, then PAR, aging and
    GLP computed there (the way a spreadsheet export would).
Each runs in a fresh Python process so that its peak memory (ru_maxrss) is its own.

Usage: .venv/bin/python scripts/bench_reports.py [--sizes 100000,300000,1000000] [--db URL] [--write]
Writes the table into docs/benchmarks.md between the bench_reports markers with --write.
Traffic goes only to the local PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

AS_OF = date(2026, 11, 26)
DEFAULT_DB = "postgresql+psycopg://root@127.0.0.1:5432/loansvc_bench"

REPORT = """
import json, resource, sys, time
from datetime import date
from loansvc.auth.principal import Principal
from loansvc.db.session import Database
from loansvc.reports import service
db = Database(sys.argv[1])
admin = Principal(key_id="bench", name="bench", role="admin", lender_id=None)
start = time.perf_counter()
with db.transaction() as session:
    report = service.portfolio(session, admin, date.fromisoformat(sys.argv[2]), "lender")
elapsed = time.perf_counter() - start
total = next(t for t in report.totals if t["currency"] == "USD")
print(json.dumps({"seconds": elapsed, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "glp": str(total["gross_loan_portfolio"]), "par30": str(total["par30_balance"]),
                  "currency": total["currency"], "loans": total["active_loans"]}))
"""

NAIVE = """
import json, resource, sys, time
from datetime import date
import pandas as pd
from sqlalchemy import create_engine
engine = create_engine(sys.argv[1])
as_of = pd.Timestamp(sys.argv[2])
start = time.perf_counter()
with engine.connect() as conn:
    loans = pd.read_sql("SELECT id AS loan_id, lender_id, currency, disbursed_amount, principal_repaid, schedule_version "
                        "FROM loans WHERE status = 'active'", conn)
    inst = pd.read_sql("SELECT loan_id, version, number, due_date, principal::float8 AS principal, total::float8 AS total, "
                       "fully_paid_on FROM scheduled_installments", conn)
inst = inst.merge(loans[["loan_id", "schedule_version"]], on="loan_id")
inst = inst[inst["version"] == inst["schedule_version"]]
inst["due_date"] = pd.to_datetime(inst["due_date"])
inst["fully_paid_on"] = pd.to_datetime(inst["fully_paid_on"])
late = inst[(inst["due_date"] < as_of) & (inst["fully_paid_on"].isna() | (inst["fully_paid_on"] > as_of))]
oldest = late.groupby("loan_id")["due_date"].min()
loans["dpd"] = (as_of - loans["loan_id"].map(oldest)).dt.days.fillna(0).astype(int)
loans["outstanding"] = loans["disbursed_amount"].astype(object) - loans["principal_repaid"].astype(object)
bins = [-1, 0, 30, 60, 90, 180, 365, 10**9]
loans["bucket"] = pd.cut(loans["dpd"], bins=bins, labels=["current", "1-30", "31-60", "61-90", "91-180", "181-365", "365+"])
out = loans.groupby(["currency", "lender_id"]).apply(lambda g: pd.Series({
    "glp": g["outstanding"].sum(), "par30": g.loc[g["dpd"] > 30, "outstanding"].sum(),
    "par90": g.loc[g["dpd"] > 90, "outstanding"].sum()}), include_groups=False)
aging = loans.groupby(["currency", "bucket"], observed=False)["outstanding"].sum()
usd = loans[loans["currency"] == "USD"]
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "glp": str(usd["outstanding"].sum()), "par30": str(usd.loc[usd["dpd"] > 30, "outstanding"].sum())}))
"""


def _run(code: str, url: str) -> dict:
    python = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable
    result = subprocess.run(
        [python, "-c", code, url, AS_OF.isoformat()], capture_output=True, text=True, timeout=1800, cwd=ROOT
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,300000,1000000")
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--write", action="store_true", help="write the table into docs/benchmarks.md")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    import bench_portfolio_data as data
    from sqlalchemy import text

    from loansvc.db.session import make_engine
    from loansvc.migrate import upgrade

    upgrade(args.db)
    engine = make_engine(args.db)
    with engine.begin() as conn:
        data.reset(conn, AS_OF)
    built, rows = 0, []
    for size in sizes:
        start = time.perf_counter()
        with engine.begin() as conn:
            data.extend(conn, built + 1, size + 1, AS_OF)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
            counts = conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM scheduled_installments), (SELECT count(*) FROM repayments)"
                )
            ).one()
        build = time.perf_counter() - start
        built = size
        report = _run(REPORT, args.db)
        naive = _run(NAIVE, args.db)
        agree = report["glp"].split(".")[0] == naive["glp"].split(".")[0]
        rows.append((size, counts[0], counts[1], build, report, naive, agree))
        print(
            f"{size:>9} loans: report {report['seconds']:.2f} s / {report['peak_mib']:.0f} MiB, "
            f"naive {naive['seconds']:.2f} s / {naive['peak_mib']:.0f} MiB, "
            f"{naive['seconds'] / report['seconds']:.1f}x, GLP agrees: {agree} (built in {build:.0f} s)",
            flush=True,
        )
    table = [
        f"Machine: {_machine()}; PostgreSQL {engine.dialect.server_version_info}; as_of {AS_OF}, group_by=lender.",
        "",
        "| loans | installments | payments | report | report peak RSS | naive (all installments in pandas) "
        "| naive peak RSS | speed-up | same GLP |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for size, installments, payments, _, report, naive, agree in rows:
        table.append(
            f"| {size:,} | {installments:,} | {payments:,} | {report['seconds']:.2f} s | {report['peak_mib']:.0f} MiB "
            f"| {naive['seconds']:.2f} s | {naive['peak_mib']:.0f} MiB | {naive['seconds'] / report['seconds']:.1f}x "
            f"| {'yes' if agree else 'no'} |"
        )
    print("\n".join(table))
    if args.write:
        doc = ROOT / "docs" / "benchmarks.md"
        body = doc.read_text() if doc.exists() else "# Benchmarks\n"
        start_marker, end_marker = "<!-- bench_reports:start -->", "<!-- bench_reports:end -->"
        section = f"{start_marker}\n" + "\n".join(table) + f"\n{end_marker}"
        if start_marker in body:
            head, rest = body.split(start_marker, 1)
            body = head + section + rest.split(end_marker, 1)[1]
        else:
            body = (
                body.rstrip()
                + "\n\n## Portfolio report at scale (`scripts/bench_reports.py`)\n\n"
                + section
                + "\n"
            )
        doc.write_text(body)


if __name__ == "__main__":
    main()
