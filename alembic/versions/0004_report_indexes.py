"""partial indexes for the portfolio report's late installments

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_scheduled_installments_unpaid_due",
        "scheduled_installments",
        ["due_date"],
        postgresql_include=["loan_id", "version", "total", "penalty"],
        postgresql_where=sa.text("fully_paid_on IS NULL"),
        sqlite_where=sa.text("fully_paid_on IS NULL"),
    )
    op.create_index(
        "ix_scheduled_installments_paid_on",
        "scheduled_installments",
        ["fully_paid_on"],
        postgresql_include=["loan_id", "version", "due_date", "total", "penalty"],
        postgresql_where=sa.text("fully_paid_on IS NOT NULL"),
        sqlite_where=sa.text("fully_paid_on IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_scheduled_installments_paid_on", table_name="scheduled_installments")
    op.drop_index("ix_scheduled_installments_unpaid_due", table_name="scheduled_installments")
