"""an index that carries what a day's flows read of each installment's loan

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04

`ix_loans_flow_lookup`: the loan's id, carrying (PostgreSQL INCLUDE) what the statements over a
day's installments falling due and its tranches read of their loan: the current schedule version,
the status, the days it closed or was written off, and its report keys
(models.lending.FLOW_LOOKUP_COLUMNS). Today's part of the current report and the nightly flows fill
look up one loan per installment due that day (about 48,600 at 1M loans on a month end); through
this index each lookup reads the index alone instead of a page of the wide loans table (measured
at 1M loans: docs/benchmarks.md). On SQLite (no INCLUDE) it is an index on the id alone.
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

INCLUDE = [
    "schedule_version",
    "status",
    "closed_on",
    "written_off_on",
    "lender_id",
    "site_id",
    "product_id",
    "currency",
]


def upgrade() -> None:
    op.create_index("ix_loans_flow_lookup", "loans", ["id"], unique=False, postgresql_include=INCLUDE)


def downgrade() -> None:
    op.drop_index("ix_loans_flow_lookup", table_name="loans")
