"""collateral and title custody, complaints, collection contacts and promises (issue 15)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=20, scale=4)
UNRELEASED = "released_on IS NULL"
HAS_PROMISE = "promise_due_on IS NOT NULL"


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _collateral() -> None:
    op.create_table(
        "collateral",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("loan_id", sa.String(length=36), nullable=False),
        sa.Column("household_id", sa.String(length=36), nullable=False),
        sa.Column("held_by_lender_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title_number", sa.String(length=50), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("storage_location", sa.String(length=200), nullable=True),
        sa.Column("value", MONEY, nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("released_on", sa.Date(), nullable=True),
        sa.Column("released_to", sa.String(length=200), nullable=True),
        sa.Column("receipt_reference", sa.String(length=100), nullable=True),
        sa.Column("release_reason", sa.String(length=2000), nullable=True),
        sa.Column("released_by", sa.String(length=100), nullable=True),
        _ts("created_at"),
        sa.CheckConstraint(
            "kind IN ('land_title', 'movable', 'guarantor')", name=op.f("ck_collateral_kind_valid")
        ),
        sa.CheckConstraint(
            "(kind = 'land_title' AND title_number IS NOT NULL)"
            " OR (kind != 'land_title' AND title_number IS NULL)",
            name=op.f("ck_collateral_title_number_for_land_title"),
        ),
        sa.CheckConstraint("value IS NULL OR value > 0", name=op.f("ck_collateral_value_positive")),
        sa.CheckConstraint(
            "released_on IS NULL OR released_on >= received_on",
            name=op.f("ck_collateral_released_after_received"),
        ),
        sa.CheckConstraint(
            "released_on IS NULL OR (released_to IS NOT NULL AND receipt_reference IS NOT NULL)",
            name=op.f("ck_collateral_release_receipted"),
        ),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_collateral_loan_id_loans")),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_collateral_household_id_households")
        ),
        sa.ForeignKeyConstraint(
            ["held_by_lender_id"], ["lenders.id"], name=op.f("fk_collateral_held_by_lender_id_lenders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collateral")),
    )
    op.create_index(op.f("ix_collateral_loan_id"), "collateral", ["loan_id"], unique=False)
    op.create_index(op.f("ix_collateral_household_id"), "collateral", ["household_id"], unique=False)
    op.create_index("ix_collateral_lender_kind", "collateral", ["held_by_lender_id", "kind"], unique=False)
    op.create_index(
        "uq_collateral_held_title",
        "collateral",
        ["title_number"],
        unique=True,
        postgresql_where=sa.text(UNRELEASED),
        sqlite_where=sa.text(UNRELEASED),
    )


def _complaints() -> None:
    op.create_table(
        "complaints",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("household_id", sa.String(length=36), nullable=True),
        sa.Column("lender_id", sa.String(length=36), nullable=True),
        sa.Column("loan_id", sa.String(length=36), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("description", sa.String(length=4000), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("complainant_name", sa.String(length=200), nullable=True),
        sa.Column("anonymous", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=20), server_default="open", nullable=False),
        sa.Column("resolution", sa.String(length=4000), nullable=True),
        sa.Column("resolved_on", sa.Date(), nullable=True),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_by_role", sa.String(length=20), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=True),
        _ts("updated_at"),
        _ts("created_at"),
        sa.CheckConstraint(
            "channel IN ('phone', 'visit', 'letter', 'hotline')", name=op.f("ck_complaints_channel_valid")
        ),
        sa.CheckConstraint(
            "category IN ('pricing', 'collection_practice', 'title_not_returned', 'data_privacy', 'service',"
            " 'other')",
            name=op.f("ck_complaints_category_valid"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'in_progress', 'resolved', 'rejected')",
            name=op.f("ck_complaints_status_valid"),
        ),
        sa.CheckConstraint(
            "(status IN ('resolved', 'rejected') AND resolved_on IS NOT NULL AND resolution IS NOT NULL)"
            " OR (status IN ('open', 'in_progress') AND resolved_on IS NULL)",
            name=op.f("ck_complaints_closed_with_resolution"),
        ),
        sa.CheckConstraint(
            "resolved_on IS NULL OR resolved_on >= received_on",
            name=op.f("ck_complaints_resolved_after_received"),
        ),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_complaints_household_id_households")
        ),
        sa.ForeignKeyConstraint(["lender_id"], ["lenders.id"], name=op.f("fk_complaints_lender_id_lenders")),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_complaints_loan_id_loans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaints")),
    )
    op.create_index(op.f("ix_complaints_household_id"), "complaints", ["household_id"], unique=False)
    op.create_index(op.f("ix_complaints_loan_id"), "complaints", ["loan_id"], unique=False)
    op.create_index("ix_complaints_lender_status", "complaints", ["lender_id", "status"], unique=False)
    op.create_index("ix_complaints_received_on", "complaints", ["received_on"], unique=False)


def _contacts() -> None:
    op.create_table(
        "collection_contacts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("loan_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("contacted_on", sa.Date(), nullable=False),
        sa.Column("contacted_by", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.Column("promise_amount", MONEY, nullable=True),
        sa.Column("promise_due_on", sa.Date(), nullable=True),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        _ts("created_at"),
        sa.CheckConstraint(
            "kind IN ('visit', 'call', 'message')", name=op.f("ck_collection_contacts_kind_valid")
        ),
        sa.CheckConstraint(
            "outcome IN ('reached', 'not_reached', 'refused')",
            name=op.f("ck_collection_contacts_outcome_valid"),
        ),
        sa.CheckConstraint(
            "(promise_amount IS NULL AND promise_due_on IS NULL)"
            " OR (promise_amount > 0 AND promise_due_on >= contacted_on AND outcome = 'reached')",
            name=op.f("ck_collection_contacts_promise_valid"),
        ),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_collection_contacts_loan_id_loans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_contacts")),
    )
    op.create_index(
        "ix_collection_contacts_loan", "collection_contacts", ["loan_id", "contacted_on"], unique=False
    )
    op.create_index(
        "ix_collection_contacts_promise_due",
        "collection_contacts",
        ["promise_due_on"],
        unique=False,
        postgresql_where=sa.text(HAS_PROMISE),
        sqlite_where=sa.text(HAS_PROMISE),
    )


def upgrade() -> None:
    _collateral()
    _complaints()
    _contacts()


def downgrade() -> None:
    op.drop_index("ix_collection_contacts_promise_due", table_name="collection_contacts")
    op.drop_index("ix_collection_contacts_loan", table_name="collection_contacts")
    op.drop_table("collection_contacts")
    op.drop_index("ix_complaints_received_on", table_name="complaints")
    op.drop_index("ix_complaints_lender_status", table_name="complaints")
    op.drop_index(op.f("ix_complaints_loan_id"), table_name="complaints")
    op.drop_index(op.f("ix_complaints_household_id"), table_name="complaints")
    op.drop_table("complaints")
    op.drop_index("uq_collateral_held_title", table_name="collateral")
    op.drop_index("ix_collateral_lender_kind", table_name="collateral")
    op.drop_index(op.f("ix_collateral_household_id"), table_name="collateral")
    op.drop_index(op.f("ix_collateral_loan_id"), table_name="collateral")
    op.drop_table("collateral")
