"""month-end portfolio snapshots (issue 13): the positions per lender, site, product, currency, bucket
and class at each month end taken, and the months taken

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02

The PAR trend and a past month-end report read these rows instead of recomputing every loan's
position at each month end (loansvc.snapshots). A month's row in portfolio_snapshot_months says its
snapshot rows are complete (an empty portfolio has none), and which rate cap the loans above the
cap were counted against. Nothing is filled here: a month is taken by `loansvc snapshots take` or
by the first report that needs it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=20, scale=4)
BUCKETS = ("current", "1-30", "31-60", "61-90", "91-180", "181-365", "365+")
CLASSES = ("normal", "special_mention", "substandard", "doubtful", "loss")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "portfolio_snapshot_months",
        sa.Column("month_end", sa.Date(), nullable=False),
        sa.Column("rate_cap_percent", sa.Numeric(precision=12, scale=6), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("month_end", name=op.f("pk_portfolio_snapshot_months")),
    )
    op.create_table(
        "portfolio_snapshots",
        sa.Column("month_end", sa.Date(), nullable=False),
        sa.Column("lender_id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("bucket", sa.String(length=10), nullable=False),
        sa.Column("loan_class", sa.String(length=20), nullable=False),
        sa.Column("loans", sa.Integer(), nullable=False),
        sa.Column("principal", MONEY, nullable=False),
        sa.Column("par1", MONEY, nullable=False),
        sa.Column("par30", MONEY, nullable=False),
        sa.Column("par90", MONEY, nullable=False),
        sa.Column("apr_above_cap", sa.Integer(), nullable=False),
        sa.Column("apr_above_cap_balance", MONEY, nullable=False),
        sa.Column("restructured", sa.Integer(), nullable=False),
        sa.Column("restructured_balance", MONEY, nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_in("bucket", BUCKETS), name=op.f("ck_portfolio_snapshots_bucket_valid")),
        sa.CheckConstraint(_in("loan_class", CLASSES), name=op.f("ck_portfolio_snapshots_loan_class_valid")),
        sa.CheckConstraint(
            "loans > 0 AND apr_above_cap >= 0 AND apr_above_cap <= loans AND restructured >= 0"
            " AND restructured <= loans",
            name=op.f("ck_portfolio_snapshots_counts_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["lenders.id"], name=op.f("fk_portfolio_snapshots_lender_id_lenders")
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_portfolio_snapshots_site_id_sites")),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_portfolio_snapshots_product_id_products")
        ),
        sa.PrimaryKeyConstraint(
            "month_end",
            "lender_id",
            "site_id",
            "product_id",
            "currency",
            "bucket",
            "loan_class",
            name=op.f("pk_portfolio_snapshots"),
        ),
    )
    op.create_index(
        "ix_portfolio_snapshots_lender_month", "portfolio_snapshots", ["lender_id", "month_end"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_portfolio_snapshots_lender_month", table_name="portfolio_snapshots")
    op.drop_table("portfolio_snapshots")
    op.drop_table("portfolio_snapshot_months")
