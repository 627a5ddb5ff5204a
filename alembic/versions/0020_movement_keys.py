"""the loan's report keys copied on its payments and their allocations, so a day's flows are summed
from the movement rows alone

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03

`repayments` and `repayment_allocations` gain `lender_id`, `site_id`, `product_id` and `currency`
(models.repayments.LoanKeys): the loan's, which never change, written with each row by the ledger.
The report's flows of the days not stored yet (today's) and the nightly fill then read a day's
payments and allocations without a lookup of each one's loan (loansvc.reports.queries.flow_parts).
Filled here from the loans; on PostgreSQL the fill rewrites both tables once (about 20 million rows
at a million loans): run `VACUUM ANALYZE repayments, repayment_allocations` after it. The columns
admit NULL so that SQLite adds them in place: making them NOT NULL there would rebuild the tables,
which the foreign keys of their rows forbid; the ledger always writes them and `positions verify`
checks every copy against its loan.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

TABLES = ("repayments", "repayment_allocations")
KEYS = {
    "lender_id": sa.String(length=36),
    "site_id": sa.String(length=36),
    "product_id": sa.String(length=36),
    "currency": sa.String(length=3),
}


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, type_ in KEYS.items():
                batch_op.add_column(sa.Column(name, type_, nullable=True))
        sets = ", ".join(f"{name} = loans.{name}" for name in KEYS)
        op.execute(f"UPDATE {table} SET {sets} FROM loans WHERE loans.id = {table}.loan_id")


def downgrade() -> None:
    # in place on both (SQLite 3.35+): a rebuilt table would break its rows' foreign keys on SQLite
    for table in reversed(TABLES):
        for name in reversed(KEYS):
            op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
