"""The expected dues the ledger keeps on the loans row (loansvc.lending.expected), and the report's
expected collections read from them.

- The windows and the six amounts, worked out by hand for one loan (a partial payment, as_of in
  the middle of a month), before and after the ledger's movement.
- On the report book the expected collections from the stored dues equal the exact statement over
  the installments, for every grouping and a partner's scope, after `refresh_expected` (a new
  month, days later in the same month, back in time), and `verify_expected` finds nothing.
- After each kind of movement (payments, a backdated payment, a reversal, a prepayment, a
  restructure, a write-off) the ledger keeps the dues at their anchor: verify finds nothing and the
  report's stored figures equal the exact ones; a loan not anchored at as_of is read exactly.
- The stored dues cost one statement, never more than the exact statement's two, whatever the
  history; and verify names a column changed by hand.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import update

from loansvc.auth.principal import Principal
from loansvc.db.models import Loan
from loansvc.lending import expected, positions
from loansvc.lending.expected import months_after, refresh_expected, verify_expected
from loansvc.reports import queries, service
from loansvc.reports.queries import Scope
from tests.api.lending import apply, approve, business_day, lending_world, release
from tests.api.report_book import book_loan, build_book, monthly, registry
from tests.api.test_statement_counts import counting

ADMIN = Principal(key_id="tests", name="tests", role="admin", lender_id=None)
CAP = Decimal("18")
GROUPS = (None, "lender", "site", "product", "currency")


def stored(session, loan_id: str) -> Loan:
    session.expire_all()
    return session.get(Loan, loan_id)


def dues(loan: Loan) -> tuple:
    return tuple(getattr(loan, name) for name in expected.COLUMNS)


def collections(rows: list[dict]) -> dict:
    """{(group, currency, month): amount} of expected_rows, its parts added (as the report does)."""
    out: dict = {}
    for r in rows:
        key = (r.get("group_key"), r["currency"], r["month"])
        out[key] = out.get(key, Decimal(0)) + r["amount"]
    return {k: v for k, v in out.items() if v != 0}


def same_collections(session, day: date, lender: str | None = None) -> None:
    """The expected collections as of `day` from the stored dues equal the exact statement's."""
    windows = months_after(day)
    for group_by in GROUPS:
        exact = queries.expected_rows(session, Scope(as_of=day, group_by=group_by, lender_id=lender), windows)
        current = Scope(as_of=day, group_by=group_by, lender_id=lender, today=day)
        fast = queries.expected_rows(session, current, windows)
        assert collections(fast) == collections(exact), (day, group_by, lender)
        assert all(r["kind"] == "owed" for r in fast)


def test_the_windows_are_the_reports_calendar():
    # mid-month: the rest of March from the 21st, then April .. August; a month end: whole months
    assert months_after(date(2026, 3, 20)) == [
        ("2026-03", date(2026, 3, 20), date(2026, 3, 31)),
        ("2026-04", date(2026, 3, 31), date(2026, 4, 30)),
        ("2026-05", date(2026, 4, 30), date(2026, 5, 31)),
        ("2026-06", date(2026, 5, 31), date(2026, 6, 30)),
        ("2026-07", date(2026, 6, 30), date(2026, 7, 31)),
        ("2026-08", date(2026, 7, 31), date(2026, 8, 31)),
    ]
    assert [label for label, _, _ in months_after(date(2026, 11, 30))] == [
        "2026-12",
        "2027-01",
        "2027-02",
        "2027-03",
        "2027-04",
        "2027-05",
    ]
    assert service.months_after is months_after  # one rule, the report's and the loans'


def test_a_worked_example_one_loan_a_partial_payment_mid_month(client, session, admin, officer, monkeypatch):
    # 1,200.00 over 12 months, 12 x (100 + 8) = 108.00 due on the 16th from 16 February 2026
    # (written with the ORM: no dues kept until the refresh); no late fee, reduce-term prepayment
    world = registry(client, admin, officer)
    spec = ("A", "H1", "PA", 12, "monthly", "USD", (date(2026, 1, 16), "cash", "1200"))
    loan_id = book_loan(session, world, "L", *spec, monthly(2026, 2, 16, 12, "100", "8"))
    assert dues(stored(session, loan_id)) == expected.NONE
    day = date(2026, 3, 20)
    # as of Friday 2026-03-20 the windows are (Mar 20, Mar 31], April, ..., August:
    #   Feb 16 and Mar 16 are due on or before as_of: in none of them (late, not expected);
    #   window 1 (the rest of March) holds no due date: 0;
    #   Apr 16, May 16, Jun 16, Jul 16, Aug 16: 108.00 each in windows 2 .. 6; Sep 16 .. Jan 16 after
    assert refresh_expected(session, day) == 1
    loan = stored(session, loan_id)
    assert loan.expected_as_of == day
    assert dues(loan) == (0, 108, 108, 108, 108, 108)
    assert refresh_expected(session, day) == 0  # a second run writes nothing
    # 266.00 paid on 2026-03-20: Feb 16 (108) and Mar 16 (108), then 50.00 of Apr 16, whose period
    # (Mar 16, Apr 16] has begun (nothing beyond it: no prepayment): Apr 16 still owes 108 - 50 = 58
    business_day(monkeypatch, day)
    body = {"amount": "266.00", "paid_on": day.isoformat(), "reference": "PART"}
    paid = client.post(f"/v1/loans/{loan_id}/repayments", headers=admin, json=body)
    assert paid.status_code == 201, paid.text
    loan = stored(session, loan_id)
    assert loan.expected_as_of == day  # the ledger kept the anchor
    assert dues(loan) == (0, 58, 108, 108, 108, 108)
    assert sum(dues(loan)) == Decimal("490.00")
    assert verify_expected(session) == []
    positions.refresh(session, day)
    same_collections(session, day)
    # the same figures as the whole report's expected collections
    report = service.portfolio(session, ADMIN, day, "lender", rate_cap_percent=CAP, today=day)
    [usd] = [t for t in report.totals if t["currency"] == "USD"]
    assert [e["amount"] for e in usd["expected_collections"]] == [0, 58, 108, 108, 108, 108]
    # five days on (the same first window) the refresh moves window 1 only: nothing fell due in
    # (Mar 20, Mar 25], so the amounts hold and the anchor moves; at the month end the windows become
    # April .. September: Apr 16 58, May .. Sep 108 each
    assert refresh_expected(session, date(2026, 3, 25)) == 1
    assert dues(stored(session, loan_id)) == (0, 58, 108, 108, 108, 108)
    assert refresh_expected(session, date(2026, 3, 31)) == 1
    loan = stored(session, loan_id)
    assert (loan.expected_as_of, dues(loan)) == (date(2026, 3, 31), (58, 108, 108, 108, 108, 108))
    # and on Apr 16 (the same first window as Mar 31: April) Apr 16 itself leaves window 1
    assert refresh_expected(session, date(2026, 4, 16)) == 1
    assert dues(stored(session, loan_id)) == (0, 108, 108, 108, 108, 108)
    assert verify_expected(session) == []
    # it can fail: a stored amount changed by hand is named
    session.execute(update(Loan).where(Loan.id == loan_id).values(expected_3=Decimal("100")))
    session.commit()
    [line] = verify_expected(session)
    head, want = line.split(", from installments ")
    assert head.startswith(f"loan {loan_id}: expected_3 stored ")
    assert (Decimal(head.rsplit(" ", 1)[1]), Decimal(want)) == (100, 108), line


@pytest.fixture()
def book(client, session, admin, officer, make_key) -> dict:
    return build_book(client, session, admin, officer, make_key("admin"))


def test_the_stored_dues_equal_the_whole_schedule_over_the_book(session, book):
    # the book's latest movement is L14's disbursement on 2026-07-05 (see tests/api/test_positions.py)
    for day in (date(2026, 7, 5), date(2026, 8, 15), date(2026, 8, 20), date(2027, 7, 1), date(2026, 8, 15)):
        refresh_expected(session, day)
        assert verify_expected(session) == [], day
        assert refresh_expected(session, day) == 0, day
        for lender in (None, book["A"]["id"]):
            same_collections(session, day, lender)
    # the full recomputation agrees with the incremental one (2026-08-15 -> 08-20 moved window 1 only)
    refresh_expected(session, date(2026, 8, 20))
    before = {loan.id: dues(loan) for loan in session.query(Loan).filter(Loan.status == "active")}
    assert refresh_expected(session, date(2026, 8, 20), full=True) == 0
    assert {loan.id: dues(loan) for loan in session.query(Loan).filter(Loan.status == "active")} == before
    # the whole report from the stored dues and positions equals the exact one
    day = date(2026, 8, 20)
    positions.refresh(session, day)
    for group_by in ("lender", "site", "product", "currency"):
        fast = service.portfolio(
            session, ADMIN, day, group_by, Decimal(4100), rate_cap_percent=CAP, today=day
        )
        exact = service.portfolio(session, ADMIN, day, group_by, Decimal(4100), rate_cap_percent=CAP)
        assert (fast.totals, fast.groups, fast.converted) == (exact.totals, exact.groups, exact.converted)
        assert any(e["amount"] for t in fast.totals for e in t["expected_collections"])


def _pay(client, headers, loan_id: str, amount, on: date, monkeypatch, ref: str) -> str:
    business_day(monkeypatch, on)
    body = {"amount": str(amount), "paid_on": on.isoformat(), "reference": ref}
    response = client.post(f"/v1/loans/{loan_id}/repayments", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_the_ledger_keeps_the_dues_through_every_kind_of_movement(
    client, session, connection, monkeypatch, make_key
):
    world = lending_world(client, session)
    p1, p2 = world["partner_1"], world["partner_2"]
    business_day(monkeypatch, date(2026, 1, 5))
    loan = apply(
        client, world["officer_1"], world["household"]["id"], world["cash_product"]["id"], "3000", 36
    )
    approve(client, p1, loan["id"])
    release(client, p2, loan["id"], "3000", "foundation", date(2026, 1, 5))
    loan_id = loan["id"]
    # disbursed on 2026-01-05: anchored at its position's date, the disbursement's
    assert stored(session, loan_id).expected_as_of == date(2026, 1, 5)
    assert sum(dues(stored(session, loan_id))) > 0
    assert verify_expected(session) == []

    def check(day: date) -> None:
        """The nightly refresh anchored every loan at `day`, the movement of `day` followed: the dues
        hold, and the report reads them alone (one statement, no installment read)."""
        assert verify_expected(session) == []
        assert stored(session, loan_id).expected_as_of == day
        with counting(connection) as statements:
            queries.expected_rows(session, Scope(as_of=day, today=day), months_after(day))
        assert len(statements) == 1 and "scheduled_installments" not in statements[0], statements
        same_collections(session, day)

    installment = client.get(f"/v1/loans/{loan_id}/schedule", headers=p1).json()["installments"]
    due = [date.fromisoformat(r["due_date"]) for r in installment]
    amount = installment[0]["total"]
    # installments 1 and 2 on their due dates, 4 days late for 3; each night anchors the loans first
    for k, (on, paid) in enumerate(((due[0], amount), (due[1], amount), (date(2026, 4, 9), "50.00"))):
        refresh_expected(session, on)
        late = _pay(client, p1, loan_id, paid, on, monkeypatch, f"P{k}")
        check(on)
    # a payment backdated to installment 3's due date: the anchor stays (2026-04-09)
    _pay(client, p1, loan_id, "20.00", due[2], monkeypatch, "P3-backdated")
    business_day(monkeypatch, date(2026, 4, 9))
    check(date(2026, 4, 9))
    # a reversal (the late 50.00 bounced) brings back what it paid
    refresh_expected(session, date(2026, 4, 20))
    business_day(monkeypatch, date(2026, 4, 20))
    reversed_ = client.post(f"/v1/repayments/{late}/reverse", headers=p1, json={"reason": "bounced"})
    assert reversed_.status_code == 200, reversed_.text
    check(date(2026, 4, 20))
    # a prepayment inside installment 5's period re-amortizes the rest
    refresh_expected(session, date(2026, 5, 20))
    _pay(client, p1, loan_id, "1000.00", date(2026, 5, 20), monkeypatch, "PREPAY")
    check(date(2026, 5, 20))
    # installments 5.. left unpaid; on 2026-09-20 a restructure capitalises the arrears
    refresh_expected(session, date(2026, 9, 20))
    business_day(monkeypatch, date(2026, 9, 20))
    body = {"effective_on": "2026-09-20", "reason": "illness", "changes": {"capitalise_arrears": True}}
    requested = client.post(f"/v1/loans/{loan_id}/restructures", headers=p1, json=body)
    assert requested.status_code == 201, requested.text
    approved = client.post(f"/v1/restructures/{requested.json()['id']}/approve", headers=p2)
    assert approved.status_code == 200, approved.text
    check(date(2026, 9, 20))
    # a payment dated after the anchor without a refresh: the loan is anchored at 2026-09-20 still,
    # its dues hold there (verify), and the report as of 2026-10-10 reads its installments (exact)
    _pay(client, p1, loan_id, "30.00", date(2026, 10, 10), monkeypatch, "UNANCHORED")
    assert stored(session, loan_id).expected_as_of == date(2026, 9, 20)
    assert verify_expected(session) == []
    with counting(connection) as statements:
        queries.expected_rows(
            session,
            Scope(as_of=date(2026, 10, 10), today=date(2026, 10, 10)),
            months_after(date(2026, 10, 10)),
        )
    assert len(statements) == 2 and "scheduled_installments" in statements[1]
    same_collections(session, date(2026, 10, 10))
    # a write-off (four eyes: two admins) takes the loan out: it keeps no dues
    refresh_expected(session, date(2027, 4, 10))
    business_day(monkeypatch, date(2027, 4, 10))
    write_off = {"reason": "the family left the city", "written_off_on": "2027-04-10"}
    first = client.post(f"/v1/loans/{loan_id}/write-off", headers=world["admin"], json=write_off)
    assert first.status_code == 202, first.text
    second = client.post(f"/v1/loans/{loan_id}/write-off", headers=make_key("admin"), json=write_off)
    assert second.status_code == 200, second.text
    gone = stored(session, loan_id)
    assert (gone.expected_as_of, dues(gone)) == (None, expected.NONE)
    assert verify_expected(session) == []
    same_collections(session, date(2027, 4, 10))
    # and it can fail: dues left on a loan out of the portfolio are named
    session.execute(update(Loan).where(Loan.id == loan_id).values(expected_as_of=date(2027, 4, 10)))
    session.commit()
    assert verify_expected(session) == [
        f"loan {loan_id}: expected_as_of stored 2027-04-10, out of the portfolio None"
    ]
    assert refresh_expected(session, date(2027, 4, 10)) == 1  # cleared
    assert verify_expected(session) == []


def test_the_stored_dues_cost_one_statement_whatever_the_history(
    client, session, connection, admin, officer, monkeypatch
):
    world = registry(client, admin, officer)
    day = date(2026, 9, 30)

    def statements_of(scope: Scope) -> list[str]:
        with counting(connection) as statements:
            queries.expected_rows(session, scope, months_after(day))
        return statements

    small = ("A", "H1", "PA", 12, "monthly", "USD", (date(2026, 1, 1), "cash", "1200"))
    book_loan(session, world, "small", *small, monthly(2026, 2, 1, 12, "100", "12.34"))
    refresh_expected(session, day)
    few = statements_of(Scope(as_of=day, today=day))
    exact = statements_of(Scope(as_of=day))
    assert (len(few), len(exact)) == (1, 2)
    large = ("A", "H2", "PA", 36, "monthly", "USD", (date(2024, 1, 1), "cash", "3600"))
    big = book_loan(session, world, "big", *large, monthly(2024, 2, 1, 36, "100"))
    for k in range(24):
        on = date(2024 + (k + 1) // 12, (k + 1) % 12 + 1, 1)
        _pay(client, admin, big, "100.00", on, monkeypatch, f"BIG-{k}")
    # the big loan was anchored by its first movement, the payment of 2024-02-01 (its position's
    # date then; no later movement moves an anchor), the small one at as_of: the stored dues of the
    # small one, the installments of the big one (hybrid), still two statements
    assert stored(session, big).expected_as_of == date(2024, 2, 1)
    mixed = statements_of(Scope(as_of=day, today=day))
    assert len(mixed) == 2 and "scheduled_installments" in mixed[1]
    same_collections(session, day)
    refresh_expected(session, day)
    assert len(statements_of(Scope(as_of=day, today=day))) == len(few)
    same_collections(session, day)

