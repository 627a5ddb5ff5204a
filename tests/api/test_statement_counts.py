"""A page costs a fixed number of SQL statements, whatever its size.

The book, as of 2026-09-30 (loans written with the ORM, every payment through the API's
repayment file, so the ledger's position is its own):
- 200 loans late: 1,200.00 disbursed 2026-01-01, 12 x (100 + 12.34) from 1 February; two payments
  of 112.34 (1 February, 1 March) pay installments 1 and 2, so they are late since 1 April;
- 20 loans current: disbursed 2026-07-15, paid on 15 August and 15 September;
- one loan with one installment paid (1 February), and one with 200 payments of 5.00, one a day
  from 2 January (200 x 5.00 = 1,000.00 pays installments 1..8, 8 x 112.34 = 898.72, and part of
  the 9th, due 1 October: nothing late);
- two applications through the API, whose affordability assessments the booked loans share, so
  each listed loan shows an assessment.

For each endpoint the statements of a request for one row and for 200 rows are counted (a
listener on the connection every request's session runs on) and must be equal. The app here reads
the API key on every request (auth_cache_seconds=0): a key trusted for a few seconds would make a
count depend on how long the request before it took.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from sqlalchemy import event, update

from loansvc.config import Settings
from loansvc.db.models import Loan
from loansvc.main import create_app
from tests.api.helpers import create_household, create_lender, create_product, create_site
from tests.api.lending import ELIGIBLE_FINANCES, apply, business_day, named_key
from tests.api.report_book import book_loan, monthly

TODAY = date(2026, 9, 30)


@pytest.fixture()
def app(db, database_url):
    return create_app(Settings(database_url=database_url, auth_cache_seconds=0), database=db)


@contextmanager
def counting(connection) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(connection, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(connection, "before_cursor_execute", count)


def _csv(rows: list[tuple[str, date, str]]) -> bytes:
    lines = [f"{loan_id},{on.isoformat()},{amount},R-{k}" for k, (loan_id, on, amount) in enumerate(rows)]
    return ("loan_id,paid_on,amount,reference\n" + "\n".join(lines) + "\n").encode()


def build(client, session, admin, officer) -> dict:
    world: dict = {"A": create_lender(client, admin)}
    world["PA"] = create_product(client, admin, world["A"]["id"])
    site = create_site(client, officer)
    for k in range(1, 6):
        world[f"H{k}"] = create_household(client, officer, site["id"], **ELIGIBLE_FINANCES)
    assessments = [
        apply(client, admin, world[f"H{k}"]["id"], world["PA"]["id"], "1200", 12)["assessment"]["id"]
        for k in (1, 2)
    ]
    families = itertools.cycle(f"H{k}" for k in range(1, 6))
    payments: list[tuple[str, date, str]] = []

    def book(name: str, disbursed_on: date, first_due: tuple[int, int, int]) -> str:
        tranche = (disbursed_on, "cash", "1200")
        schedule = monthly(*first_due, 12, "100", "12.34")
        return book_loan(
            session, world, name, "A", next(families), "PA", 12, "monthly", "USD", tranche, schedule
        )

    for n in range(200):
        loan_id = book(f"late {n}", date(2026, 1, 1), (2026, 2, 1))
        payments += [(loan_id, date(2026, 2, 1), "112.34"), (loan_id, date(2026, 3, 1), "112.34")]
    for n in range(20):
        loan_id = book(f"current {n}", date(2026, 7, 15), (2026, 8, 15))
        payments += [(loan_id, date(2026, 8, 15), "112.34"), (loan_id, date(2026, 9, 15), "112.34")]
    world["one paid"] = book("one paid", date(2026, 1, 1), (2026, 2, 1))
    payments.append((world["one paid"], date(2026, 2, 1), "112.34"))
    world["busy"] = book("busy", date(2026, 1, 1), (2026, 2, 1))
    payments += [(world["busy"], date(2026, 1, 2) + timedelta(days=k), "5.00") for k in range(200)]
    booked = [v for k, v in world.items() if k.startswith(("late", "current"))]
    for k, loan_id in enumerate(booked):
        session.execute(update(Loan).where(Loan.id == loan_id).values(assessment_id=assessments[k % 2]))
    session.commit()

    data = _csv(payments)
    response = client.post(
        "/v1/repayments/import", headers=admin, files={"file": ("september.csv", data, "text/csv")}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"recorded": len(payments), "duplicates": 0, "rejected": []}
    return world


def test_a_page_costs_the_same_statements_for_1_row_and_for_200(
    client, session, connection, admin, officer, monkeypatch
):
    business_day(monkeypatch, TODAY)
    world = build(client, session, admin, officer)
    busy, one_paid = world["busy"], world["one paid"]

    partner = named_key(session, "MFI credit officer", "partner", world["A"]["id"])
    finance = named_key(session, "programme finance lead", "finance_lead")

    def statements(path: str, rows: int | None = None, *, key: dict = admin, **params) -> int:
        with counting(connection) as seen:
            response = client.get(path, headers=key, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        if rows is not None:  # the page really holds that many rows
            assert len(body["items"]) == rows, (path, params, len(body["items"]))
        return len(seen)

    past = (TODAY - timedelta(days=45)).isoformat()  # figures as of a past day read later movements
    pairs = {
        "loans": (statements("/v1/loans", 1, limit=1), statements("/v1/loans", 200, limit=200)),
        "repayments": (
            statements(f"/v1/loans/{busy}/repayments", 1, limit=1),
            statements(f"/v1/loans/{busy}/repayments", 200, limit=200),
        ),
        "schedule": (statements(f"/v1/loans/{one_paid}/schedule"), statements(f"/v1/loans/{busy}/schedule")),
        "schedule as of": (
            statements(f"/v1/loans/{one_paid}/schedule", as_of=past),
            statements(f"/v1/loans/{busy}/schedule", as_of=past),
        ),
        "delinquent loans": (
            statements("/v1/reports/delinquent-loans", 1, limit=1),
            statements("/v1/reports/delinquent-loans", 200, limit=200),
        ),
        "loans, a partner's": (
            statements("/v1/loans", 1, key=partner, limit=1),
            statements("/v1/loans", 200, key=partner, limit=200),
        ),
        "delinquent loans, a finance lead's": (
            statements("/v1/reports/delinquent-loans", 1, key=finance, limit=1),
            statements("/v1/reports/delinquent-loans", 200, key=finance, limit=200),
        ),
        "delinquent loans as of": (
            statements("/v1/reports/delinquent-loans", 1, limit=1, as_of=past),
            statements("/v1/reports/delinquent-loans", 200, limit=200, as_of=past),
        ),
    }
    assert {name: one for name, (one, _) in pairs.items()} == {
        name: many for name, (_, many) in pairs.items()
    }
