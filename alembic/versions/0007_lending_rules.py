"""the programme's lending rules: consents, reviews, one open application, one title per parcel,
household search, the application's true cost, fees withheld at disbursement, gated materials

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=20, scale=4)
RATE = sa.Numeric(precision=12, scale=6)


def upgrade() -> None:
    op.create_table(
        "consents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("household_id", sa.String(length=36), nullable=False),
        sa.Column("lender_id", sa.String(length=36), nullable=False),
        sa.Column("given_on", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=30), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("withdrawn_on", sa.Date(), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=100), nullable=True),
        sa.Column("withdrawal_reason", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "method IN ('signed_form', 'thumbprint', 'verbal_witnessed')",
            name=op.f("ck_consents_method_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_consents_household_id_households")
        ),
        sa.ForeignKeyConstraint(["lender_id"], ["lenders.id"], name=op.f("fk_consents_lender_id_lenders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index("ix_consents_household_lender", "consents", ["household_id", "lender_id"], unique=False)
    op.create_table(
        "loan_reviews",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("loan_id", sa.String(length=36), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.Column("reviewed_on", sa.Date(), nullable=False),
        sa.Column("reviewed_by", sa.String(length=100), nullable=False),
        sa.Column("reviewed_by_key_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('cleared', 'not_cleared')", name=op.f("ck_loan_reviews_outcome_valid")
        ),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_loan_reviews_loan_id_loans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_reviews")),
    )
    op.create_index(op.f("ix_loan_reviews_loan_id"), "loan_reviews", ["loan_id"], unique=False)
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("apr_percent", RATE, nullable=True))
        batch_op.add_column(sa.Column("eir_percent", RATE, nullable=True))
    with op.batch_alter_table("disbursements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fees_withheld", MONEY, server_default="0", nullable=False))
        batch_op.add_column(sa.Column("net_amount", MONEY, nullable=True))
    op.execute("UPDATE disbursements SET net_amount = amount")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("materials_gated", sa.Boolean(), server_default="1", nullable=False))
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_text", sa.String(length=500), nullable=True))
    op.create_index("ix_households_search_text", "households", ["search_text"], unique=False)
    op.create_index(
        "uq_households_title_number",
        "households",
        ["title_number"],
        unique=True,
        postgresql_where=sa.text("title_number IS NOT NULL"),
        sqlite_where=sa.text("title_number IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_households_title_number", table_name="households")
    op.drop_index("ix_households_search_text", table_name="households")
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.drop_column("search_text")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("materials_gated")
    with op.batch_alter_table("disbursements", schema=None) as batch_op:
        batch_op.drop_column("net_amount")
        batch_op.drop_column("fees_withheld")
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_column("eir_percent")
        batch_op.drop_column("apr_percent")
    op.drop_index(op.f("ix_loan_reviews_loan_id"), table_name="loan_reviews")
    op.drop_table("loan_reviews")
    op.drop_index("ix_consents_household_lender", table_name="consents")
    op.drop_table("consents")
