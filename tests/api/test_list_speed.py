"""GET /v1/loans at any depth: the keyset cursor, the bounded total, and a fixed number of statements.

The book: lender A (product PA) and lender B (product PB), one family each on one site. 36 closed
applications written with the ORM (rejected or withdrawn: a family may have many of those), three
submitted on each of 12 days from 2026-03-01 (days 0, 3, 6, ... 33: ties on submitted_on, so the
list's second key, the id, decides their order):
- loan k (k = 0..35) is submitted on 2026-03-01 + 3 * (k // 3) days, with lender A when k % 3 != 2
  (24 loans) and B otherwise (12), rejected when k is even (18) and withdrawn when odd (18).
The list is newest submission first, then by id: the expected order is worked out here with
Python's sort on (-day, id), never copied from the service.

The app counts exactly up to 12 rows (list_exact_count_limit=12), so a few dozen loans show what a
million does beyond 10,000: a null total unless ?count=true. The API key is read on every request
(auth_cache_seconds=0), so the statement counts do not depend on the cache.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from loansvc.config import Settings
from loansvc.db.models import Loan
from loansvc.fields import cursor_token
from loansvc.main import create_app
from tests.api.helpers import assert_problem, create_household, create_lender, create_product, create_site
from tests.api.lending import ELIGIBLE_FINANCES, named_key
from tests.api.test_statement_counts import counting

FIRST_DAY = date(2026, 3, 1)
LOANS = 36
LIMIT = 12  # the exact-count limit of this app


@pytest.fixture()
def app(db, database_url):
    settings = Settings(database_url=database_url, auth_cache_seconds=0, list_exact_count_limit=LIMIT)
    return create_app(settings, database=db)


@pytest.fixture()
def book(client, session, admin, officer) -> dict:
    world = {"A": create_lender(client, admin), "B": create_lender(client, admin)}
    world["PA"] = create_product(client, admin, world["A"]["id"])
    world["PB"] = create_product(client, admin, world["B"]["id"])
    site = create_site(client, officer)
    world["HA"] = create_household(client, officer, site["id"], **ELIGIBLE_FINANCES)
    world["HB"] = create_household(client, officer, site["id"], **ELIGIBLE_FINANCES)
    rows = []
    for k in range(LOANS):
        lender = "B" if k % 3 == 2 else "A"
        on = FIRST_DAY + timedelta(days=3 * (k // 3))
        loan = Loan(
            household_id=world[f"H{lender}"]["id"],
            site_id=site["id"],
            product_id=world[f"P{lender}"]["id"],
            lender_id=world[lender]["id"],
            currency="USD",
            amount=1000,
            term=12,
            purpose="build the core house",
            status="rejected" if k % 2 == 0 else "withdrawn",
            submitted_on=on,
            submitted_by="tests",
            submitted_by_key_id="tests",
            decided_on=on,
            last_event_on=on,
            disbursed_amount=0,
            schedule_version=0,
        )
        session.add(loan)
        session.flush()
        rows.append((on, loan.id, lender, loan.status))
    session.commit()
    world["rows"] = rows
    world["partner"] = named_key(session, "MFI A credit officer", "partner", world["A"]["id"])
    return world


def expected(rows, *, lender: str | None = None, status: str | None = None) -> list[str]:
    """The list's order, worked out here: newest submission first, then by id."""
    kept = [r for r in rows if (lender is None or r[2] == lender) and (status is None or r[3] == status)]
    return [loan_id for _, loan_id, _, _ in sorted(kept, key=lambda r: (-r[0].toordinal(), r[1]))]


def walk(client, headers, limit: int, **params) -> tuple[list[str], list[dict]]:
    """Every page by `after`, from the first: the ids in order and the answers."""
    ids, answers, after = [], [], None
    while True:
        query = {"limit": limit, **params, **({"after": after} if after else {})}
        response = client.get("/v1/loans", headers=headers, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        answers.append(body)
        ids += [loan["id"] for loan in body["items"]]
        after = body["next_after"]
        if after is None:
            return ids, answers


def test_the_cursor_walks_the_list_in_its_order_as_offset_pages_do(client, admin, book):
    rows = book["rows"]
    ids, answers = walk(client, admin, 7)
    assert ids == expected(rows)
    # 36 loans by 7: five full pages and one of 1, each but the last saying more follow
    assert [len(a["items"]) for a in answers] == [7, 7, 7, 7, 7, 1]
    assert [a["has_more"] for a in answers] == [True] * 5 + [False]
    assert answers[-1]["next_after"] is None

    by_offset = []
    for offset in range(0, LOANS, 7):
        body = client.get("/v1/loans", headers=admin, params={"limit": 7, "offset": offset}).json()
        by_offset += [loan["id"] for loan in body["items"]]
    assert by_offset == ids  # the offset contract is kept, with the same order

    # a page that ends exactly at the list's end says so: 36 = 4 x 9
    assert [a["has_more"] for a in walk(client, admin, 9)[1]] == [True, True, True, False]


def test_the_cursor_keeps_the_filters_and_a_partners_scope(client, admin, book):
    rows = book["rows"]
    assert walk(client, admin, 4, status="withdrawn")[0] == expected(rows, status="withdrawn")
    assert walk(client, book["partner"], 5)[0] == expected(rows, lender="A")
    partner_rejected = walk(client, book["partner"], 5, status="rejected")[0]
    assert partner_rejected == expected(rows, lender="A", status="rejected")
    product = book["PB"]["id"]
    assert walk(client, admin, 5, product_id=product)[0] == expected(rows, lender="B")
    household = book["HB"]["id"]
    assert walk(client, admin, 5, household_id=household)[0] == expected(rows, lender="B")


def test_the_total_is_exact_up_to_the_limit_and_null_beyond_unless_asked(client, admin, book):
    def page(**params) -> dict:
        response = client.get("/v1/loans", headers=admin, params={"limit": 3, **params})
        assert response.status_code == 200, response.text
        body = response.json()
        return {k: body[k] for k in ("total", "total_is_exact", "total_at_least", "has_more")}

    # 36 loans, counted up to 12 + 1: "more than 12"
    assert page() == {"total": None, "total_is_exact": False, "total_at_least": 13, "has_more": True}
    assert page(count="true") == {"total": 36, "total_is_exact": True, "total_at_least": 36, "has_more": True}
    # lender B's loans (k % 3 == 2) are 12: exactly the limit, so exact; its withdrawn ones (k odd
    # too: k = 5, 11, ..., 35) are 6
    assert page(product_id=book["PB"]["id"]) == {
        "total": 12,
        "total_is_exact": True,
        "total_at_least": 12,
        "has_more": True,
    }
    assert page(product_id=book["PB"]["id"], status="withdrawn")["total"] == 6
    # the total is the filtered list's, not what is left after the cursor: 18 withdrawn loans
    first = client.get("/v1/loans", headers=admin, params={"limit": 2, "status": "withdrawn"}).json()
    assert (first["total"], first["total_at_least"]) == (None, 13)
    assert page(status="withdrawn", after=first["next_after"], count="true")["total"] == 18
    # a partner counts its own lender's loans only: lender A's 24
    response = client.get("/v1/loans", headers=book["partner"], params={"count": "true", "limit": 1})
    assert response.json()["total"] == 24


def test_a_cursor_that_this_list_did_not_make_is_refused(client, admin, book):
    for bad in (
        "nonsense",
        "!!",
        cursor_token(["2026-03-01"]),
        cursor_token(["not a date", "x"]),
        "e30",
        cursor_token(["2026-03-01", "a\x00b"]),
    ):
        response = client.get("/v1/loans", headers=admin, params={"after": bad})
        assert_problem(response, 422, "BAD_CURSOR")
    assert_problem(client.get("/v1/loans", headers=admin, params={"after": "x" * 201}), 422)


def test_a_page_costs_the_same_statements_at_any_size_and_depth(client, connection, admin, book):
    def statements(headers=admin, **params) -> int:
        with counting(connection) as seen:
            response = client.get("/v1/loans", headers=headers, params=params)
        assert response.status_code == 200, response.text
        return len(seen)

    deep = client.get("/v1/loans", headers=admin, params={"limit": 30}).json()["next_after"]
    counts = {
        "first page of 1": statements(limit=1),
        "first page of 36": statements(limit=36),
        "a deep page by cursor": statements(limit=5, after=deep),
        "a deep page by offset": statements(limit=5, offset=31),
        "exact count asked": statements(limit=36, count="true"),
        "a partner's": statements(book["partner"], limit=20),
    }
    assert len(set(counts.values())) == 1, counts
