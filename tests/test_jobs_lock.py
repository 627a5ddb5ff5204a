"""The nightly jobs' advisory lock (loansvc.jobs): two runs of a job at once on two machines, one
does the work and the other does nothing and exits 0.

The commands run as cron runs them (the Typer app, on a database of their own, committed for
real), so this file migrates a fresh database beside the test one: a SQLite file, or on PostgreSQL
a database named after the test one with "_jobs" added, dropped afterwards. The first run is held
in the middle of its transaction (its lock taken, its work written, not yet committed) while the
second runs on another connection. SQLite has no advisory locks: its write lock already makes runs
take turns, so there the second run of the same month comes after the first and finds it taken.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from loansvc import cli
from loansvc.config import get_settings
from loansvc.db.models import PortfolioSnapshotMonth, ReminderRun
from loansvc.db.session import Database
from loansvc.jobs import exclusive, held, lock_key
from loansvc.lending import expected
from loansvc.migrate import upgrade
from loansvc.notify import jobs as notify_jobs
from loansvc.snapshots import service as snapshots
from loansvc.web.clock import today

runner = CliRunner()
JANUARY = date(2026, 1, 31)  # a month that has ended whenever this runs (the clock is past 2026-12)


@pytest.fixture()
def job_url(database_url: str, tmp_path) -> Iterator[str]:
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
        return
    name = f"{url.database}_jobs"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        yield url.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        admin.dispose()


@pytest.fixture()
def job_db(job_url: str, monkeypatch) -> Iterator[Database]:
    """The migrated database the commands see through LOANSVC_DATABASE_URL."""
    upgrade(job_url)
    monkeypatch.setenv("LOANSVC_DATABASE_URL", job_url)
    get_settings.cache_clear()
    db = Database(job_url)
    yield db
    db.engine.dispose()
    get_settings.cache_clear()


def postgresql_only(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's (LOANSVC_TEST_DATABASE_URL)")


def invoke(*args: str):
    return runner.invoke(cli.app, list(args))


def count(db: Database, model) -> int:
    with db.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_each_job_has_its_own_stable_lock_key():
    names = ("snapshots-take", "reminders-run", "positions-refresh")
    keys = [lock_key(name) for name in names]
    assert len(set(keys)) == len(names)
    assert keys == [lock_key(name) for name in names]  # the same on every call (and machine)
    assert all(-(2**63) <= k < 2**63 for k in keys)  # a PostgreSQL bigint


def test_two_snapshot_takes_at_once_one_takes_the_month_the_other_exits_0(job_db):
    postgresql_only(job_db)
    with job_db.transaction() as session:  # the first run, stopped before it commits
        first = snapshots.take(session, JANUARY, today=today(), rate_cap_percent=None)
        assert first.status == "taken"
        second = invoke("snapshots", "take", "--month", "2026-01")
        assert second.exit_code == 0, second.output
        assert "holds the lock; nothing done" in second.output
        taken_at = session.scalar(select(PortfolioSnapshotMonth.taken_at))
    with job_db.transaction(write=False) as session:
        assert list(session.scalars(select(PortfolioSnapshotMonth.taken_at))) == [taken_at]
    # the lock went with the first run's transaction: a later run finds the month taken
    later = invoke("snapshots", "take", "--month", "2026-01")
    assert later.exit_code == 0 and "already taken" in later.output, later.output


def test_two_reminder_runs_at_once_one_runs_the_other_exits_0(job_db):
    postgresql_only(job_db)
    with held(job_db, "reminders-run") as mine:  # the first run holds the job's lock
        assert mine
        second = invoke("reminders", "run")
        assert second.exit_code == 0, second.output
        assert "holds the lock; nothing done" in second.output
        assert count(job_db, ReminderRun) == 0
        result, _ = notify_jobs.reminders_run(job_db, get_settings(), None, today())
        assert result.ran
    assert count(job_db, ReminderRun) == 1
    # and once the first has ended, the lock is free again
    with job_db.transaction() as session:
        assert exclusive(session, "reminders-run")


def test_snapshots_take_from_the_command_line_is_idempotent(job_db):
    first = invoke("snapshots", "take", "--month", "2026-01")
    assert first.exit_code == 0 and "snapshot of 2026-01-31 taken: 0 rows" in first.output, first.output
    again = invoke("snapshots", "take", "--month", "2026-01")
    assert again.exit_code == 0 and "already taken; nothing done" in again.output, again.output
    assert count(job_db, PortfolioSnapshotMonth) == 1
    forced = invoke("snapshots", "take", "--month", "2026-01", "--force")
    assert forced.exit_code == 0 and "replaced" in forced.output, forced.output
    assert count(job_db, PortfolioSnapshotMonth) == 1


def test_snapshots_take_refuses_a_month_that_has_not_ended(job_db):
    this_month = today().strftime("%Y-%m")
    for month in (this_month, "2999-01", "2026-13", "January"):
        result = invoke("snapshots", "take", "--month", month)
        assert result.exit_code == 2, (month, result.output)
        assert "error:" in result.output
    assert count(job_db, PortfolioSnapshotMonth) == 0


def test_a_reminders_run_alone_gets_the_lock_and_runs(job_db):
    result = invoke("reminders", "run")
    assert result.exit_code == 0, result.output
    assert "holds the lock" not in result.output
    assert count(job_db, ReminderRun) == 1


def test_a_nightly_expected_run_that_writes_most_loans_rebuilds_the_reports_index(job_db):
    # the rule: a run that wrote at least a quarter of the active loans (every night's run moves
    # every anchor) leaves the report's index bloated; a run that wrote few does not
    assert expected.rebuild_due(3, 12) and expected.rebuild_due(12, 12)
    assert not expected.rebuild_due(2, 12) and not expected.rebuild_due(0, 0)
    # the cron command on a database without loans writes nothing: nothing rebuilt
    done = invoke("positions", "expected", "--as-of", "2026-01-31")
    assert done.exit_code == 0 and "0 loans written" in done.output, done.output
    assert "rebuilt" not in done.output
    if job_db.dialect != "postgresql":
        assert expected.rebuild_report_index(job_db.engine, 1) is False  # PostgreSQL's REINDEX only
        return
    query = text(
        "SELECT c.relname, i.indisvalid, c.oid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE c.relname LIKE :name"
    )
    # the report's index, and the index today's flows look up each installment's loan in (0021)
    names = (expected.REPORT_INDEX, "ix_loans_flow_lookup")
    assert names == expected.REBUILT_INDEXES
    with job_db.engine.connect() as conn:
        before = {name: conn.execute(query, {"name": name + "%"}).all() for name in names}
    # one written of none active: due, rebuilt outside any transaction
    assert expected.rebuild_report_index(job_db.engine, 1) is True
    with job_db.engine.connect() as conn:
        after = {name: conn.execute(query, {"name": name + "%"}).all() for name in names}
    for name in names:
        # still one index of that name, valid, and a new one (REINDEX CONCURRENTLY builds a copy, swaps)
        assert [(found, valid) for found, valid, _ in after[name]] == [(name, True)]
        assert len(before[name]) == 1 and after[name][0][2] != before[name][0][2]
