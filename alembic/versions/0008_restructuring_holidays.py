"""restructure requests, the holiday calendar, the record of each schedule version (issue 11)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_versions",
        sa.Column("loan_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("starts_at_number", sa.Integer(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("previous_version", sa.Integer(), nullable=True),
        sa.Column("repayment_id", sa.String(length=36), nullable=True),
        sa.Column("restructure_id", sa.String(length=36), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('disbursement', 'prepayment', 'restructure', 'holiday', 'replay')", name="kind_valid"
        ),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.PrimaryKeyConstraint("loan_id", "version"),
    )
    # every version written so far came from a disbursement
    op.execute(
        "INSERT INTO schedule_versions (loan_id, version, kind, starts_at_number, effective_on, created_at) "
        "SELECT DISTINCT si.loan_id, si.version, 'disbursement', 1, "
        "COALESCE(l.first_disbursed_on, l.submitted_on), CURRENT_TIMESTAMP "
        "FROM scheduled_installments si JOIN loans l ON l.id = si.loan_id"
    )
    op.create_table(
        "restructures",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("loan_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("preview", sa.JSON(), nullable=False),
        sa.Column("requested_on", sa.Date(), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_by_key_id", sa.String(length=36), nullable=False),
        sa.Column("based_on_version", sa.Integer(), nullable=False),
        sa.Column("based_on_payments", sa.Integer(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.String(length=2000), nullable=True),
        sa.Column("schedule_version", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('requested', 'approved', 'rejected')", name="status_valid"),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_restructures_loan", "restructures", ["loan_id", "created_at"])
    op.create_table(
        "holidays",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("lender_id", sa.String(length=36), nullable=True),
        sa.Column("added_on", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["lender_id"], ["lenders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lender_id", "date", name="uq_holidays_lender_date"),
    )
    op.create_index("ix_holidays_date", "holidays", ["date"])
    op.create_index(
        "uq_holidays_programme_date",
        "holidays",
        ["date"],
        unique=True,
        postgresql_where=sa.text("lender_id IS NULL"),
        sqlite_where=sa.text("lender_id IS NULL"),
    )
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("restructure_count", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("restructured_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("restructured_from_number", sa.Integer(), nullable=True))
    with op.batch_alter_table("lenders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("non_working_weekdays", sa.JSON(), server_default="[]", nullable=False))
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("holiday_rule", sa.String(length=30), server_default="next_working_day", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("holiday_rule")
    with op.batch_alter_table("lenders", schema=None) as batch_op:
        batch_op.drop_column("non_working_weekdays")
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_column("restructured_from_number")
        batch_op.drop_column("restructured_on")
        batch_op.drop_column("restructure_count")
    op.drop_index("uq_holidays_programme_date", table_name="holidays")
    op.drop_index("ix_holidays_date", table_name="holidays")
    op.drop_table("holidays")
    op.drop_index("ix_restructures_loan", table_name="restructures")
    op.drop_table("restructures")
    op.drop_table("schedule_versions")
