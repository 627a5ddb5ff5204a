"""The borrowers the current report counts, from the flags the ledger keeps on a household's later
active loans (loansvc.lending.borrowers), never from a DISTINCT over the loans.

- On the report book the flags are the ones worked out by hand below, `positions verify` agrees,
  and the current report's borrowers per lender, site, product and currency (and a partner's) are
  the households counted by hand.
- Through the API: a family's second loan is flagged when it is disbursed; when the first one is
  repaid in full the second becomes the family's first; a reversal that reopens the first flags the
  second again. A flag changed by hand is named by verify, and the nightly refresh puts it back.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select, update

from loansvc.db.models import Loan
from loansvc.lending import borrowers, positions
from loansvc.reports import queries
from loansvc.reports.queries import Scope
from tests.api.lending import apply, approve, business_day, cash_product, lending_world, release
from tests.api.report_book import build_book

FLAGS = tuple(borrowers.FLAGS)
ALL = (1, 1, 1, 1)
CURRENCY_ONLY = (1, 0, 0, 0)
NONE = (0, 0, 0, 0)
TODAY = date(2026, 7, 5)  # the book's last movement (L14 disbursed): the stored positions hold


def flags_of(session, loan_id: str) -> tuple:
    session.expire_all()
    loan = session.get(Loan, loan_id)
    return tuple(getattr(loan, name) for name in FLAGS)


def later_of(book: dict, a: str, b: str) -> tuple[str, str]:
    """(the first, the later) of two of the book's loans: the smaller id comes first."""
    return tuple(sorted((a, b), key=lambda name: book[name]))  # type: ignore[return-value]


def borrowers_of(session, **scope) -> dict:
    rows = queries.position_rows(session, Scope(as_of=TODAY, today=TODAY, **scope))
    out = {}
    for r in rows:
        if r["part"] == "borrowers":
            out[(r.get("group_key"), r["currency"])] = r["borrowers"]
        elif r["part"] == "currency_borrowers":
            out[("total", r["currency"])] = r["borrowers"]
    return out


def test_the_books_flags_and_borrowers_are_the_households_counted_by_hand(
    client, session, admin, officer, make_key
):
    book = build_book(client, session, admin, officer, make_key("admin"))
    # Active loans (L9 closed, L10 written off), with (household, lender, product, currency):
    #   H1: L1, L8 (A, PA, USD) - the same everything: the later one carries all four flags
    #   H2: L2, L12 (A, PA, USD) - the same (L9, also A PA USD, is closed: it counts for nothing)
    #   H3: L3 (A, PW, USD), L4 (B, PB, USD) - only the currency is shared
    #   H4: L5, L14 (A, PA, USD) - the same; L11 (A, PK, KHR) is alone in KHR
    #   H5: L6 (B, PB, USD) - alone (L10 written off)
    #   H6: L7 (A, PA, USD), L13 (B, PB, USD) - only the currency is shared
    want = {name: NONE for name in ("L6", "L11", "L9", "L10")}
    for a, b, later in (("L1", "L8", ALL), ("L2", "L12", ALL), ("L5", "L14", ALL)):
        first, second = later_of(book, a, b)
        want |= {first: NONE, second: later}
    for a, b in (("L3", "L4"), ("L7", "L13")):
        first, second = later_of(book, a, b)
        want |= {first: NONE, second: CURRENCY_ONLY}
    assert {name: flags_of(session, book[name]) for name in want} == want
    assert borrowers.differences(session) == []
    # The borrowers: USD H1..H6 = 6, KHR H4 = 1.
    #   by lender, USD: A has H1, H2, H3, H4, H6 = 5; B has H3, H5, H6 = 3; KHR: A has H4 = 1
    #   by site (S1: H1, H2, H4; S2: H3, H5, H6), USD: 3 and 3; KHR: S1 has H4
    #   by product, USD: PA has H1, H2, H4, H6 = 4; PW has H3 = 1; PB has H3, H5, H6 = 3; PK: H4
    #   a partner of lender A, by product: USD 5 in all, PA 4, PW 1; KHR: PK 1
    a, b = book["A"]["id"], book["B"]["id"]
    total = {("total", "USD"): 6, ("total", "KHR"): 1}
    assert borrowers_of(session) == {(None, "USD"): 6, (None, "KHR"): 1, **total}
    assert borrowers_of(session, group_by="lender") == {(a, "USD"): 5, (b, "USD"): 3, (a, "KHR"): 1, **total}
    s1, s2 = book["S1"]["id"], book["S2"]["id"]
    assert borrowers_of(session, group_by="site") == {(s1, "USD"): 3, (s2, "USD"): 3, (s1, "KHR"): 1, **total}
    pa, pw, pb, pk = (book[p]["id"] for p in ("PA", "PW", "PB", "PK"))
    by_product = {(pa, "USD"): 4, (pw, "USD"): 1, (pb, "USD"): 3, (pk, "KHR"): 1}
    assert borrowers_of(session, group_by="product") == {**by_product, **total}
    partner = {(pa, "USD"): 4, (pw, "USD"): 1, (pk, "KHR"): 1, ("total", "USD"): 5, ("total", "KHR"): 1}
    assert borrowers_of(session, group_by="product", lender_id=a) == partner
    # over both currencies (the converted totals): H1..H6, H4 once
    rows = queries.position_rows(session, Scope(as_of=TODAY, today=TODAY), all_currencies=("KHR", "USD"))
    assert [r["borrowers"] for r in rows if r["part"] == "all_borrowers"] == [6]


def pay(client, headers, loan_id: str, amount: str, on: date, monkeypatch, reference: str) -> dict:
    business_day(monkeypatch, on)
    body = {"amount": amount, "paid_on": on.isoformat(), "reference": reference}
    response = client.post(f"/v1/loans/{loan_id}/repayments", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_the_ledger_moves_the_flags_with_the_loans(client, session, monkeypatch):
    world = lending_world(client, session)
    p1, p2, family = world["partner_1"], world["partner_2"], world["household"]["id"]
    product = cash_product(client, world["admin"], world["mfi"]["id"], annual_rate_percent="0", min_term=6)
    business_day(monkeypatch, date(2026, 1, 5))
    loans = []
    for amount in ("600", "300"):  # two loans of the family, same lender, product and currency
        loan = apply(client, p1, family, product["id"], amount, 6)
        approve(client, p2, loan["id"])
        release(client, p1, loan["id"], amount, "foundation", date(2026, 1, 5))
        loans.append(loan["id"])
        assert positions.verify(session) == []
    first, second = sorted(loans)
    assert (flags_of(session, first), flags_of(session, second)) == (NONE, ALL)
    # The first is repaid in full (0 %: 600 or 300 of principal, whichever it is): it leaves the
    # portfolio and the second becomes the family's first.
    amount = "600.00" if first == loans[0] else "300.00"
    paid = pay(client, p1, first, amount, date(2026, 1, 20), monkeypatch, "PAID-OFF")
    assert paid["loan_status"] == "closed", paid
    assert (flags_of(session, first), flags_of(session, second)) == (NONE, NONE)
    assert positions.verify(session) == []
    # The payment bounces: the first loan is active again, and the second is its later loan again.
    reversed_ = client.post(f"/v1/repayments/{paid['id']}/reverse", headers=p1, json={"reason": "bounced"})
    assert reversed_.status_code == 200, reversed_.text
    assert session.scalar(select(Loan.status).where(Loan.id == first)) == "active"
    assert (flags_of(session, first), flags_of(session, second)) == (NONE, ALL)
    assert positions.verify(session) == []
    # one borrower, whatever the grouping
    day = date(2026, 1, 20)
    for group_by in (None, "lender", "site", "product", "currency"):
        rows = queries.position_rows(session, Scope(as_of=day, group_by=group_by, today=day))
        assert [r["borrowers"] for r in rows if r["part"] == "borrowers"] == [1], group_by
    # A flag changed by hand is named by verify; the nightly refresh puts it back.
    session.execute(update(Loan).where(Loan.id == second).values(later_with_lender=0))
    session.commit()
    assert positions.verify(session) == [f"loan {second}: later_with_lender stored 0, from the household 1"]
    assert positions.refresh(session, day) >= 1
    session.commit()
    assert positions.verify(session) == []
    assert Decimal(paid["amount"]) == Decimal(amount)
