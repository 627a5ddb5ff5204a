"""capitalised principal: arrears and holiday interest a restructure turned into principal (issue 11)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

A restructure that capitalises overdue interest and fees (`capitalise_arrears`) or a payment
holiday's interest (`holiday_interest: capitalise`) makes that amount principal: it is owed and
repaid as principal, though it was never disbursed. `loans.capitalised_amount` holds it, so that
outstanding principal = disbursed + capitalised - repaid, and the check on repaid principal allows
for it. `restructures.capitalised` records each approved restructure's part, so that a figure as
of a day before a restructure leaves it out. Existing loans have nothing capitalised (0).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "capitalised_amount", sa.Numeric(precision=20, scale=4), server_default="0", nullable=False
            )
        )
        batch_op.drop_constraint(op.f("ck_loans_repaid_within_disbursed"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_loans_repaid_within_disbursed"),
            "principal_repaid >= 0 AND principal_repaid <= disbursed_amount + capitalised_amount",
        )
        batch_op.create_check_constraint(op.f("ck_loans_capitalised_not_negative"), "capitalised_amount >= 0")
    with op.batch_alter_table("restructures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("capitalised", sa.Numeric(precision=20, scale=4), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("restructures", schema=None) as batch_op:
        batch_op.drop_column("capitalised")
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_loans_capitalised_not_negative"), type_="check")
        batch_op.drop_constraint(op.f("ck_loans_repaid_within_disbursed"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_loans_repaid_within_disbursed"), "principal_repaid >= 0 AND principal_repaid <= disbursed_amount"
        )
        batch_op.drop_column("capitalised_amount")
