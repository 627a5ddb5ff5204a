"""constraints and indexes for race safety and fast imports (issue 12)

Nothing to add to the schema: every uniqueness rule the races test already has its index
(uq_households_site_parcel, uq_households_title_number, uq_api_keys_name, uq_materials_sku,
pk_household_lenders, uq_loans_open_application, uq_repayments_loan_reference), and what the
fast import reads has its own (repayments (loan_id, reference) and (loan_id, paid_on), the
installments' primary key (loan_id, version, number)). The revision stays in the chain.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # see the docstring: the indexes the issue needs exist since 0003-0007


def downgrade() -> None:
    pass
