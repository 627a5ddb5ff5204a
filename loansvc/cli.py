"""The `loansvc` command: serve, migrate, manage API keys, seed the demo, write the OpenAPI file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from loansvc.config import get_settings

# a crash shows no local variables: they hold keys, database URLs and households' data
app = typer.Typer(
    help="loansvc: housing loans for upgraded settlements.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (the clear key is shown once).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
holidays_app = typer.Typer(help="The holiday calendar due dates follow.", no_args_is_help=True)
app.add_typer(holidays_app, name="holidays")
reminders_app = typer.Typer(help="Reminders and arrears notices to households.", no_args_is_help=True)
app.add_typer(reminders_app, name="reminders")
webhooks_app = typer.Typer(help="Events to partners' webhooks.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")
positions_app = typer.Typer(help="Per-loan positions the ledger keeps (for reports).", no_args_is_help=True)
app.add_typer(positions_app, name="positions")
snapshots_app = typer.Typer(
    help="Month-end snapshots of the portfolio (the trends read them).", no_args_is_help=True
)
app.add_typer(snapshots_app, name="snapshots")

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"


def _database():
    from loansvc.db.session import Database

    return Database.configured(get_settings())


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[
        int,
        typer.Option(min=1, max=64, help="processes sharing the port (stateless: see docs/scaling.md)"),
    ] = 1,
    reload: bool = False,
) -> None:
    """Serve the API with uvicorn: `--workers N` processes on one port, each with its own pool
    (LOANSVC_DB_POOL_SIZE + LOANSVC_DB_MAX_OVERFLOW connections, and as many again to a read
    replica); any number of such servers may run behind a load balancer."""
    import uvicorn

    if reload and workers > 1:
        raise typer.BadParameter("--reload runs one process: drop --workers", param_hint="--reload")

    uvicorn.run(
        "loansvc.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        log_level="info",
        access_log=False,
    )


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the configured database (LOANSVC_DATABASE_URL) to the given revision."""
    from loansvc.migrate import upgrade

    upgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str = "base") -> None:
    """Step the configured database back to the given revision."""
    from loansvc.migrate import downgrade

    downgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin | loan_officer | finance_lead | partner")],
    name: Annotated[str, typer.Option(help="a unique name for the key")],
    lender: Annotated[str | None, typer.Option(help="the lender a partner key acts for")] = None,
) -> None:
    """Create a key; the key itself is printed alone on the last line."""
    from loansvc.auth.service import create_key
    from loansvc.domain.errors import DomainError

    db = _database()
    try:
        with db.transaction() as session:
            issued = create_key(session, name=name, role=role, lender_id=lender, created_by="cli")
            typer.echo(f"created {issued.record.role} key {issued.record.name!r} (shown once, store it now):")
            typer.echo(issued.key)
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc


@keys_app.command("list")
def keys_list() -> None:
    """List keys (names, roles, lenders; never the keys)."""
    from loansvc.auth.service import list_keys

    with _database().transaction() as session:
        for key in list_keys(session):
            state = "revoked" if key.revoked_at else "active"
            typer.echo(f"{key.name}\t{key.role}\t{key.lender_id or '-'}\t{key.prefix}...\t{state}")


@keys_app.command("revoke")
def keys_revoke(name: str) -> None:
    """Revoke a key by name."""
    from loansvc.auth.service import revoke_key
    from loansvc.domain.errors import DomainError

    try:
        with _database().transaction() as session:
            revoke_key(session, name)
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"revoked {name}")


@app.command()
def demo(serve_after: Annotated[bool, typer.Option("--serve/--no-serve")] = False, port: int = 8000) -> None:
    """Migrate, seed the Stung Mean Chey demo programme (idempotent) and print one key per role."""
    from loansvc.demo import seed
    from loansvc.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    keys = seed(_database(), khr_per_usd=settings.khr_per_usd)
    typer.echo("Demo programme ready: Stung Mean Chey, 570 households, 3 partner MFIs, the materials bank.")
    typer.echo("API keys (Authorization: Bearer <key>):")
    for role, key in keys.items():
        typer.echo(f"  {role:<13} {key}")
    typer.echo(f"Interactive docs: http://127.0.0.1:{port}/docs")
    if serve_after:
        serve(host="127.0.0.1", port=port, workers=1, reload=False)


@app.command("import-repayments")
def import_repayments(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    lender: Annotated[str, typer.Option(help="the lender whose loans the file is for")],
    valid_rows: Annotated[
        bool, typer.Option("--valid-rows", help="record the good rows even if some fail")
    ] = False,
) -> None:
    """Import a partner's repayment file (CSV: loan_id,paid_on,amount,reference), with a progress bar."""
    import json

    from rich.progress import Progress

    from loansvc.auth.principal import Principal
    from loansvc.db.models import Lender
    from loansvc.domain.errors import DomainError
    from loansvc.repayments import importer
    from loansvc.web.clock import today

    settings = get_settings()
    db = _database()
    try:
        with db.transaction() as session:
            record = session.get(Lender, lender)
            if record is None:
                typer.echo(f"error: no lender {lender}", err=True)
                raise typer.Exit(2)
            role = "loan_officer" if record.kind == "materials_bank" else "partner"
            principal = Principal(
                key_id="cli",
                name="cli-import",
                role=role,
                lender_id=None if role == "loan_officer" else lender,
            )
            rows, rejected = importer.parse(file.read_bytes(), settings.max_import_rows)
            with Progress(transient=True) as progress:
                task = progress.add_task("importing repayments", total=len(rows))
                outcome = importer.import_rows(
                    session,
                    principal,
                    rows,
                    rejected,
                    today(),
                    valid_rows=valid_rows,
                    progress=lambda n: progress.advance(task, n),
                )
            if outcome.rejected and not valid_rows:
                session.rollback()
                typer.echo(json.dumps({**outcome.as_dict(), "recorded": 0}, indent=2))
                raise typer.Exit(1)
            typer.echo(json.dumps(outcome.as_dict(), indent=2))
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc


@holidays_app.command("seed")
def holidays_seed(
    years: Annotated[str, typer.Option(help="a year or a range, e.g. 2026-2030")] = "2026-2030",
) -> None:
    """Cambodia's public holidays (the `holidays` package knows the lunar ones), programme-wide;
    dates already entered are kept. Active loans' future due dates on them move."""
    from loansvc.auth.principal import Principal
    from loansvc.holidays import service
    from loansvc.web.clock import today

    first, _, last = years.partition("-")
    try:
        first_year, last_year = int(first), int(last or first)
    except ValueError:
        typer.echo("error: --years is a year or a range such as 2026-2030", err=True)
        raise typer.Exit(2) from None
    if not 1990 <= first_year <= last_year <= 2100:
        typer.echo("error: --years must run forwards, within 1990-2100", err=True)
        raise typer.Exit(2)
    principal = Principal(key_id="cli", name="cli-holidays", role="admin", lender_id=None)
    with _database().transaction() as session:
        added, moved = service.seed(session, principal, first_year, last_year, today())
    typer.echo(f"{added} holidays added for {first_year}-{last_year}; {moved} active loans' due dates moved")


@reminders_app.command("run")
def reminders_run(
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD; default today")] = None,
) -> None:
    """Write the reminders and arrears notices due up to --as-of (catching up days no run handled),
    each once, and send them through the gateway (for cron; two runs at once do no harm)."""
    from datetime import date

    from loansvc.jobs import held
    from loansvc.notify import jobs
    from loansvc.web.clock import today

    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        typer.echo("error: --as-of is a date, YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None
    if day is not None and day > today():
        typer.echo("error: --as-of cannot be in the future", err=True)
        raise typer.Exit(2)
    db = _database()
    # the run and its sending under one lock: a second machine's run at the same time does nothing
    with held(db, "reminders-run") as mine:
        if not mine:
            typer.echo("another reminders run holds the lock; nothing done")
            return
        result, sent = jobs.reminders_run(db, get_settings(), day, today())
    if not result.ran:
        typer.echo(result.note)
        return
    typer.echo(
        f"reminders as of {result.as_of} (trigger days from {result.window_from}): {result.created} written, "
        f"{result.sent + sent.get('sent', 0)} sent, {sent.get('failed', 0)} failed, "
        f"{result.skipped_opted_out} skipped (opted out), {result.arrears_events} arrears events"
    )


@webhooks_app.command("deliver")
def webhooks_deliver() -> None:
    """Send the events due to partners' webhooks once (the service's own worker does it too)."""
    from loansvc.notify import jobs

    counts = jobs.webhooks_deliver(_database(), get_settings())
    typer.echo(
        f"{counts['dispatched']} deliveries queued, {counts['delivered']} delivered, "
        f"{counts['retrying']} to retry, {counts['failed']} failed"
    )


@snapshots_app.command("take")
def snapshots_take(
    month: Annotated[str, typer.Option("--month", help="YYYY-MM, a month that has ended")],
    force: Annotated[bool, typer.Option("--force", help="replace the month's snapshot if taken")] = False,
) -> None:
    """Store the portfolio's positions at the month's end (idempotent; for cron after each month
    end; two runs at once do no harm: the second does nothing)."""
    from loansvc.domain.errors import DomainError
    from loansvc.snapshots import service
    from loansvc.web.clock import today

    settings = get_settings()
    try:
        with _database().transaction() as session:
            outcome = service.take(
                session,
                service.month_end_of(month),
                today=today(),
                rate_cap_percent=settings.rate_cap_percent,
                force=force,
            )
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    end = outcome.month_end.isoformat()
    typer.echo(
        {
            "taken": f"snapshot of {end} taken: {outcome.rows} rows",
            "replaced": f"snapshot of {end} replaced: {outcome.rows} rows",
            "already_taken": f"snapshot of {end} already taken; nothing done (--force replaces it)",
            "locked": "another snapshots take holds the lock; nothing done",
        }[outcome.status]
    )


@snapshots_app.command("flows")
def snapshots_flows(
    until: Annotated[
        str | None, typer.Option("--until", help="YYYY-MM-DD, a day over; default yesterday")
    ] = None,
    days: Annotated[int, typer.Option("--days", min=1, max=3660, help="days looked back from --until")] = 62,
) -> None:
    """Store the daily flows (payments, disbursements, installments fallen due...) of the days up
    to --until not stored yet, which the reports read instead of the movements (nightly, after
    `positions refresh`; idempotent; a second run at the same time does nothing)."""
    from datetime import date, timedelta

    from loansvc.snapshots import flows
    from loansvc.web.clock import today

    current = today()
    try:
        last = date.fromisoformat(until) if until else current - timedelta(days=1)
    except ValueError as exc:
        typer.echo("error: --until is written YYYY-MM-DD", err=True)
        raise typer.Exit(2) from exc
    with _database().transaction() as session:
        outcome = flows.fill(session, last, today=current, days=days)
    if outcome.status == "locked":
        typer.echo("another snapshots flows holds the lock; nothing done")
    else:
        typer.echo(f"flows stored for {outcome.days} days: {outcome.rows} rows")


@positions_app.command("refresh")
def positions_refresh(
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD; default today")] = None,
) -> None:
    """Recompute every active loan's stored position as of --as-of (what time moves: days past
    due, bucket, class, overdue, next due), for cron, nightly; idempotent, and a second run at the
    same time does nothing."""
    from datetime import date

    from loansvc.lending import positions
    from loansvc.web.clock import today

    try:
        day = date.fromisoformat(as_of) if as_of else today()
    except ValueError:
        typer.echo("error: --as-of is a date, YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None
    with _database().transaction() as session:
        written = positions.refresh(session, day)
    if written is None:
        typer.echo("another positions refresh holds the lock; nothing done")
        return
    typer.echo(f"positions as of {day}: {written} loans updated")


@positions_app.command("verify")
def positions_verify() -> None:
    """Recompute every loan's position from its history and print each difference (exit 1 if any);
    each payment's and allocation's copy of its loan's report keys is checked too."""
    from loansvc.lending import expected, positions

    with _database().transaction() as session:
        differences = positions.verify(session) + expected.verify_expected(session)
    for line in differences:
        typer.echo(line)
    if differences:
        typer.echo(f"{len(differences)} differences", err=True)
        raise typer.Exit(1)
    typer.echo("every stored position matches its history")


@positions_app.command("expected")
def positions_expected(
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD; default today")] = None,
) -> None:
    """Anchor every active loan's expected dues (the report's expected collections, six months) at
    --as-of, for cron, nightly after `positions refresh`; idempotent, and a second run at the same
    time does nothing. On PostgreSQL, after a run that wrote most loans, the report's index is
    rebuilt concurrently (lending.expected.rebuild_report_index)."""
    from datetime import date

    from loansvc.jobs import exclusive
    from loansvc.lending import expected
    from loansvc.web.clock import today

    try:
        day = date.fromisoformat(as_of) if as_of else today()
    except ValueError as exc:
        typer.echo("error: --as-of is written YYYY-MM-DD", err=True)
        raise typer.Exit(2) from exc
    database = _database()
    with database.transaction() as session:
        if not exclusive(session, expected.LOCK):
            typer.echo("another positions expected holds the lock; nothing done")
            return
        written = expected.refresh_expected(session, day)
    typer.echo(f"expected dues as of {day.isoformat()}: {written} loans written")
    from sqlalchemy.exc import SQLAlchemyError

    names = ", ".join(expected.REBUILT_INDEXES)
    try:
        rebuilt = expected.rebuild_report_index(database.engine, written)
    except SQLAlchemyError as exc:  # the dues are committed: the old index still serves the report
        typer.echo(f"warning: {names} not rebuilt: {exc.__class__.__name__}", err=True)
        return
    if rebuilt:
        typer.echo(f"{names} rebuilt (REINDEX CONCURRENTLY): most loans were written")


@app.command("purge-idempotency")
def purge_idempotency(
    days: Annotated[int | None, typer.Option(min=30, help="default: LOANSVC_IDEMPOTENCY_DAYS")] = None,
) -> None:
    """Forget Idempotency-Keys older than DAYS (never fewer than 30)."""
    from loansvc.web.idempotency import purge_expired

    days = days or get_settings().idempotency_days
    with _database().transaction() as session:
        removed = purge_expired(session, days)
    typer.echo(f"forgot {removed} idempotency keys older than {days} days")


def render_openapi() -> str:
    import yaml

    from loansvc.config import Settings
    from loansvc.main import create_app

    spec = create_app(Settings(database_url="sqlite://")).openapi()
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


@app.command()
def openapi(
    check: Annotated[bool, typer.Option("--check", help="exit 1 when openapi.yaml is stale")] = False,
    path: Path = OPENAPI_PATH,
) -> None:
    """Write openapi.yaml from the app, or check that it is up to date."""
    text = render_openapi()
    if check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            typer.echo(f"{path} is stale: run `loansvc openapi`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{path} is up to date")
        return
    path.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {path}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
