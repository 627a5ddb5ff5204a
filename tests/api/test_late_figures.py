"""The visit list's figures (lending.reads.late_figures) are the ledger's (page_figures) for every
loan of the report book, whether they come off the position stored on the loan's row or from its
installments.

The book is tests/api/report_book.py's: fourteen loans, USD and KHR, monthly and biweekly, late,
paid ahead, a payment reversed, one written off, one closed, three never paid. Its loans are written
with the ORM and then moved by the API (payments, a reversal, a write-off): each position is the
ledger's as of its last movement, so without a refresh some hold as of TODAY and some do not (an
installment fell due since); after `positions refresh --as-of TODAY` every ordinary active loan's
holds, and the list reads no installment for them.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import event

from loansvc.db.models import Loan
from loansvc.lending import positions, reads
from tests.api.lending import business_day, late_fee_loan
from tests.api.report_book import build_book

TODAY = date(2026, 7, 10)


@pytest.fixture()
def book(client, session, admin, officer, make_key) -> dict:
    return build_book(client, session, admin, officer, make_key("admin"))


def _loans(session, book) -> list[Loan]:
    return [session.get(Loan, book[f"L{k}"]) for k in range(1, 15)]


def _the_ledgers(session, loans, day) -> dict:
    page = reads.page_figures(session, loans, day, TODAY)
    return {loan.id: reads.LateFigures.of(page[loan.id]) for loan in loans}


def _assert_the_same(session, loans, day):
    got, want = reads.late_figures(session, loans, day, TODAY), _the_ledgers(session, loans, day)
    for loan in loans:
        # the same Decimals to the digit (0.00 and 0 are equal, not the same JSON)
        assert repr(got[loan.id]) == repr(want[loan.id]), loan.id


def _held(loans, day) -> set[str]:
    return {loan.id for loan in loans if reads._position_holds(loan, reads._terms(loan), day, TODAY)}


def test_before_the_nights_refresh_some_positions_hold_and_all_agree(session, book):
    loans = _loans(session, book)
    held = _held(loans, TODAY)
    # L5 (positioned by its payment of 20 June, next due 16 July: 16 May and 16 June still late)
    # and L8 (by its payment of 2 July, next due 31 July) hold. L1 (positioned 1 June: 1 July fell
    # due since) does not, nor L12, L13 and L14 (written with the ORM, never positioned).
    assert held == {book["L5"], book["L8"]}
    _assert_the_same(session, loans, TODAY)


def test_after_the_refresh_every_ordinary_active_loan_reads_its_position(session, book):
    loans = _loans(session, book)
    positions.refresh(session, TODAY)
    held = _held(loans, TODAY)
    active = {loan.id for loan in loans if loan.status == "active"}
    # every active loan of the book: none is restructured nor under terms with a late fee
    assert held == active and len(held) == 12  # 14 less L9 (closed) and L10 (written off)
    _assert_the_same(session, loans, TODAY)
    # an earlier day, or the session holding a change, reads the installments: the same figures
    assert _held(loans, date(2026, 7, 9)) == set()
    _assert_the_same(session, loans, date(2026, 7, 9))
    loans[0].purpose = loans[0].purpose + " (edited)"
    _assert_the_same(session, loans, TODAY)


def test_the_positions_read_no_installment(session, book, engine):
    loans = _loans(session, book)
    positions.refresh(session, TODAY)
    active = [loan for loan in loans if loan.status == "active"]
    for loan in active:  # loaded before counting
        assert loan.position_as_of is not None
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        reads.late_figures(session, active, TODAY, TODAY)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert statements == []
    # a stale position: L1's next installment (1 July) is moved back before it was positioned
    # as if the night's refresh had not run; its installments are read, one statement
    l1 = session.get(Loan, book["L1"])
    l1.next_due_on = date(2026, 7, 1)
    session.flush()
    event.listen(engine, "before_cursor_execute", count)
    try:
        reads.late_figures(session, active, TODAY, TODAY)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1 and "scheduled_installments" in statements[0]


def test_a_late_fee_not_yet_charged_is_read_from_the_installments(client, session, monkeypatch):
    """tests.api.lending.late_fee_loan: a 5.00 late fee once an installment is more than 10 days
    overdue. The ledger shows the fee from the day it applies, the position only once a payment
    charges it."""
    world, loan_id = late_fee_loan(client, session, monkeypatch)
    # 25 February, nothing paid: installment 1 (due 10 February, 110.02 = 18.00 interest + 92.02
    # principal) is 15 days late, past its 10 days of grace: 110.02 + the 5.00 fee are overdue.
    # After the night's refresh the position holds the 110.02 (no payment charged the fee yet)
    # and its next due date is 10 March: it would hold, but for the fee.
    day = date(2026, 2, 25)
    business_day(monkeypatch, day)
    positions.refresh(session, day)
    loan = session.get(Loan, loan_id)
    assert (loan.position_as_of, loan.next_due_on) == (day, date(2026, 3, 10))
    assert loan.principal_overdue + loan.interest_overdue + loan.fees_overdue == Decimal("110.02")
    assert not reads._position_holds(loan, reads._terms(loan), day, day)
    figures = reads.late_figures(session, [loan], day, day)[loan.id]
    assert (figures.days_past_due, figures.overdue_amount) == (15, Decimal("115.02"))
    listed = client.get("/v1/reports/delinquent-loans", headers=world["partner_1"]).json()["items"]
    assert [(x["loan_id"], x["overdue_amount"], x["days_past_due"]) for x in listed] == [
        (loan.id, "115.02", 15)
    ]
