"""exact money on SQLite: amounts stored as scaled integers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

On SQLite every money and quantity column (ExactDecimal(20, 4): Money() and Quantity()) now holds
value x 10^4 as an INTEGER; until now it held a REAL (or decimal text). The columns keep their
NUMERIC(20, 4) declaration, so no table is rebuilt: only the values are rewritten. PostgreSQL keeps
NUMERIC(20, 4) and is left alone in both directions.

Each row is rewritten by one UPDATE setting all its money columns at once, so that CHECK
constraints comparing two of them (max_amount >= min_amount, principal_repaid <= disbursed_amount)
never see one scaled and the other not. A REAL below 10^11 has at most 15 significant digits, so
ROUND(x * 10000) is exact in SQL (one UPDATE per table); the rare larger REAL or text value is
converted in Python the way the old reader read it, Decimal(repr(x)) rounded half up to 4 places.
A value that does not fit a scaled 64-bit integer stops the migration. The downgrade divides by
10000.0 (in Python, through decimal text as the old code bound it, from 2^53 up). The columns are
listed here, not read off the models: they are the money columns as of revision 0004.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCALE = 4
FACTOR = 10**SCALE
SQLITE_MAX = 2**63 - 1
# a REAL below this has at most 11 + 4 significant digits: x * 10^4 rounds back to it exactly in SQL
SQL_SAFE_REAL = 10**11

MONEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "products": ("annual_rate_percent", "min_amount", "max_amount", "installment_multiple", "late_fee"),
    "household_debts": ("installment", "outstanding"),
    "household_expenses": ("amount",),
    "household_incomes": ("amount",),
    "housing_models": ("floor_area_m2",),
    "materials": ("unit_cost", "quantity_on_hand"),
    "loans": ("amount", "approved_amount", "disbursed_amount", "principal_repaid", "written_off_principal"),
    "disbursements": ("amount",),
    "disbursement_lines": ("quantity", "unit_cost", "value"),
    "stock_movements": ("quantity", "unit_cost"),
    "scheduled_installments": (
        "principal",
        "interest",
        "fees",
        "total",
        "balance",
        "paid_principal",
        "paid_interest",
        "paid_fees",
        "paid_penalty",
        "penalty",
        "paid_by_due_date",
    ),
    "repayments": ("amount",),
    "repayment_allocations": ("principal", "interest", "fees", "penalty"),
    "write_offs": ("principal",),
}

_EXACT = Context(prec=100)
# an INTEGER below 2^53 is exact as a REAL, so x / 10000.0 is the REAL nearest the amount
SQL_SAFE_INTEGER = 2**53


def _scaled(table: str, column: str, value):
    """The scaled integer of a value stored the old way (INTEGER, REAL or decimal text)."""
    if value is None:
        return None
    if isinstance(value, int):
        scaled = value * FACTOR
    else:
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
        exact = exact.quantize(Decimal(1).scaleb(-SCALE), rounding=ROUND_HALF_UP, context=_EXACT)
        scaled = int(exact.scaleb(SCALE, context=_EXACT))
    if abs(scaled) > SQLITE_MAX:
        raise ValueError(f"{table}.{column} = {value!r} does not fit a scaled 64-bit integer")
    return scaled


def _unscaled(table: str, column: str, value):
    """A large scaled integer back as the decimal text the old code bound (SQLite then keeps it as a
    REAL, as it did); anything else as it is."""
    if not isinstance(value, int):
        return value
    return format(Decimal(f"{value}E-{SCALE}"), "f")


def _rewrite(table: str, columns: tuple[str, ...], in_python: str, in_sql: str, convert) -> None:
    """Every row of a table, each row with one UPDATE of all its money columns: in SQL, except the
    rows where some value is `in_python` (SQL conditions with {c} for the column), which are read
    first (the bulk UPDATE leaves them alone) and written one by one afterwards."""
    conn = op.get_bind()
    odd = " OR ".join(f"({in_python.format(c=c)})" for c in columns)
    rows = conn.execute(sa.text(f"SELECT rowid, {', '.join(columns)} FROM {table} WHERE {odd}")).all()
    sets = ", ".join(f"{c} = {in_sql.format(c=c)}" for c in columns)
    conn.execute(sa.text(f"UPDATE {table} SET {sets} WHERE NOT ({odd})"))
    by_name = ", ".join(f"{c} = :{c}" for c in columns)
    for rowid, *values in rows:
        new = {c: convert(table, c, v) for c, v in zip(columns, values, strict=True)}
        conn.execute(sa.text(f"UPDATE {table} SET {by_name} WHERE rowid = :rowid"), {**new, "rowid": rowid})


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    in_python = (
        "typeof({c}) = 'text'"
        f" OR (typeof({{c}}) = 'real' AND abs({{c}}) >= {SQL_SAFE_REAL})"
        f" OR (typeof({{c}}) = 'integer' AND abs({{c}}) > {SQLITE_MAX // FACTOR})"
    )
    in_sql = (
        f"CASE typeof({{c}}) WHEN 'integer' THEN {{c}} * {FACTOR}"
        f" WHEN 'real' THEN CAST(ROUND({{c}} * {FACTOR}) AS INTEGER) ELSE {{c}} END"
    )
    for table, columns in MONEY_COLUMNS.items():
        _rewrite(table, columns, in_python, in_sql, _scaled)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # back to REAL (a whole amount becomes an INTEGER again under NUMERIC affinity), as before
    in_python = f"typeof({{c}}) = 'integer' AND abs({{c}}) >= {SQL_SAFE_INTEGER}"
    in_sql = f"CASE typeof({{c}}) WHEN 'integer' THEN {{c}} / {FACTOR}.0 ELSE {{c}} END"
    for table, columns in MONEY_COLUMNS.items():
        _rewrite(table, columns, in_python, in_sql, _unscaled)
