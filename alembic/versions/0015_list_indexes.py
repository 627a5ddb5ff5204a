"""list indexes: GET /v1/loans in its own order per filter, and a partner's delinquent list (issue 13)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02

The loans list is ordered newest submission first, then by id (submitted_on DESC, id ASC): each
index holds that order after the filter's columns (none, the partner's lender, the status, both,
the product), so a page reads its `limit + 1` rows off the index, at any depth with the keyset
cursor, and the bounded count stops after 10,001 index entries. A household's loans are few: its
existing index (household_id, status) serves them. The delinquent list of a partner reads its
lender's active loans by oldest late due date (0013's ix_loans_status_oldest_due serves the
unscoped list). Sizes at 1M loans: docs/scaling.md.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

LIST_ORDER = [sa.text("submitted_on DESC"), "id"]
INDEXES = {
    "ix_loans_list": LIST_ORDER,
    "ix_loans_lender_list": ["lender_id", *LIST_ORDER],
    "ix_loans_status_list": ["status", *LIST_ORDER],
    "ix_loans_lender_status_list": ["lender_id", "status", *LIST_ORDER],
    "ix_loans_product_list": ["product_id", *LIST_ORDER],
    "ix_loans_lender_oldest_due": ["lender_id", "status", "oldest_due_on", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "loans", columns, unique=False)


def downgrade() -> None:
    for name in reversed(INDEXES):
        op.drop_index(name, table_name="loans")
