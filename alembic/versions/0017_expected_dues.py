"""expected dues on the loans row: what each active loan still owes in the report's six windows

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02

The portfolio report's expected collections (loansvc.lending.expected): `expected_as_of` and
`expected_1` .. `expected_6`, what the open installments of the loan's current schedule version
still owe (total + penalty - paid) in each window of months_after(expected_as_of): the rest of the
month of the anchor's next day, then five whole calendar months. The ledger keeps them with every
movement; the nightly `loansvc positions refresh` moves the anchor to its day. Nothing is filled
here: until the first refresh the anchor is NULL and the report reads the installments (exact).
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=20, scale=4)
WINDOWS = 6


def upgrade() -> None:
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expected_as_of", sa.Date(), nullable=True))
        for k in range(1, WINDOWS + 1):
            batch_op.add_column(sa.Column(f"expected_{k}", MONEY, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("loans", schema=None) as batch_op:
        for k in range(WINDOWS, 0, -1):
            batch_op.drop_column(f"expected_{k}")
        batch_op.drop_column("expected_as_of")
