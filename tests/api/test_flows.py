"""The daily flows (loansvc.snapshots.flows): stored once a day is over, read by the report instead
of the movements, dropped from the day of any backdated movement.

On the report book of tests/api/report_book.py:
- the flows stored for a day are that day's movements (worked examples below);
- the report read from the stored flows (every group, every lender, with a day missing in the
  middle, and after a backdated payment dropped some) equals the exact report, which reads every
  flow from the movements, the portfolio at the period's start included;
- a second fill stores nothing; on PostgreSQL a second fill at once gets no lock.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from loansvc.auth.principal import Principal
from loansvc.db.models import PortfolioFlow, PortfolioFlowDay
from loansvc.lending import positions
from loansvc.reports import service
from loansvc.snapshots import flows
from tests.api.lending import business_day
from tests.api.report_book import build_book

ADMIN = Principal(key_id="tests", name="tests", role="admin", lender_id=None)
CAP = Decimal("18")
GROUPS = ("lender", "site", "product", "currency")
TODAY = date(2026, 7, 5)  # the book's last movement: L14 disbursed that day


@pytest.fixture()
def book(client, session, admin, officer, make_key, monkeypatch) -> dict:
    world = build_book(client, session, admin, officer, make_key("admin"))
    business_day(monkeypatch, TODAY)
    positions.refresh(session, TODAY)
    session.commit()
    return world


def _stored(session: Session, day: date, lender: str, kind: str) -> Decimal:
    query = select(func.coalesce(func.sum(PortfolioFlow.amount), 0)).where(
        PortfolioFlow.day == day, PortfolioFlow.lender_id == lender, PortfolioFlow.kind == kind
    )
    return Decimal(session.scalar(query))


def _same_reports(session: Session, day: date, principal: Principal = ADMIN) -> None:
    for group_by in GROUPS:
        fast = service.portfolio(
            session, principal, day, group_by, Decimal(4100), rate_cap_percent=CAP, today=day
        )
        exact = service.portfolio(session, principal, day, group_by, Decimal(4100), rate_cap_percent=CAP)
        assert fast.totals and fast.groups, group_by
        assert (fast.totals, fast.groups, fast.converted) == (exact.totals, exact.groups, exact.converted)


def test_a_day_stored_is_that_days_movements(session, book):
    outcome = flows.fill(session, TODAY - timedelta(days=1), today=TODAY, days=500)
    assert outcome.status == "filled" and outcome.days == 500 and outcome.rows > 0
    a, b = book["A"]["id"], book["B"]["id"]
    # 2026-06-05: L11 paid its first installment on its due date, KHR 341,700 + 61,500 = 403,200
    june_5 = date(2026, 6, 5)
    assert _stored(session, june_5, a, "collected") == Decimal(403200)
    assert _stored(session, june_5, a, "fallen_due") == Decimal(403200)
    assert _stored(session, june_5, a, "paid_by_due_date") == Decimal(403200)
    assert _stored(session, june_5, a, "principal_repaid") == Decimal(341700)
    # 2026-06-10: L2's 120 was reversed (the cheque bounced): nothing collected; its installment
    # of 100 + 20 fell due that day, and nothing was paid on it by then
    june_10 = date(2026, 6, 10)
    assert _stored(session, june_10, a, "collected") == 0
    assert _stored(session, june_10, a, "fallen_due") == Decimal(120)
    assert _stored(session, june_10, a, "paid_by_due_date") == 0
    # 2026-06-15: L3 paid 12 (2 interest + 10 principal); nothing of lender B moved
    june_15 = date(2026, 6, 15)
    assert (_stored(session, june_15, a, "collected"), _stored(session, june_15, a, "principal_repaid")) == (
        Decimal(12),
        Decimal(10),
    )
    assert _stored(session, june_15, b, "collected") == 0
    # 2026-06-25: L13 disbursed 250.50 of materials (lender B)
    assert _stored(session, date(2026, 6, 25), b, "disbursed_materials") == Decimal("250.50")
    # 2026-07-01: L10 (written off on Jun 15) no longer falls due; L1's 7th installment (112.34)
    # and L10's are the only ones of lender A due that day, so only L1's counts
    assert _stored(session, date(2026, 7, 1), a, "fallen_due") == Decimal("112.34")
    # today is not over: never stored
    assert session.get(PortfolioFlowDay, TODAY) is None
    again = flows.fill(session, TODAY - timedelta(days=1), today=TODAY, days=500)
    assert (again.status, again.days, again.rows) == ("filled", 0, 0)


def test_the_report_from_stored_flows_equals_the_exact_report(session, book, partner_principal_a):
    flows.fill(session, TODAY - timedelta(days=1), today=TODAY, days=500)
    _same_reports(session, TODAY)
    _same_reports(session, TODAY, partner_principal_a)
    # a day missing in the middle of the period: the days after it are read from the movements
    session.execute(delete(PortfolioFlowDay).where(PortfolioFlowDay.day == date(2026, 6, 20)))
    assert flows.covered_until(session, date(2026, 6, 5), TODAY) == date(2026, 6, 19)
    _same_reports(session, TODAY)


def test_a_backdated_payment_drops_the_days_it_changes(client, session, book, admin):
    flows.fill(session, TODAY - timedelta(days=1), today=TODAY, days=500)
    session.commit()
    # L5 (lender A) pays 50 dated Jun 25, reported on Jul 5
    payment = {"amount": "50.00", "paid_on": "2026-06-25", "reference": "late-file-1"}
    response = client.post(f"/v1/loans/{book['L5']}/repayments", headers=admin, json=payment)
    assert response.status_code == 201, response.text
    session.expire_all()
    days = set(session.scalars(select(PortfolioFlowDay.day)))
    assert date(2026, 6, 24) in days and not {d for d in days if d >= date(2026, 6, 25)}
    a, b = book["A"]["id"], book["B"]["id"]
    assert (
        session.scalar(
            select(func.count()).where(PortfolioFlow.lender_id == a, PortfolioFlow.day >= date(2026, 6, 25))
        )
        == 0
    )
    # lender B's rows stay until the next fill replaces those days whole
    assert _stored(session, date(2026, 6, 25), b, "disbursed_materials") == Decimal("250.50")
    _same_reports(session, TODAY)
    refill = flows.fill(session, TODAY - timedelta(days=1), today=TODAY, days=500)
    assert refill.days == 10  # Jun 25 .. Jul 4
    # Jun 25 for lender A now holds the 50 collected
    assert _stored(session, date(2026, 6, 25), a, "collected") == Decimal(50)
    assert _stored(session, date(2026, 6, 25), b, "disbursed_materials") == Decimal("250.50")
    _same_reports(session, TODAY)


@pytest.fixture()
def partner_principal_a(book) -> Principal:
    return Principal(key_id="tests-a", name="tests", role="partner", lender_id=book["A"]["id"])


def test_a_second_fill_at_the_same_time_does_nothing(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's; SQLite serialises writers itself")
    with Session(engine) as first, Session(engine) as second:
        assert flows.fill(first, date(2026, 7, 4), today=TODAY, days=3).status == "filled"
        assert flows.fill(second, date(2026, 7, 4), today=TODAY, days=3).status == "locked"
        first.rollback()
        second.rollback()
