"""GET /v1/reports/delinquent-loans at any depth: the keyset cursor, the bounded total, offset kept,
and a fixed number of statements whatever the page's size.

The book, as of 2026-09-30 (loans written with the ORM, nothing paid, so each loan's oldest late
due date is its first due date; the positions are then refreshed to today, as the nightly job does):
- loan k (k = 0..11) pays 100.00 a month from the 1st of month 1 + k // 3 of 2026 (January to
  April, three loans a month: ties on the oldest due date, so the id decides their order), lender A
  when k % 4 != 3 (9 loans), else B (3);
- two loans of lender A first due 2026-09-15: 15 days late (in the list from min_days 1, not 30);
- three loans of lender A first due 2026-10-15: not late.
So 14 loans are late (12 from 30 days on), 11 of them lender A's. The list is the oldest late due
date first, then the id: the expected order is worked out here with Python's sort on (first due,
id), never copied from the service.

The app counts exactly up to 5 late loans (list_exact_count_limit=5): a dozen loans show what a
million does beyond 10,000: a null total unless ?count=true. The API key is read on every request
(auth_cache_seconds=0), so the statement counts do not depend on the cache.
"""

from __future__ import annotations

import base64
from datetime import date, timedelta

import pytest

from loansvc.config import Settings
from loansvc.fields import cursor_token
from loansvc.lending import positions
from loansvc.main import create_app
from tests.api.helpers import assert_problem
from tests.api.lending import business_day, named_key
from tests.api.report_book import book_loan, monthly, registry
from tests.api.test_statement_counts import counting

TODAY = date(2026, 9, 30)
LIMIT = 5  # the exact-count limit of this app
PATH = "/v1/reports/delinquent-loans"


@pytest.fixture()
def app(db, database_url):
    settings = Settings(database_url=database_url, auth_cache_seconds=0, list_exact_count_limit=LIMIT)
    return create_app(settings, database=db)


@pytest.fixture()
def book(client, session, admin, officer, monkeypatch) -> dict:
    business_day(monkeypatch, TODAY)
    world = registry(client, admin, officer)
    rows = []  # (first due date, loan id, lender)

    def loan(name: str, lender: str, household: str, first_due: date) -> None:
        schedule = monthly(first_due.year, first_due.month, first_due.day, 12, "100")
        tranche = (first_due - timedelta(days=31), "cash", "1200")
        product = "PA" if lender == "A" else "PB"
        loan_id = book_loan(
            session, world, name, lender, household, product, 12, "monthly", "USD", tranche, schedule
        )
        rows.append((first_due, loan_id, lender))

    for k in range(12):
        lender = "B" if k % 4 == 3 else "A"
        loan(f"L{k}", lender, "H1" if lender == "A" else "H3", date(2026, 1 + k // 3, 1))
    for k in range(2):
        loan(f"F{k}", "A", "H2", date(2026, 9, 15))
    for k in range(3):
        loan(f"C{k}", "A", "H4", date(2026, 10, 15))
    positions.refresh(session, TODAY)
    session.commit()
    world["rows"] = rows
    world["partner"] = named_key(session, "MFI A credit officer", "partner", world["A"]["id"])
    return world


def expected(rows, *, min_days: int = 1, lender: str | None = None) -> list[str]:
    # late by at least min_days on TODAY: first due on or before TODAY - min_days
    cutoff = TODAY - timedelta(days=min_days)
    late = [(due, loan_id) for due, loan_id, who in rows if due <= cutoff and lender in (None, who)]
    return [loan_id for _, loan_id in sorted(late)]


def walk(client, key, page_size: int, **params) -> tuple[list[str], list[dict]]:
    """Every page of the list by `after`, from the first: the ids in order and each body."""
    ids, bodies, after = [], [], None
    for _ in range(100):
        query = {"limit": page_size, **params, **({"after": after} if after else {})}
        response = client.get(PATH, headers=key, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        bodies.append(body)
        ids += [item["loan_id"] for item in body["items"]]
        after = body["next_after"]
        assert body["has_more"] == (after is not None)
        if after is None:
            return ids, bodies
    raise AssertionError("the cursor never ended")


def test_the_book_is_as_described(book):
    assert len(expected(book["rows"])) == 14
    assert len(expected(book["rows"], min_days=30)) == 12
    assert len(expected(book["rows"], lender="A")) == 11


@pytest.mark.parametrize("as_of", [None, (TODAY - timedelta(days=1)).isoformat()])
@pytest.mark.parametrize("page_size", [1, 4, 5, 14, 50])
def test_the_cursor_walks_every_late_loan_once_in_order(client, book, admin, page_size, as_of):
    # as of today the list reads the stored positions; as of yesterday the whole schedule (nothing
    # is dated between: the same loans, every oldest due date at least a month before)
    extra = {"as_of": as_of} if as_of else {}
    ids, bodies = walk(client, admin, page_size, **extra)
    assert ids == expected(book["rows"])  # every late loan once, the oldest late due date first
    assert len(bodies) == -(-14 // page_size)  # ceil(14 / page_size) pages, the last one full or not
    assert [len(b["items"]) for b in bodies[:-1]] == [page_size] * (len(bodies) - 1)
    dates = [item["oldest_due_date"] for b in bodies for item in b["items"]]
    assert dates == sorted(dates)
    for body in bodies:  # each page says the same of the whole list: 14 > 5, counted to 6
        assert (body["total"], body["total_is_exact"], body["total_at_least"]) == (None, False, LIMIT + 1)
        assert (body["limit"], body["offset"]) == (page_size, 0)


def test_min_days_and_a_partner_walk_their_own_list(client, book, admin):
    ids, bodies = walk(client, admin, 5, min_days=30)
    assert ids == expected(book["rows"], min_days=30)
    ids, bodies = walk(client, book["partner"], 3)
    assert ids == expected(book["rows"], lender="A")
    # lender A's 11 late loans: more than 5, counted to 6
    assert (bodies[0]["total"], bodies[0]["total_is_exact"], bodies[0]["total_at_least"]) == (None, False, 6)


def test_the_total_is_exact_up_to_the_limit_and_on_request(client, book, admin):
    # 90 days: first due on or before 2026-07-02: January..April's 12 loans, still above 5
    body = client.get(PATH, headers=admin, params={"min_days": 90, "count": "true"}).json()
    assert (body["total"], body["total_is_exact"], body["total_at_least"]) == (12, True, 12)
    body = client.get(PATH, headers=admin, params={"count": "true", "limit": 2}).json()
    assert (body["total"], body["total_is_exact"], body["total_at_least"], body["has_more"]) == (
        14,
        True,
        14,
        True,
    )
    # 200 days: first due on or before 2026-03-14: January..March's 9 loans; 250 days (on or
    # before 2026-01-23): January's 3, at most 5: exact without asking
    body = client.get(PATH, headers=admin, params={"min_days": 250}).json()
    assert (body["total"], body["total_is_exact"], body["total_at_least"]) == (3, True, 3)
    assert body["has_more"] is False and body["next_after"] is None
    assert [i["loan_id"] for i in body["items"]] == expected(book["rows"], min_days=250)
    assert [i["days_past_due"] for i in body["items"]] == [(TODAY - date(2026, 1, 1)).days] * 3  # 272


def test_offset_is_kept_alone_and_after_a_cursor(client, book, admin):
    order = expected(book["rows"])
    body = client.get(PATH, headers=admin, params={"limit": 3, "offset": 2}).json()
    assert [i["loan_id"] for i in body["items"]] == order[2:5]
    assert body["offset"] == 2 and body["has_more"] is True
    # after the 4th loan (the first page of 4's cursor), skip one: loans 6, 7 and 8 (order[5:8])
    first = client.get(PATH, headers=admin, params={"limit": 4}).json()
    body = client.get(
        PATH, headers=admin, params={"limit": 3, "offset": 1, "after": first["next_after"]}
    ).json()
    assert [i["loan_id"] for i in body["items"]] == order[5:8]
    # an offset past the end: an empty last page
    body = client.get(PATH, headers=admin, params={"offset": 14}).json()
    assert (body["items"], body["has_more"], body["next_after"]) == ([], False, None)


def test_the_cursor_holds_the_last_loans_oldest_due_date_and_id(client, book, admin):
    order = expected(book["rows"])
    body = client.get(PATH, headers=admin, params={"limit": 4}).json()
    due = {loan_id: d for d, loan_id, _ in book["rows"]}
    assert body["next_after"] == cursor_token([due[order[3]].isoformat(), order[3]])
    # a cursor made from any loan's key continues after it (the 8th here)
    token = cursor_token([due[order[7]].isoformat(), order[7]])
    body = client.get(PATH, headers=admin, params={"after": token}).json()
    assert [i["loan_id"] for i in body["items"]] == order[8:]


@pytest.mark.parametrize(
    "after",
    [
        "not-a-cursor!",
        base64.urlsafe_b64encode(b'["2026-01-01"]').decode(),  # one value, not two
        cursor_token(["January", "loan"]),  # not a date
        cursor_token(["2026-01-01", "a\x00b"]),  # a NUL PostgreSQL could never have stored
        "x" * 201,  # longer than any cursor
    ],
)
def test_a_cursor_not_made_by_the_list_is_refused(client, book, admin, after):
    response = client.get(PATH, headers=admin, params={"after": after})
    assert response.status_code == 422, response.text
    if len(after) <= 200:
        assert_problem(response, 422, "BAD_CURSOR")
        # the cursor is a query parameter, and the problem says so
        assert response.json()["errors"][0]["loc"] == ["query", "after"], response.text


def test_a_page_costs_the_same_statements_whatever_its_size_or_depth(client, book, admin, connection):
    order = expected(book["rows"])
    middle = client.get(PATH, headers=admin, params={"limit": 6}).json()["next_after"]

    def statements(**params) -> tuple[int, int]:
        with counting(connection) as seen:
            response = client.get(PATH, headers=admin, params=params)
        assert response.status_code == 200, response.text
        return len(response.json()["items"]), len(seen)

    past = (TODAY - timedelta(days=1)).isoformat()
    one, many = statements(limit=1), statements(limit=14)
    deep, counted = statements(limit=8, after=middle), statements(limit=14, count="true")
    assert [one[0], many[0], deep[0], counted[0]] == [1, 14, len(order) - 6, 14]
    assert one[1] == many[1] == deep[1] == counted[1]
    past_one, past_many = statements(limit=1, as_of=past), statements(limit=14, as_of=past)
    assert (past_one[0], past_many[0]) == (1, 14)
    assert past_one[1] == past_many[1]
