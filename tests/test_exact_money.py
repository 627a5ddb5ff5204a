"""Money is exact in the database on both engines: every stored value and every SQL sum.

On SQLite an amount is a scaled integer (value x 10^4), so a million payments of 0.10 sum to exactly
100,000.00 through the report query, and so do amounts with four decimals and totals past the 15 or
16 digits a float holds. On PostgreSQL it is NUMERIC(20, 4); the round trips run on both.
"""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import case, func, literal, literal_column, select, text, type_coerce
from sqlalchemy.exc import StatementError

from loansvc.db.base import Money
from loansvc.db.models import Material, Repayment
from loansvc.reports.queries import Scope, collected_rows
from tests.api.helpers import create_household, create_lender, create_product, create_site
from tests.api.report_book import book_loan, monthly

ROUND_TRIP = ["0.1", "1234.5678", "999999999999.9999", "0", "-5.25", "0.0001", "-999999999999.9999"]
MILLION = 1_000_000


def _sqlite(session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


@pytest.mark.parametrize("value", ROUND_TRIP)
def test_a_bound_amount_comes_back_exactly_with_four_places(session, value):
    got = session.scalar(select(literal(Decimal(value), Money())))
    assert got == Decimal(value)
    assert got.as_tuple().exponent == -4, got  # the column's scale, as PostgreSQL returns it
    assert str(got) == format(Decimal(value).quantize(Decimal("0.0001")), "f")


def test_stored_amounts_and_expressions_over_them_are_exact(session):
    values = [Decimal(v) for v in ("0.1", "1234.5678", "999999999999.9999", "0", "0.0001")]
    for n, value in enumerate(values):
        session.add(Material(sku=f"EXACT-{n}", name="rebar", unit="piece", unit_cost=value, currency="USD"))
    session.flush()
    session.expire_all()
    rows = session.execute(
        select(Material.unit_cost).where(Material.sku.like("EXACT-%")).order_by(Material.sku)
    )
    assert [r.unit_cost for r in rows] == values

    mine = Material.sku.like("EXACT-%")
    total, low, high = session.execute(
        select(
            func.sum(Material.unit_cost), func.min(Material.unit_cost), func.max(Material.unit_cost)
        ).where(mine)
    ).one()
    assert (total, low, high) == (sum(values), Decimal(0), Decimal("999999999999.9999"))
    # sums, differences, whole-number multiples, CASE and COALESCE keep the money type
    big = Material.sku == "EXACT-2"
    derived = session.execute(
        select(
            Material.unit_cost + Material.unit_cost,
            Material.unit_cost - Decimal("0.0001"),
            Material.unit_cost * 3,
            case((Material.unit_cost > Decimal("5"), Material.unit_cost), else_=literal_column("0")),
            func.coalesce(Material.unit_cost, literal_column("0")),
            type_coerce(literal_column("0") - Material.unit_cost, Money()),
        ).where(big)
    ).one()
    top = Decimal("999999999999.9999")
    assert tuple(derived) == (2 * top, top - Decimal("0.0001"), 3 * top, top, top, -top)
    # a Python Decimal compared with a column binds at the same scale
    above = select(func.count()).where(mine, Material.unit_cost > Decimal("0.1"))
    assert session.scalar(above) == 2
    assert session.scalar(select(func.count()).where(mine, Material.unit_cost == Decimal("0.10"))) == 1
    if _sqlite(session):  # stored as scaled integers
        raw = session.execute(
            text("SELECT unit_cost, typeof(unit_cost) FROM materials WHERE sku LIKE 'EXACT-%' ORDER BY sku")
        ).all()
        assert [tuple(r) for r in raw] == [
            (1000, "integer"),
            (12345678, "integer"),
            (9999999999999999, "integer"),
            (0, "integer"),
            (1, "integer"),
        ]


def test_binding_rounds_half_up_to_four_places_and_refuses_floats(session):
    for given, stored in (("0.00005", "0.0001"), ("-0.00005", "-0.0001"), ("1.23444", "1.2344")):
        assert session.scalar(select(literal(Decimal(given), Money()))) == Decimal(stored)
    with pytest.raises(StatementError) as caught:
        session.scalar(select(literal(0.1, Money())))
    assert isinstance(caught.value.orig, TypeError)


def test_money_arithmetic_that_would_not_be_exact_is_refused():
    for build in (
        lambda: Repayment.amount * Repayment.amount,
        lambda: Repayment.amount / 2,
        lambda: Repayment.amount * Decimal("1.5"),
        lambda: func.sum(Repayment.amount) / func.count(),
    ):
        with pytest.raises(TypeError):
            build()


@pytest.fixture()
def loan_id(client, session, admin, officer) -> str:
    """One active USD loan, for the payments to hang off."""
    lender = create_lender(client, admin)
    world = {
        "A": lender,
        "PA": create_product(client, admin, lender["id"]),
        "H": create_household(client, officer, create_site(client, officer)["id"]),
    }
    tranche = (date(2026, 1, 1), "cash", "1200")
    return book_loan(
        session, world, "L", "A", "H", "PA", 12, "monthly", "USD", tranche, monthly(2026, 2, 1, 12, "100")
    )


def _insert_payments(session, loan_id: str, tag: str, count: int, paid_on: date, scaled_amount: str) -> None:
    """`count` payments in one statement; `scaled_amount` is SQL over x = 1..count giving value x 10^4."""
    session.execute(
        text(
            "WITH RECURSIVE cnt(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM cnt WHERE x < :count) "
            "INSERT INTO repayments (id, created_at, loan_id, lender_id, site_id, product_id, currency, "
            "amount, paid_on, reference, created_by) "
            "SELECT :tag || x, :now, l.id, l.lender_id, l.site_id, l.product_id, l.currency, "
            f"{scaled_amount}, :paid_on, :tag || x, 'tests' "
            "FROM cnt JOIN loans l ON l.id = :loan"
        ),
        {
            "count": count,
            "tag": tag,
            "now": "2026-06-30 00:00:00.000000",
            "loan": loan_id,
            "paid_on": paid_on.isoformat(),
        },
    )


def _collected(session, start: date, end: date) -> Decimal:
    rows = collected_rows(session, Scope(as_of=end), start)
    assert [row["currency"] for row in rows] == ["USD"]
    return rows[0]["collected"]


def test_a_million_payments_sum_exactly_through_the_report_query(session, loan_id):
    if not _sqlite(session):
        pytest.skip("NUMERIC sums are exact on PostgreSQL; the scaled integers are SQLite's")
    started = time.perf_counter()
    # March: a million payments of 0.10 (1000 minor units)
    _insert_payments(session, loan_id, "tenth-", MILLION, date(2026, 3, 10), "1000")
    # April: a million amounts with four decimals, 0.0001 to 1.0000 (each a hundred times)
    _insert_payments(session, loan_id, "fourth-", MILLION, date(2026, 4, 10), "(x % 10000) + 1")
    # May: 100,000 amounts just under 100 million (99,999,999.9999 less 0 to 0.9972), a total of 17
    # significant digits, more than a float holds
    _insert_payments(session, loan_id, "big-", 100_000, date(2026, 5, 10), "999999999999 - (x % 9973)")
    inserted = time.perf_counter()

    tenths = _collected(session, date(2026, 2, 28), date(2026, 3, 31))
    assert tenths == Decimal("100000.00")
    assert str(tenths) == "100000.0000"
    fourths = _collected(session, date(2026, 3, 31), date(2026, 4, 30))
    assert fourths == sum(Decimal(k % 10000 + 1).scaleb(-4) for k in range(1, MILLION + 1))
    assert fourths == Decimal("500050.0000")
    big = _collected(session, date(2026, 4, 30), date(2026, 5, 31))
    assert big == sum(Decimal(999999999999 - k % 9973).scaleb(-4) for k in range(1, 100_001))
    assert big == Decimal("9999999950260.9635")
    assert Decimal(repr(float(big))) != big  # what a REAL sum could at best have given
    everything = _collected(session, date(2026, 2, 28), date(2026, 5, 31))
    assert everything == tenths + fourths + big
    summed = time.perf_counter() - inserted
    print(f"2.1M payments inserted in {inserted - started:.1f} s, summed in {summed:.1f} s")
