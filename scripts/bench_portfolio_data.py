"""Build a synthetic portfolio in PostgreSQL for the report benchmark, with set-based SQL.

Loans are numbered; loan n gets deterministic attributes from n (lender, currency, amount, start
date, behaviour), 24 monthly installments, one disbursement, and a payment (with its allocation)
for each installment it paid by `as_of`. Behaviours: 80 % pay on the due date, 10 % pay 10 days late,
6 % stop after a few installments, 4 % never pay. `extend(conn, start, stop)` adds loans
start..stop-1, so the same database grows 100k -> 300k -> 1M; `built(conn)` says how far a
database already is, so a run can resume on one it was given (`--db`).

Each chunk's rows are written in the order a live system writes them: the loans, their disbursements
and their schedules in the order they were disbursed (a loan's 24 installments together), the
payments and their allocations in the order they were paid. Written loan by loan instead, a day's
payments lie on as many pages as there are payments (measured at 1M loans: docs/benchmarks.md).

Nothing is ever deleted or truncated here: `seed` adds the lenders, products and sites only when
they are missing. The per-loan positions the ledger keeps are filled afterwards by the ledger's
own refresh (`fill_positions`: `loansvc positions refresh`), never by this file's SQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from sqlalchemy import Connection, text

LENDERS = 10
SITES = 20
ROOT = Path(__file__).resolve().parent.parent


def seed(conn: Connection) -> None:
    """The lenders, products (USD and KHR per lender) and sites, when missing."""
    conn.execute(
        text("""
        INSERT INTO lenders (id, name, kind, default_currency, created_at)
        SELECT 'lender-' || g, 'Bench MFI ' || g, 'mfi', 'USD', now() FROM generate_series(1, CAST(:n AS integer)) g
        ON CONFLICT DO NOTHING"""),
        {"n": LENDERS},
    )
    conn.execute(
        text("""
        INSERT INTO products (id, lender_id, name, currency, annual_rate_percent, interest_method, amortization,
            frequency, interest_calculation, day_count, min_amount, max_amount, min_term, max_term, fees,
            max_grace_principal_periods, milestones, allocation_order, prepayment, allow_credit_balance,
            late_fee_after_days, created_at)
        SELECT 'product-' || g || '-' || c, 'lender-' || g, 'Home loan ' || c, c, 18, 'declining_balance',
            'equal_principal', 'monthly', 'per_period', 'actual/365', 1, 100000000, 1, 60, '[]', 3,
            '["foundation"]', '["penalty", "fees", "interest", "principal"]', 'reduce_term', false, 0, now()
        FROM generate_series(1, CAST(:n AS integer)) g CROSS JOIN (VALUES ('USD'), ('KHR')) AS cur(c)
        ON CONFLICT DO NOTHING"""),
        {"n": LENDERS},
    )
    conn.execute(
        text("""
        INSERT INTO sites (id, name, district, city, created_at)
        SELECT 'site-' || g, 'Bench site ' || g, 'District', 'Phnom Penh', now() FROM generate_series(1, CAST(:n AS integer)) g
        ON CONFLICT DO NOTHING"""),
        {"n": SITES},
    )


def built(conn: Connection) -> int:
    """How many bench loans the database holds (loans 1..n); refuses a database with other loans."""
    total, bench, top = conn.execute(
        text("""SELECT count(*), count(*) FILTER (WHERE id LIKE 'loan-%'),
                       max(CAST(substr(id, 6) AS bigint)) FILTER (WHERE id ~ '^loan-[0-9]+$') FROM loans""")
    ).one()
    if total != bench or (top or 0) != bench:
        raise SystemExit(
            f"the database holds {total} loans, not loans 1..n of this benchmark: use another one"
        )
    return bench


def fill_positions(url: str, as_of: date, env: dict | None = None) -> float | None:
    """The ledger's own refresh of every loan's position as of `as_of` (a fresh `loansvc` process);
    its wall time in seconds, or None when this tree has no `loansvc positions refresh` yet. The
    report benchmark calls it as of the day before its as_of (the backfill), then as of its as_of
    (the month end's nightly run, on positions of the day before), then as of its as_of again."""
    python = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable
    command = [python, "-c", "from loansvc.cli import app; app()", "positions", "refresh"]
    env = {**os.environ, **(env or {}), "LOANSVC_DATABASE_URL": url}
    probe = subprocess.run([*command, "--help"], capture_output=True, text=True, env=env, cwd=ROOT)
    if probe.returncode != 0:
        return None
    with_date = ["--as-of", as_of.isoformat()] if "--as-of" in probe.stdout else []
    start = time.perf_counter()
    result = subprocess.run([*command, *with_date], capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"positions refresh failed: {result.stderr[-2000:]}")
    return seconds


def extend(conn: Connection, start: int, stop: int, as_of: date) -> None:
    """Add loans start..stop-1 (one household each) with their schedules and payments."""
    params = {"a": start, "b": stop - 1, "as_of": as_of, "lenders": LENDERS, "sites": SITES}
    conn.execute(
        text("""
        INSERT INTO households (id, site_id, parcel_code, head_name, household_size, idpoor_level,
            vulnerabilities, temporary_shelter, created_at, updated_at)
        SELECT 'hh-' || n, 'site-' || (n % :sites + 1), 'P-' || n, 'Bench family ' || n, 4, 0, '[]', false,
            now(), now()
        FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) n"""),
        params,
    )
    # amount: USD 500..4999 (every tenth loan in riel x 4100); start: 1..720 days before as_of
    conn.execute(
        text("""
        INSERT INTO loans (id, household_id, site_id, product_id, lender_id, currency, amount, term, purpose, status,
            submitted_on, submitted_by, submitted_by_key_id, decided_on, approved_amount, terms, disbursed_amount,
            first_disbursed_on, last_event_on, schedule_version, principal_repaid, periods_per_year, created_at, updated_at)
        SELECT 'loan-' || n, 'hh-' || n, 'site-' || (n % :sites + 1),
            'product-' || (n % :lenders + 1) || '-' || CASE WHEN n % 10 = 0 THEN 'KHR' ELSE 'USD' END,
            'lender-' || (n % :lenders + 1), cur,
            amt, 24, 'bench', 'active', d - 7, 'bench', 'bench', d - 3, amt,
            json_build_object('currency', cur, 'approved_amount', amt::text, 'term', 24, 'annual_rate_percent', '18',
                'interest_method', 'declining_balance', 'amortization', 'equal_principal', 'frequency', 'monthly',
                'interest_calculation', 'per_period', 'day_count', 'actual/365', 'fees', json_build_array(),
                'milestones', json_build_array('foundation'), 'prepayment', 'reduce_term'),
            amt, d, d, 1, 0, 12, now(), now()
        FROM (
            SELECT n, (CAST(:as_of AS date) - CAST(1 + (n * 7919) % 720 AS integer)) AS d,
                CASE WHEN n % 10 = 0 THEN 'KHR' ELSE 'USD' END AS cur,
                CASE WHEN n % 10 = 0 THEN (500 + (n * 37) % 4500) * 4100 ELSE 500 + (n * 37) % 4500 END AS amt
            FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) n
        ) s
        ORDER BY d, n"""),
        params,
    )
    conn.execute(
        text("""
        INSERT INTO disbursements (id, loan_id, kind, amount, milestone, disbursed_on, created_by, created_at)
        SELECT 'disb-' || n, 'loan-' || n, CASE WHEN n % 3 = 0 THEN 'materials' ELSE 'cash' END, l.amount,
            'foundation', l.first_disbursed_on, 'bench', now()
        FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) n JOIN loans l ON l.id = 'loan-' || n
        ORDER BY l.first_disbursed_on, n"""),
        params,
    )
    # equal principal parts (the last takes the remainder), interest on the declining balance, and what
    # the loan's behaviour paid of each installment by as_of
    conn.execute(
        text("""
        INSERT INTO scheduled_installments (loan_id, version, number, due_date, principal, interest, fees, total,
            balance, paid_principal, paid_interest, paid_fees, paid_penalty, penalty, paid_by_due_date, fully_paid_on)
        SELECT l.id, 1, k, p.due, p.principal, p.interest, 0, p.principal + p.interest, l.amount - p.cum,
            CASE WHEN w.paid THEN p.principal ELSE 0 END, CASE WHEN w.paid THEN p.interest ELSE 0 END, 0, 0, 0,
            CASE WHEN w.paid AND NOT b.late THEN p.principal + p.interest ELSE 0 END,
            CASE WHEN w.paid THEN w.paid_on END
        FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) n
        JOIN loans l ON l.id = 'loan-' || n
        CROSS JOIN LATERAL (SELECT (n * 31) % 100 AS draw, 2 + n % 6 AS stop_after) d
        CROSS JOIN LATERAL (SELECT d.draw >= 80 AND d.draw < 90 AS late, d.draw >= 96 AS never,
                                   d.draw >= 90 AND d.draw < 96 AS stops) b
        CROSS JOIN generate_series(1, 24) k
        CROSS JOIN LATERAL (
            SELECT CASE WHEN k < 24 THEN round(l.amount / 24, 2) ELSE l.amount - 23 * round(l.amount / 24, 2) END
                       AS principal,
                   round((l.amount - (k - 1) * round(l.amount / 24, 2)) * 0.015, 2) AS interest,
                   CASE WHEN k < 24 THEN k * round(l.amount / 24, 2) ELSE l.amount END AS cum,
                   (l.first_disbursed_on + make_interval(months => k))::date AS due
        ) p
        CROSS JOIN LATERAL (
            SELECT CASE WHEN b.late THEN p.due + 10 ELSE p.due END AS paid_on
        ) t
        CROSS JOIN LATERAL (
            SELECT NOT b.never AND (NOT b.stops OR k <= d.stop_after) AND t.paid_on <= :as_of AS paid,
                   t.paid_on
        ) w
        ORDER BY l.first_disbursed_on, n, k"""),
        params,
    )
    paid = """FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) n
        JOIN scheduled_installments si ON si.loan_id = 'loan-' || n AND si.version = 1
        WHERE si.fully_paid_on IS NOT NULL"""
    # the ledger copies the loan's report keys on each payment and allocation (models.repayments.LoanKeys)
    keys = "l.lender_id, l.site_id, l.product_id, l.currency"
    keyed = paid.replace("WHERE", "JOIN loans l ON l.id = si.loan_id\n        WHERE")
    conn.execute(
        text(f"""
        INSERT INTO repayments (id, loan_id, lender_id, site_id, product_id, currency, amount, paid_on,
            reference, channel, created_by, created_at)
        SELECT 'pay-' || si.loan_id || '-' || si.number, si.loan_id, {keys}, si.total, si.fully_paid_on,
            'R' || si.number, 'bench', 'bench', now() {keyed}
        ORDER BY si.fully_paid_on, si.loan_id, si.number"""),
        params,
    )
    conn.execute(
        text(f"""
        INSERT INTO repayment_allocations (repayment_id, loan_id, lender_id, site_id, product_id, currency,
            number, paid_on, principal, interest, fees, penalty)
        SELECT 'pay-' || si.loan_id || '-' || si.number, si.loan_id, {keys}, si.number, si.fully_paid_on,
            si.principal, si.interest, 0, 0 {keyed}
        ORDER BY si.fully_paid_on, si.loan_id, si.number"""),
        params,
    )
    conn.execute(
        text(f"""
        UPDATE loans l SET principal_repaid = s.repaid, last_event_on = greatest(l.last_event_on, s.last_paid)
        FROM (SELECT si.loan_id, sum(si.paid_principal) AS repaid, max(si.fully_paid_on) AS last_paid {paid}
              GROUP BY si.loan_id) s
        WHERE l.id = s.loan_id"""),
        params,
    )
    # the ledger's first open installment (it reads only the open ones when it records a payment)
    conn.execute(
        text("""
        UPDATE loans l SET first_unpaid_number = s.first
        FROM (SELECT si.loan_id, min(si.number) AS first
              FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) n
              JOIN scheduled_installments si ON si.loan_id = 'loan-' || n AND si.version = 1
              WHERE si.fully_paid_on IS NULL GROUP BY si.loan_id) s
        WHERE l.id = s.loan_id"""),
        params,
    )
