"""Month-end snapshots (issue 13): the PAR trend and a past month-end report read them, and what they
read equals the exact month-by-month computation on the book of tests/api/report_book.py.

The exact computation is the report's own position query at each month end
(reports.queries.position_rows); the snapshot path must give the same numbers, month by month, for
every lender scope and currency, and the same portfolio report for every grouping. Two loans are
touched so that every stored column carries something: L1's APR is set to 20 % (above the 18 % cap,
so it counts among the loans above the cap), and L5 is marked restructured on 2026-03-01 (so its
whole balance is PAR and restructured from March).
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text, update

from loansvc.auth.principal import Principal
from loansvc.config import Settings
from loansvc.db.models import Loan, PortfolioSnapshot, PortfolioSnapshotMonth
from loansvc.domain.errors import InvalidInput
from loansvc.jobs import lock_key
from loansvc.main import create_app
from loansvc.reports import frames, queries, service
from loansvc.reports.queries import Scope
from loansvc.reports.schemas import PortfolioOut
from loansvc.snapshots import service as snapshots
from tests.api.report_book import build_book, pay
from tests.api.test_statement_counts import counting

AS_OF = date(2026, 6, 30)
TODAY = date(2026, 7, 15)  # June has ended; July has not
CAP = Decimal("18")
FINANCE = Principal(key_id="k", name="finance", role="finance_lead", lender_id=None)


@pytest.fixture()
def app(db, database_url):
    # every request reads its key (no cache), so two requests' statement counts compare
    return create_app(Settings(database_url=database_url, auth_cache_seconds=0), database=db)


@pytest.fixture()
def book(client, session, admin, officer, make_key) -> dict:
    world = build_book(client, session, admin, officer, make_key("admin"))
    session.execute(update(Loan).where(Loan.id == world["L1"]).values(apr_percent=Decimal("20")))
    session.execute(
        update(Loan)
        .where(Loan.id == world["L5"])
        .values(restructured_on=date(2026, 3, 1), restructured_from_number=1)
    )
    session.commit()
    return world


def partner(lender_id: str) -> Principal:
    return Principal(key_id="k", name="partner", role="partner", lender_id=lender_id)


def exact_points(session, principal: Principal, months: int, currency: str) -> list[dict]:
    """The chart's points computed the old way: the exact position query at every month end."""
    lender = principal.lender_scope
    out = []
    for day in service.month_ends(AS_OF, months):
        rows = queries.position_rows(session, Scope(day, lender_id=lender), borrowers=False)
        out.append({"date": day, "label": day.strftime("%b %Y"), **frames.trend_point(rows, currency)})
    return out


def months_taken(session) -> list[date]:
    return list(session.scalars(select(PortfolioSnapshotMonth.month_end).order_by("month_end")))


def test_the_snapshot_par_trend_equals_the_exact_month_by_month_computation(session, book):
    for principal, currency in (
        (FINANCE, "USD"),
        (FINANCE, "KHR"),
        (partner(book["A"]["id"]), "USD"),
        (partner(book["B"]["id"]), "USD"),
    ):
        for months in (36, 12):
            chart_currency, points = service.par_trend_points(
                session, principal, AS_OF, months, currency, rate_cap_percent=CAP
            )
            assert chart_currency == currency
            assert points == exact_points(session, principal, months, currency), (principal.name, currency)
    # the 35 month ends before June 2026 (July 2023 .. May 2026) are stored, June (as_of) is not
    taken = months_taken(session)
    assert len(taken) == 35 and taken[0] == date(2023, 7, 31) and taken[-1] == date(2026, 5, 31)


def test_one_month_of_the_trend_worked_by_hand(session, book):
    # As of 2025-12-31 the active USD loans are L2 2,400 (first due Jan 10), L6 1,800 (first due
    # Jan 22), L9 100 (300 - Nov 1 and Dec 1 paid; closed Jan 1), L7 2,000 - 83.33 = 1,916.67 (late
    # since May 26 2025: 219 days) and L10 600 - 2 x 50 = 500 (late since Sep 1 2025: 121 days).
    # GLP 2,400 + 1,800 + 100 + 1,916.67 + 500 = 6,716.67; PAR30 = PAR90 = 1,916.67 + 500 = 2,416.67
    # -> 2,416.67 / 6,716.67 = 35.980 % -> 35.98 %
    _, points = service.par_trend_points(session, FINANCE, AS_OF, 12, "USD", rate_cap_percent=CAP)
    december = next(p for p in points if p["date"] == date(2025, 12, 31))
    assert december == {
        "date": date(2025, 12, 31),
        "label": "Dec 2025",
        "glp": Decimal("6716.67"),
        "par30_percent": Decimal("35.98"),
        "par90_percent": Decimal("35.98"),
    }
    stored = session.scalar(
        select(func.sum(PortfolioSnapshot.loans)).where(PortfolioSnapshot.month_end == date(2025, 12, 31))
    )
    assert stored == 5


def test_the_trend_costs_the_same_statements_for_12_and_36_months(client, connection, book, finance):
    url = "/v1/reports/charts/par-trend.png"

    def chart(months: int) -> list[str]:
        with counting(connection) as statements:
            response = client.get(url, headers=finance, params={"as_of": "2026-06-30", "months": months})
        assert response.status_code == 200, response.text
        return statements

    def report_work(statements: list[str]) -> list[str]:
        # leave out the key's lookup and the test's savepoints around each session
        wrappers = ("SAVEPOINT", "RELEASE", "ROLLBACK")
        return [s for s in statements if not s.startswith(wrappers) and "FROM api_keys" not in s]

    first = chart(36)  # takes the 35 month ends first, one INSERT ... SELECT each
    twelve, thirty_six = chart(12), chart(36)
    assert len(twelve) == len(thirty_six), (twelve, thirty_six)
    # the snapshots of every month end shown (one statement) and the current position (one)
    work = report_work(thirty_six)
    assert len(work) == 2, work
    assert sum("portfolio_snapshot_months" in s for s in work) == 1
    assert sum(s.startswith("INSERT INTO portfolio_snapshots") for s in report_work(first)) == 35


def test_a_past_month_end_report_from_the_snapshot_equals_the_exact_report(session, book):
    as_of = date(2026, 5, 31)
    for principal in (FINANCE, partner(book["A"]["id"])):
        for group_by in ("lender", "site", "product", "currency"):
            args = (session, principal, as_of, group_by, Decimal("4100"))
            exact = service.portfolio(*args, rate_cap_percent=CAP)
            snapshot = service.portfolio(*args, rate_cap_percent=CAP, today=TODAY)
            assert frames.as_json(snapshot) == frames.as_json(exact), (principal.name, group_by)
    assert months_taken(session) == [as_of]
    # L1 (20 % APR) counts above the cap; L5 is restructured and, as of May 31, owes
    # 1,000 - 3 x 100 = 700 (its Jun 20 payment comes after)
    total = next(t for t in frames.as_json(snapshot)["totals"] if t["currency"] == "USD")
    assert (total["loans_apr_above_cap"], total["restructured_loans"]) == (1, 1)
    assert total["restructured_balance"] == Decimal("700.00")


def test_the_report_over_http_reads_the_month_end_snapshot(client, session, book, admin):
    # the app's clock is the wall clock, after 2026-05-31: the report takes the month end and reads it
    response = client.get("/v1/reports/portfolio", headers=admin, params={"as_of": "2026-05-31"})
    assert response.status_code == 200, response.text
    assert months_taken(session) == [date(2026, 5, 31)]
    exact = service.portfolio(session, FINANCE, date(2026, 5, 31), "lender", rate_cap_percent=CAP)
    expected = PortfolioOut.model_validate(frames.as_json(exact)).model_dump_json(
        by_alias=True, exclude_unset=True
    )
    assert response.json() == json.loads(expected)


def test_a_backdated_payment_drops_the_snapshots_it_makes_stale(client, session, book, admin):
    may = date(2026, 5, 31)
    assert snapshots.take(session, may, today=TODAY, rate_cap_percent=CAP).status == "taken"
    session.commit()
    assert months_taken(session) == [may]
    # L6 (lender B, 1,700 late since Mar 22) pays 100 on May 20, dated before the month end: the
    # snapshot had L6 at 1,700 (1,800 - 2 x 50) on May 31; the ledger drops lender B's rows from
    # May 20 and the month's "taken" mark in the payment's own transaction
    pay(client, admin, book["L6"], "100.00", date(2026, 5, 20))
    session.expire_all()
    assert months_taken(session) == []
    assert session.scalar(select(func.count()).select_from(PortfolioSnapshot).where(
        PortfolioSnapshot.lender_id == book["B"]["id"])) == 0  # fmt: skip
    args = (session, FINANCE, may, "lender", None)
    exact = frames.as_json(service.portfolio(*args, rate_cap_percent=CAP))
    fresh = frames.as_json(service.portfolio(*args, rate_cap_percent=CAP, today=TODAY))
    assert fresh == exact  # the next report took the month again, with the payment
    assert months_taken(session) == [may]


def test_invalidate_drops_a_lenders_snapshots_from_a_day(session, book):
    may = date(2026, 5, 31)
    assert snapshots.take(session, may, today=TODAY, rate_cap_percent=CAP).status == "taken"
    snapshots.invalidate(session, book["B"]["id"], date(2026, 6, 1))  # after May 31: nothing goes
    assert months_taken(session) == [may]
    snapshots.invalidate(session, book["B"]["id"], date(2026, 5, 20))
    assert months_taken(session) == []


def test_taking_a_month_twice_does_nothing_and_force_replaces_it(session, book):
    may = date(2026, 5, 31)
    first = snapshots.take(session, may, today=TODAY, rate_cap_percent=CAP)
    rows = session.scalar(select(func.count()).select_from(PortfolioSnapshot))
    assert first.status == "taken" and first.rows == rows > 0
    again = snapshots.take(session, may, today=TODAY, rate_cap_percent=CAP)
    assert (again.status, again.rows) == ("already_taken", 0)
    assert session.scalar(select(func.count()).select_from(PortfolioSnapshot)) == rows
    forced = snapshots.take(session, may, today=TODAY, rate_cap_percent=CAP, force=True)
    assert (forced.status, forced.rows) == ("replaced", rows)
    assert session.scalar(select(func.count()).select_from(PortfolioSnapshot)) == rows


@pytest.mark.parametrize(
    ("month_end", "code"),
    [(date(2026, 7, 31), "MONTH_NOT_ENDED"), (date(2026, 8, 31), "MONTH_NOT_ENDED"),
     (date(2026, 6, 15), "NOT_A_MONTH_END")],
)  # fmt: skip
def test_a_month_that_has_not_ended_is_refused(session, month_end, code):
    with pytest.raises(InvalidInput) as refused:
        snapshots.take(session, month_end, today=TODAY, rate_cap_percent=CAP)
    assert refused.value.code == code
    assert months_taken(session) == []


def test_a_read_only_session_computes_the_trend_without_storing(session, book):
    session.info["read_only"] = True
    try:
        _, points = service.par_trend_points(session, FINANCE, AS_OF, 12, "USD", rate_cap_percent=CAP)
    finally:
        session.info.pop("read_only")
    assert points == exact_points(session, FINANCE, 12, "USD")
    assert months_taken(session) == []


def test_a_month_end_another_take_is_storing_is_computed_not_stored(engine, session, book):
    if engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's (LOANSVC_TEST_DATABASE_URL)")
    december = date(2025, 12, 31)
    with engine.connect() as other:  # another request (or the nightly take) busy with December
        assert other.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": lock_key(snapshots.lock_name(december))}
        ).scalar()
        _, points = service.par_trend_points(session, FINANCE, AS_OF, 12, "USD", rate_cap_percent=CAP)
        assert points == exact_points(session, FINANCE, 12, "USD")
        taken = months_taken(session)
        assert december not in taken and len(taken) == 10  # Jul 2025 .. May 2026 but December
        other.rollback()
