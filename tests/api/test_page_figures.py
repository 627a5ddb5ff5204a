"""A list page's figures (lending.reads.page_figures) are the ledger's figures (figures_for) of every
loan, as of every day, but for the schedule it leaves out.

The book is tests/api/report_book.py's: fourteen loans, USD and KHR, monthly and biweekly, paid in
full, in part, ahead (L5's 30.00 on 20 June pays part of an installment not yet due), late, one
payment reversed (L2's of 10 June), one loan written off (L10, 15 June), a 0 % lender (L4, L6, L13),
and three never paid (L12, L13, L14). Each is read as of days before its first due date, between
its due dates, on a due date, after its last one, and after a payment dated later (a past day:
the later movements are taken back out), with the service's today after every movement.

A page reads its rows through repository.page_installments_of (the database leaves out most rows
no figure reads); a session holding unflushed changes reads the ORM rows: both are checked.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from loansvc.db.models import Loan
from loansvc.lending import reads, repository
from tests.api.report_book import build_book

TODAY = date(2026, 7, 10)
DAYS = [
    date(2025, 6, 1),  # L10 disbursed, nothing due yet
    date(2025, 12, 31),
    date(2026, 2, 1),  # L1's first due date: due, not late
    date(2026, 3, 15),
    date(2026, 6, 10),  # the day of L2's reversed payment
    date(2026, 6, 20),  # L5's payment ahead
    date(2026, 7, 5),  # L14 disbursed
    TODAY,
]


@pytest.fixture()
def book(client, session, admin, officer, make_key) -> dict:
    return build_book(client, session, admin, officer, make_key("admin"))


@pytest.mark.parametrize("day", DAYS)
def test_a_pages_figures_are_the_ledgers_but_for_the_schedule(session, book, day):
    loans = [session.get(Loan, book[f"L{k}"]) for k in range(1, 15)]
    full = reads.figures_for(session, loans, day, TODAY)
    assert not (session.new or session.dirty or session.deleted)  # the page's own rows, not the ORM's
    page = reads.page_figures(session, loans, day, TODAY)
    _assert_the_same(loans, full, page)
    # a session with a change not yet flushed reads the ORM rows: the same figures
    loans[0].purpose = loans[0].purpose + " (edited)"
    assert session.dirty
    _assert_the_same(loans, full, reads.page_figures(session, loans, day, TODAY))


def _assert_the_same(loans, full, page):
    assert set(page) == set(full) == {loan.id for loan in loans}
    for loan in loans:
        want = replace(full[loan.id], installments=())
        got = page[loan.id]
        assert got == want, loan.id
        # the same Decimals to the digit (0.00 and 0 are equal, not the same JSON)
        assert repr(got) == repr(want), loan.id


@pytest.mark.parametrize("day", DAYS)
def test_the_database_keeps_every_row_that_counts(session, book, day):
    # page_installments_of leaves rows out in SQL: what it keeps holds every row _rows_that_count
    # keeps of the whole schedule, each with the same stored values
    loans = [session.get(Loan, book[f"L{k}"]) for k in range(1, 15)]
    full = repository.installments_of(session, loans)
    kept = repository.page_installments_of(session, loans, day)
    for loan in loans:
        by_number = {r.number: r for r in full[loan.id]}
        assert [r.number for r in kept[loan.id]] == sorted(r.number for r in kept[loan.id])
        for row in kept[loan.id]:
            orm = by_number[row.number]
            assert all(getattr(row, c) == getattr(orm, c) for c in row._fields), (loan.id, row.number)
        counted = [r.number for r in reads._rows_that_count(loan, kept[loan.id], day)]
        assert counted == [r.number for r in reads._rows_that_count(loan, full[loan.id], day)], loan.id


def test_a_total_below_one_unit_is_owed_once_rounded(session, book):
    # L12 (USD, 12 x 47.20 from 20 July, never paid). Say its installment 1 totals 0.004 (0.00
    # once rounded: it owes nothing, so it is never the next one) and 2 totals 0.006 (0.01: it
    # owes). The database keeps the untouched rows up to the first owing at least 1.00 (3); the
    # ledger's rule keeps 1 and 2, and 2 is the next installment, as in the whole ledger's
    loan = session.get(Loan, book["L12"])
    rows = repository.installments_of(session, [loan])[loan.id]
    rows[0].total, rows[1].total = Decimal("0.004"), Decimal("0.006")
    session.flush()
    kept = repository.page_installments_of(session, [loan], TODAY)[loan.id]
    assert [r.number for r in kept] == [1, 2, 3]
    assert [r.number for r in reads._rows_that_count(loan, kept, TODAY)] == [1, 2]
    page = reads.page_figures(session, [loan], TODAY, TODAY)[loan.id]
    assert page.next_installment.number == 2 and page.next_installment.total == Decimal("0.01")
    _assert_the_same([loan], reads.figures_for(session, [loan], TODAY, TODAY), {loan.id: page})


def test_a_young_loan_is_read_on_its_due_installments_and_the_next_one(session, book):
    # L8: 18 installments from 2026-05-31, 125.00 paid on 2 July (installment 1: 125.00 = 100 +
    # 25, paid late). As of TODAY (10 July) installment 2 (due 30 June) is late and unpaid and 3
    # (31 July) is next: the ledger reads 1..3; 4..18 (untouched, due later) change no figure
    loan = session.get(Loan, book["L8"])
    rows = repository.installments_of(session, [loan])[loan.id]
    assert [r.number for r in reads._rows_that_count(loan, rows, TODAY)] == [1, 2, 3]
    figures = reads.page_figures(session, [loan], TODAY, TODAY)[loan.id]
    assert (figures.days_past_due, figures.overdue_amount) == ((TODAY - date(2026, 6, 30)).days, 125)
    assert figures.next_installment.number == 2  # the first with something left: the late one
    # as of the day before its first due date nothing is due: installment 1 (paid since, so not
    # untouched: the payment dated later is taken back out) and 2, the first untouched one
    before = date(2026, 5, 30)
    assert [r.number for r in reads._rows_that_count(loan, rows, before)] == [1, 2]
    assert reads.page_figures(session, [loan], before, TODAY)[loan.id].next_installment.number == 1


def test_the_loan_list_and_the_schedule_agree_on_the_next_installment(client, book, admin):
    # the list reads the page's figures, the schedule the whole ledger's: the same next installment
    listed = client.get("/v1/loans", headers=admin, params={"limit": 50}).json()["items"]
    assert len(listed) == 14
    for item in listed:
        schedule = client.get(f"/v1/loans/{item['id']}/schedule", headers=admin).json()["installments"]
        left = [i for i in schedule if i["status"] != "paid"]
        assert item["next_installment"] == (left[0] if left else None), item["id"]
        assert client.get(f"/v1/loans/{item['id']}", headers=admin).json() == item
