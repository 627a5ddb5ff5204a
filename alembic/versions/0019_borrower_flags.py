"""a household's later active loans flagged, so the current report counts borrowers in its one scan

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03

`loans.later_in_currency`, `later_with_lender`, `later_in_product`, `later_with_lender_product`
(loansvc.lending.borrowers): 1 when the loan is active and its household has an active loan with a
smaller id in the same currency (and lender, product, both); 0 otherwise. Filled here for the loans
that need a 1 (the later loans of households with several: a household with one loan is written
nothing). `ix_loans_active_positions` is built again to carry them (PostgreSQL INCLUDE).
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

ACTIVE = "status = 'active'"
FLAGS = {
    "later_in_currency": "currency",
    "later_with_lender": "currency, lender_id",
    "later_in_product": "currency, product_id",
    "later_with_lender_product": "currency, lender_id, product_id",
}
BEFORE = [
    "site_id",
    "product_id",
    "id",
    "schedule_version",
    "restructured_on",
    "restructured_from_number",
    "term",
    "periods_per_year",
    "apr_percent",
    "outstanding_principal",
    "oldest_due_on",
    "expected_as_of",
    *(f"expected_{k}" for k in range(1, 7)),
]


def _index(include: list[str]) -> None:
    op.create_index(
        "ix_loans_active_positions",
        "loans",
        ["currency", "household_id", "lender_id"],
        unique=False,
        postgresql_include=include,
        postgresql_where=sa.text(ACTIVE),
        sqlite_where=sa.text(ACTIVE),
    )


def upgrade() -> None:
    with op.batch_alter_table("loans", schema=None) as batch_op:
        for name in FLAGS:
            batch_op.add_column(sa.Column(name, sa.SmallInteger(), server_default="0", nullable=False))
    windows = ",\n".join(
        f"CASE WHEN row_number() OVER (PARTITION BY household_id, {same} ORDER BY id) > 1 THEN 1 ELSE 0 END AS {name}"
        for name, same in FLAGS.items()
    )
    sets = ", ".join(f"{name} = f.{name}" for name in FLAGS)
    some = " + ".join(f"f.{name}" for name in FLAGS)
    op.execute(
        f"UPDATE loans SET {sets} FROM (SELECT id, {windows} FROM loans WHERE {ACTIVE}) AS f "
        f"WHERE loans.id = f.id AND {some} > 0"
    )
    op.drop_index("ix_loans_active_positions", table_name="loans")
    _index([*BEFORE, *FLAGS])


def downgrade() -> None:
    op.drop_index("ix_loans_active_positions", table_name="loans")
    _index(BEFORE)
    with op.batch_alter_table("loans", schema=None) as batch_op:
        for name in reversed(FLAGS):
            batch_op.drop_column(name)
