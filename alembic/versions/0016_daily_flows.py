"""daily portfolio flows (issue 13): what moved each day per lender, site, product, currency and kind,
and the days whose flows are complete

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02

The portfolio report's period figures (collected, fallen due, paid by the due date, disbursed,
recoveries, and the principal movements that give the portfolio at the period's start) are sums of
these rows for the days stored, plus the report's own statements for the days not stored yet
(loansvc.snapshots.flows). Nothing is filled here: `loansvc snapshots flows` (nightly) fills them.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=20, scale=4)
KINDS = (
    "collected",
    "recoveries",
    "disbursed_cash",
    "disbursed_materials",
    "principal_repaid",
    "capitalised",
    "fallen_due",
    "paid_by_due_date",
)


def upgrade() -> None:
    op.create_table(
        "portfolio_flow_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_portfolio_flow_days")),
    )
    op.create_table(
        "portfolio_flows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("lender_id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("closed_before", sa.Date(), nullable=True),
        sa.Column("amount", MONEY, nullable=False),
        sa.CheckConstraint(
            f"kind IN ({', '.join(repr(k) for k in KINDS)})", name=op.f("ck_portfolio_flows_kind_valid")
        ),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["lenders.id"], name=op.f("fk_portfolio_flows_lender_id_lenders")
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_portfolio_flows_site_id_sites")),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_portfolio_flows_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_flows")),
    )
    op.create_index("ix_portfolio_flows_day", "portfolio_flows", ["day"], unique=False)
    op.create_index("ix_portfolio_flows_lender_day", "portfolio_flows", ["lender_id", "day"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_portfolio_flows_lender_day", table_name="portfolio_flows")
    op.drop_index("ix_portfolio_flows_day", table_name="portfolio_flows")
    op.drop_table("portfolio_flows")
    op.drop_table("portfolio_flow_days")
