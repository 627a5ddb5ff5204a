"""The per-loan positions the ledger keeps on the loans row (loansvc.lending.positions), and the
current report read from them.

- On the report book of tests/api/report_book.py the report read from the positions equals the
  exact whole-schedule query, for every grouping, in total and per group, and so does the list of
  late loans.
- `verify` finds nothing after each kind of movement (payments, a backdated payment, a reversal, a
  prepayment, a restructure, a write-off and a recovery), and finds a column changed by hand.
- `refresh` moves the figures time moves (days past due, bucket, class, overdue, next due) with its
  date, writes nothing the second time, and on PostgreSQL a second run at once gets no lock.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loansvc.auth.principal import Principal
from loansvc.db.models import Loan, Repayment, RepaymentAllocation
from loansvc.lending import positions
from loansvc.reports import frames, queries, service
from loansvc.reports.queries import Scope
from tests.api.lending import apply, approve, business_day, lending_world, release
from tests.api.report_book import book_loan, build_book, monthly, registry
from tests.api.test_statement_counts import counting

ADMIN = Principal(key_id="tests", name="tests", role="admin", lender_id=None)
CAP = Decimal("18")
GROUPS = ("lender", "site", "product", "currency")


def stored(session, loan_id: str) -> Loan:
    session.expire_all()
    return session.get(Loan, loan_id)


@pytest.fixture()
def book(client, session, admin, officer, make_key) -> dict:
    return build_book(client, session, admin, officer, make_key("admin"))


def _sorted(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: tuple(str(v) for v in r.values()))


# The book's latest movement is L14's disbursement on 2026-07-05: from that day on nothing is dated
# after as_of, so the stored positions are the positions at as_of.
@pytest.mark.parametrize("day", [date(2026, 7, 5), date(2026, 8, 15), date(2027, 7, 1)])
def test_the_report_from_positions_equals_the_whole_schedule_query(session, book, day):
    # the ledger kept the position of every loan that moved through the API; L12, L13 and L14 were
    # written with the ORM and never moved (their rows hold no position until a refresh)
    untouched = {book[n] for n in ("L12", "L13", "L14")}
    assert {line.split(":")[0].removeprefix("loan ") for line in positions.verify(session)} <= untouched
    # the refresh reads the stale loans' installments at once (then the day after, the few stale
    # ones one by one, as a nightly run does on PostgreSQL), and agrees with the history each time
    positions.refresh(session, day, lateral=False)
    assert positions.verify(session) == []
    positions.refresh(session, day + timedelta(days=1), lateral=True)
    assert positions.verify(session) == []
    positions.refresh(session, day, lateral=True)  # back to the report's day
    assert positions.verify(session) == []
    for lender in (None, book["A"]["id"]):
        for group_by in (None, *GROUPS):
            scope = Scope(as_of=day, group_by=group_by, lender_id=lender, rate_cap_percent=CAP)
            current = Scope(as_of=day, group_by=group_by, lender_id=lender, rate_cap_percent=CAP, today=day)
            assert current.current and not scope.current
            exact = queries.position_rows(session, scope, all_currencies=("KHR", "USD"))
            assert exact, group_by
            fast = queries.position_rows(session, current, all_currencies=("KHR", "USD"))
            assert _sorted(fast) == _sorted(exact), (lender, group_by)
        # the PAR trend's current point: its sums alone, the same as the whole-schedule positions'
        exact = queries.position_rows(session, Scope(as_of=day, lender_id=lender), borrowers=False)
        point = queries.trend_rows(session, Scope(as_of=day, lender_id=lender, today=day))
        loans = {c: sum(r["loans"] for r in exact if r["currency"] == c) for c in ("KHR", "USD")}
        assert {r["currency"]: r["loans"] for r in point} == {c: n for c, n in loans.items() if n}
        for currency in ("KHR", "USD"):
            assert frames.trend_point(point, currency) == frames.trend_point(exact, currency), lender
        # the book has late loans: over every lender the point's PAR sums are not all 0
        assert lender is not None or any(r["par30"] or r["par90"] for r in point), day
        for min_days in (1, 30, 90):
            scope = Scope(as_of=day, lender_id=lender)
            exact = queries.delinquent_rows(session, scope, min_days, 50, 0)
            fast = queries.delinquent_rows(
                session, Scope(as_of=day, lender_id=lender, today=day), min_days, 50, 0
            )
            assert fast == exact, (lender, min_days)
            page = queries.delinquent_rows(
                session, Scope(as_of=day, lender_id=lender, today=day), min_days, 2, 1
            )
            assert page == (exact[0][1:3], exact[1])
    # the whole report (JSON figures, every group), as of today from the positions, and exactly
    for group_by in GROUPS:
        fast = service.portfolio(
            session, ADMIN, day, group_by, Decimal(4100), rate_cap_percent=CAP, today=day
        )
        exact = service.portfolio(session, ADMIN, day, group_by, Decimal(4100), rate_cap_percent=CAP)
        assert (fast.totals, fast.groups, fast.converted) == (exact.totals, exact.groups, exact.converted)
        assert fast.totals and fast.groups


def test_the_current_report_over_http_reads_the_positions(client, session, book, admin, monkeypatch):
    # as of 2026-07-05 (L14 disbursed that day): USD = the 10 loans of 2026-06-30 less L8's Jul 2
    # principal (100) plus L14's 700: 10,565.17 - 100 + 700 = 11,165.17 (tests/api/test_reports.py
    # shows 11,072.37 with L12's prepayment of 92.80, not made here)
    positions.refresh(session, date(2026, 7, 5))
    business_day(monkeypatch, date(2026, 7, 5))
    body = client.get("/v1/reports/portfolio", headers=admin).json()
    usd = next(t for t in body["totals"] if t["currency"] == "USD")
    assert (usd["active_loans"], usd["gross_loan_portfolio"]) == (11, "11165.17")
    # a stored position changed by hand shows in the current report (it is what the report reads)
    # and never in a past one; verify names it
    session.execute(
        update(Loan)
        .where(Loan.id == book["L1"])
        .values(outstanding_principal=Loan.outstanding_principal + Decimal(1))
    )
    session.commit()
    usd = next(
        t
        for t in client.get("/v1/reports/portfolio", headers=admin).json()["totals"]
        if t["currency"] == "USD"
    )
    assert usd["gross_loan_portfolio"] == "11166.17"
    june = client.get("/v1/reports/portfolio", headers=admin, params={"as_of": "2026-06-30"}).json()
    assert next(t for t in june["totals"] if t["currency"] == "USD")["gross_loan_portfolio"] == "10565.17"
    # L1: 1,200 - 5 x 100 = 700.00 from its history, 701.00 stored
    [line] = positions.verify(session)
    assert line.startswith(f"loan {book['L1']}: outstanding_principal stored 701.00"), line
    assert "from history 700.00" in line, line


def test_the_current_report_costs_the_same_whatever_the_history(
    client, session, connection, admin, officer, monkeypatch
):
    # the current positions are one scan of the loans: neither the payments nor the tranches are
    # read, and the installments only in the restructured loans' watch (a CASE branch that runs
    # for a restructured loan alone)
    sql = str(queries.positions(Scope(as_of=date(2026, 9, 30), today=date(2026, 9, 30))))
    assert "repayment_allocations" not in sql and "disbursements" not in sql
    assert sql.count("FROM scheduled_installments") == 2  # the watch: its last late one, its on-time ones
    assert "scheduled_installments" in str(queries.positions(Scope(as_of=date(2026, 9, 30)), exact=True))

    world = registry(client, admin, officer)
    business_day(monkeypatch, date(2026, 9, 30))

    def report_statements() -> int:
        with counting(connection) as statements:
            response = client.get("/v1/reports/portfolio", headers=admin, params={"group_by": "site"})
        assert response.status_code == 200, response.text
        return len([s for s in statements if "loans" in s])

    # one loan of 12 installments, nothing paid; then 36 installments and 24 payments more
    small = ("A", "H1", "PA", 12, "monthly", "USD", (date(2026, 1, 1), "cash", "1200"))
    book_loan(session, world, "small", *small, monthly(2026, 2, 1, 12, "100", "12.34"))
    positions.refresh(session, date(2026, 9, 30))
    session.commit()
    few = report_statements()
    large = ("A", "H2", "PA", 36, "monthly", "USD", (date(2024, 1, 1), "cash", "3600"))
    big = book_loan(session, world, "big", *large, monthly(2024, 2, 1, 36, "100"))
    for k in range(24):
        on = date(2024 + (k + 1) // 12, (k + 1) % 12 + 1, 1)
        body = {"amount": "100.00", "paid_on": on.isoformat(), "reference": f"BIG-{k}"}
        business_day(monkeypatch, on)
        assert client.post(f"/v1/loans/{big}/repayments", headers=admin, json=body).status_code == 201
    business_day(monkeypatch, date(2026, 9, 30))
    assert report_statements() == few


def _days(client, headers, loan_id: str) -> dict:
    return client.get(f"/v1/loans/{loan_id}/schedule", headers=headers).json()["installments"]


def _pay(client, headers, loan_id: str, amount, on: date, monkeypatch, ref: str) -> str:
    business_day(monkeypatch, on)
    body = {"amount": str(amount), "paid_on": on.isoformat(), "reference": ref}
    response = client.post(f"/v1/loans/{loan_id}/repayments", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_verify_finds_nothing_after_every_kind_of_movement(client, session, monkeypatch, make_key):
    world = lending_world(client, session)
    p1, p2 = world["partner_1"], world["partner_2"]
    business_day(monkeypatch, date(2026, 1, 5))
    loan = apply(
        client, world["officer_1"], world["household"]["id"], world["cash_product"]["id"], "3000", 36
    )
    approve(client, p1, loan["id"])
    release(client, p2, loan["id"], "3000", "foundation", date(2026, 1, 5))
    loan_id = loan["id"]
    assert positions.verify(session) == []
    rows = _days(client, p1, loan_id)
    due = [date.fromisoformat(r["due_date"]) for r in rows]
    installment = rows[0]["total"]
    # installments 1 and 2 on their due dates, 4 days late for 3; then one backdated to 3's due date
    first = _pay(client, p1, loan_id, installment, due[0], monkeypatch, "P1")
    _pay(client, p1, loan_id, installment, due[1], monkeypatch, "P2")
    late = _pay(client, p1, loan_id, "50.00", date(2026, 4, 9), monkeypatch, "P3-late")
    assert positions.verify(session) == []
    _pay(client, p1, loan_id, "20.00", due[2], monkeypatch, "P3-backdated")
    assert positions.verify(session) == []
    after = stored(session, loan_id)
    assert after.position_as_of == date(2026, 4, 9)  # the backdated payment leaves the position's date
    # a reversal (the late 50.00 bounced) brings back what it paid
    business_day(monkeypatch, date(2026, 4, 20))
    assert (
        client.post(f"/v1/repayments/{late}/reverse", headers=p1, json={"reason": "bounced"}).status_code
        == 200
    )
    assert positions.verify(session) == []
    # a prepayment inside installment 5's period re-amortizes the rest
    _pay(client, p1, loan_id, "1000.00", date(2026, 5, 20), monkeypatch, "PREPAY")
    assert positions.verify(session) == []
    # installments 5.. left unpaid; on 2026-09-20 a restructure capitalises the arrears
    business_day(monkeypatch, date(2026, 9, 20))
    body = {"effective_on": "2026-09-20", "reason": "illness", "changes": {"capitalise_arrears": True}}
    requested = client.post(f"/v1/loans/{loan_id}/restructures", headers=p1, json=body)
    assert requested.status_code == 201, requested.text
    approved = client.post(f"/v1/restructures/{requested.json()['id']}/approve", headers=p2)
    assert approved.status_code == 200, approved.text
    assert positions.verify(session) == []
    restructured = stored(session, loan_id)
    # days past due restart from the new schedule; the loan is on watch (special mention)
    assert (restructured.days_past_due, restructured.nbc_class) == (0, "special_mention")
    assert restructured.capitalised_amount > 0
    # the nightly refresh's SQL agrees with the ledger (the watch included): the next day nothing
    # moves (nothing late, nothing fell due: the loan keeps its figures and their date); on 21
    # October the new schedule's Oct 5 is 16 days late (normal on the long table), still on watch
    for day, written, dpd in (
        (date(2026, 9, 20), 0, 0),
        (date(2026, 9, 21), 0, 0),
        (date(2026, 10, 21), 1, 16),
    ):
        assert positions.refresh(session, day) == written, day
        assert positions.verify(session) == []
        assert (stored(session, loan_id).days_past_due, stored(session, loan_id).nbc_class) == (
            dpd,
            "special_mention",
        )
    # the current report finds the loan on watch before its scan (queries.watched_ids) and grades
    # it special mention, as the whole-schedule query does
    day = date(2026, 10, 21)
    assert queries.watched_ids(session, Scope(as_of=day, today=day)) == [loan_id]
    for group_by in (None, "lender", "site"):
        exact = queries.position_rows(session, Scope(as_of=day, group_by=group_by))
        fast = queries.position_rows(session, Scope(as_of=day, group_by=group_by, today=day))
        assert _sorted(fast) == _sorted(exact), group_by
        assert [r["class"] for r in fast if r["part"] == "position"] == ["special_mention"]
    # nothing paid since: 180 days after the new schedule's first due date (2026-10-05) a write-off
    # (four eyes: two admins) takes the loan out; a recovery changes nothing of it
    business_day(monkeypatch, date(2027, 4, 10))
    write_off = {"reason": "the family left the city", "written_off_on": "2027-04-10"}
    second = make_key("admin")
    assert (
        client.post(f"/v1/loans/{loan_id}/write-off", headers=world["admin"], json=write_off).status_code
        == 202
    )
    assert client.post(f"/v1/loans/{loan_id}/write-off", headers=second, json=write_off).status_code == 200
    assert positions.verify(session) == []
    gone = stored(session, loan_id)
    assert (gone.outstanding_principal, gone.oldest_due_on, gone.nbc_class) == (0, None, None)
    _pay(client, p1, loan_id, "25.00", date(2027, 4, 10), monkeypatch, "RECOVERY")
    assert positions.verify(session) == []
    # every payment (the six above, the recovery too) and every allocation carries the loan's
    # report keys: the MFI, the household's site, the cash product, USD (the day's flows sum them)
    keys = (world["mfi"]["id"], world["site"]["id"], world["cash_product"]["id"], "USD")
    for table, count in ((Repayment, 6), (RepaymentAllocation, None)):
        copied = select(table.lender_id, table.site_id, table.product_id, table.currency)
        rows = session.execute(copied.where(table.loan_id == loan_id)).all()
        assert len(rows) == count if count else len(rows) >= 4, table
        assert {tuple(r) for r in rows} == {keys}, table
    # and it can fail: a column changed by hand is named, on the loan or on a payment
    session.execute(update(Loan).where(Loan.id == loan_id).values(days_past_due=7))
    session.execute(update(Repayment).where(Repayment.id == first).values(site_id="another-site"))
    session.commit()
    assert positions.verify(session) == [
        f"loan {loan_id}: days_past_due stored 7, from history 0",
        f"repayment {first}: site_id stored another-site, the loan's {keys[1]}",
    ]


def test_refresh_moves_what_time_moves_and_is_idempotent(client, session, admin, officer):
    # 1,000.00 over 10 months, 10 x (100 + 8) from 16 February 2026, nothing ever paid (written with
    # the ORM: its row holds no position until the refresh)
    world = registry(client, admin, officer)
    spec = ("A", "H4", "PA", 10, "monthly", "USD", (date(2026, 1, 16), "cash", "1000"))
    loan_id = book_loan(session, world, "L", *spec, monthly(2026, 2, 16, 10, "100", "8"))
    # as of 2026-03-01: Feb 16 is 13 days late: bucket 1-30; a 10-month loan is graded on the short
    # table (special mention from 15 days): normal; overdue Feb 16's 100 + 8; next Mar 16, 108
    assert positions.refresh(session, date(2026, 3, 1)) == 1
    loan = stored(session, loan_id)
    figures = ("outstanding_principal", "oldest_due_on", "days_past_due", "arrears_bucket", "nbc_class")
    assert tuple(getattr(loan, f) for f in figures) == (1000, date(2026, 2, 16), 13, "1-30", "normal")
    assert (loan.principal_overdue, loan.interest_overdue, loan.fees_overdue) == (100, 8, 0)
    assert (loan.next_due_on, loan.next_due_amount, loan.position_as_of) == (
        date(2026, 3, 16),
        108,
        date(2026, 3, 1),
    )
    # as of 2026-04-20: 63 days (Feb 16 -> Apr 20 = 12 + 31 + 20): 61-90, doubtful (61-90 on the
    # short table); Feb, Mar and Apr 16 overdue: 300 + 24; next May 16
    assert positions.refresh(session, date(2026, 4, 20)) == 1
    loan = stored(session, loan_id)
    assert tuple(getattr(loan, f) for f in figures) == (1000, date(2026, 2, 16), 63, "61-90", "doubtful")
    assert (loan.principal_overdue, loan.interest_overdue, loan.next_due_on) == (300, 24, date(2026, 5, 16))
    # the same day again writes nothing, and what it wrote is what the history says
    assert positions.refresh(session, date(2026, 4, 20)) == 0
    assert positions.verify(session) == []
    # five days on, nothing fell due (next May 16): only the days move, 63 + 5 = 68, read off the
    # oldest due date on the row; then 2026-06-01: 105 days, 91-180, loss (91+ on the short table)
    assert positions.refresh(session, date(2026, 4, 25)) == 1
    loan = stored(session, loan_id)
    assert (loan.days_past_due, loan.position_as_of, loan.principal_overdue) == (68, date(2026, 4, 25), 300)
    assert positions.refresh(session, date(2026, 6, 1)) == 1
    loan = stored(session, loan_id)
    assert (loan.days_past_due, loan.arrears_bucket, loan.nbc_class) == (105, "91-180", "loss")
    assert (loan.principal_overdue, loan.next_due_on) == (400, date(2026, 6, 16))
    assert positions.verify(session) == []
    # a payment dated before the position's date leaves the date: 108.00 on 2026-05-16 pays Feb 16
    # (oldest first), so as of Jun 1 the oldest open is Mar 16: 77 days late (31 + 30 + 16); one
    # dated after it moves the date to its own: 108.00 on Jun 16 pays Mar 16, Apr 16 is 61 days late
    for on, position_on, oldest, dpd in (
        ("2026-05-16", date(2026, 6, 1), date(2026, 3, 16), 77),
        ("2026-06-16", date(2026, 6, 16), date(2026, 4, 16), 61),
    ):
        body = {"amount": "108.00", "paid_on": on, "reference": f"R-{on}"}
        paid = client.post(f"/v1/loans/{loan_id}/repayments", headers=admin, json=body)
        assert paid.status_code == 201, paid.text
        loan = stored(session, loan_id)
        assert (loan.position_as_of, loan.oldest_due_on, loan.days_past_due) == (position_on, oldest, dpd)
    assert positions.verify(session) == []


def test_a_second_refresh_at_the_same_time_does_nothing(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's (SQLite runs one writer at a time)")
    first, second = engine.connect(), engine.connect()
    try:
        with Session(bind=first) as one, Session(bind=second) as two:
            assert positions.refresh(one, date(2026, 3, 1)) is not None  # holds the lock until it ends
            assert positions.refresh(two, date(2026, 3, 1)) is None
            one.rollback()
            assert positions.refresh(two, date(2026, 3, 1)) is not None
            two.rollback()
    finally:
        first.close()
        second.close()
