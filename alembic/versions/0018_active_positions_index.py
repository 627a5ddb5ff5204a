"""the loan's site on its row, and one narrow index over the active loans' positions

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02

`loans.site_id`: the household's site, copied when the loan is created (a household never
changes site: HouseholdPatch has no site_id), so a report grouped by site reads no household.

`ix_loans_active_positions`: the active loans (status = 'active': the portfolio as of today),
ordered by currency and household, carrying every column the current portfolio report, the
PAR-trend's current point and the expected collections read (PostgreSQL INCLUDE). Those
statements become index-only scans of it (about a seventh of the loans table's pages at 1M loans),
and its order gives the distinct borrowers per currency without a sort or a hash. On SQLite (no
INCLUDE) it is the same partial index on its two key columns.

`ix_loans_active_restructured`: the few active restructured loans, whose watch the report works
out first (a hashed lookup in the scan of the first index).
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

ACTIVE = "status = 'active'"
RESTRUCTURED = "status = 'active' AND restructured_on IS NOT NULL"
INCLUDE = [
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


def upgrade() -> None:
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("site_id", sa.String(length=36), nullable=True))
    op.execute(
        "UPDATE loans SET site_id = (SELECT households.site_id FROM households WHERE households.id = loans.household_id)"
    )
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.alter_column("site_id", existing_type=sa.String(length=36), nullable=False)
        batch_op.create_foreign_key(batch_op.f("fk_loans_site_id_sites"), "sites", ["site_id"], ["id"])
    op.create_index(
        "ix_loans_active_positions",
        "loans",
        ["currency", "household_id", "lender_id"],
        unique=False,
        postgresql_include=INCLUDE,
        postgresql_where=sa.text(ACTIVE),
        sqlite_where=sa.text(ACTIVE),
    )
    op.create_index(
        "ix_loans_active_restructured",
        "loans",
        ["id"],
        unique=False,
        postgresql_include=["restructured_on", "schedule_version", "restructured_from_number"],
        postgresql_where=sa.text(RESTRUCTURED),
        sqlite_where=sa.text(RESTRUCTURED),
    )


def downgrade() -> None:
    op.drop_index("ix_loans_active_restructured", table_name="loans")
    op.drop_index("ix_loans_active_positions", table_name="loans")
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_loans_site_id_sites"), type_="foreignkey")
        batch_op.drop_column("site_id")
