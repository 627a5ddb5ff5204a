"""household language, reminder rules and outbox, webhooks and the event outbox (issue 15)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=5), server_default="km", nullable=False))
    op.create_table(
        "event_outbox",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("lender_id", sa.String(length=36), nullable=False),
        _ts("occurred_at"),
        sa.Column("data", sa.JSON(), nullable=False),
        _ts("dispatched_at", nullable=True),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["lender_id"], ["lenders.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_event_outbox_dispatch", "event_outbox", ["dispatched_at", "created_at"])
    op.create_index("ix_event_outbox_lender", "event_outbox", ["lender_id", "created_at"])
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("lender_id", sa.String(length=36), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=500), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by_key_id", sa.String(length=36), nullable=True),
        _ts("deleted_at", nullable=True),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["lender_id"], ["lenders.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_webhooks_lender", "webhooks", ["lender_id", "active"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("webhook_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"),
        _ts("delivered_at", nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        _ts("created_at"),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status_valid"),
        sa.ForeignKeyConstraint(["webhook_id"], ["webhooks.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["event_outbox.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_webhook_event"),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        _ts("attempted_at"),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["webhook_deliveries.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_webhook_attempts_delivery", "webhook_attempts", ["delivery_id", "number"])
    op.create_table(
        "reminder_rules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("lender_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("template_km", sa.Text(), nullable=False),
        sa.Column("template_en", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _ts("created_at"),
        sa.CheckConstraint("kind IN ('before_due', 'past_due')", name="kind_valid"),
        sa.ForeignKeyConstraint(["lender_id"], ["lenders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lender_id", "kind", "days", name="uq_reminder_rules_lender_kind_days"),
    )
    op.create_table(
        "reminder_messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("rule_key", sa.String(length=40), nullable=False),
        sa.Column("trigger_on", sa.Date(), nullable=False),
        sa.Column("loan_id", sa.String(length=36), nullable=False),
        sa.Column("household_id", sa.String(length=36), nullable=False),
        sa.Column("lender_id", sa.String(length=36), nullable=False),
        sa.Column("installment_number", sa.Integer(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("gateway", sa.String(length=20), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at", nullable=True),
        _ts("sent_at", nullable=True),
        sa.Column("failure_reason", sa.String(length=500), nullable=True),
        _ts("created_at"),
        sa.CheckConstraint("status IN ('queued', 'sent', 'failed')", name="status_valid"),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"]),
        sa.ForeignKeyConstraint(["lender_id"], ["lenders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject", "rule_key", "trigger_on", name="uq_reminder_messages_subject"),
    )
    op.create_index("ix_reminder_messages_status", "reminder_messages", ["status", "next_attempt_at"])
    op.create_index("ix_reminder_messages_household", "reminder_messages", ["household_id", "created_at"])
    op.create_table(
        "reminder_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("window_from", sa.Date(), nullable=False),
        sa.Column("created_messages", sa.Integer(), nullable=False),
        sa.Column("arrears_events", sa.Integer(), nullable=False),
        sa.Column("ran_by", sa.String(length=100), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reminder_runs_as_of", "reminder_runs", ["as_of"])
    op.create_table(
        "household_reminder_opt_outs",
        sa.Column("household_id", sa.String(length=36), nullable=False),
        sa.Column("opted_out_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"]),
        sa.PrimaryKeyConstraint("household_id"),
    )
    op.create_table(
        "loan_arrears_marks",
        sa.Column("loan_id", sa.String(length=36), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("changed_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.PrimaryKeyConstraint("loan_id"),
    )


def downgrade() -> None:
    op.drop_table("loan_arrears_marks")
    op.drop_table("household_reminder_opt_outs")
    op.drop_index("ix_reminder_runs_as_of", table_name="reminder_runs")
    op.drop_table("reminder_runs")
    op.drop_index("ix_reminder_messages_household", table_name="reminder_messages")
    op.drop_index("ix_reminder_messages_status", table_name="reminder_messages")
    op.drop_table("reminder_messages")
    op.drop_table("reminder_rules")
    op.drop_index("ix_webhook_attempts_delivery", table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_webhooks_lender", table_name="webhooks")
    op.drop_table("webhooks")
    op.drop_index("ix_event_outbox_lender", table_name="event_outbox")
    op.drop_index("ix_event_outbox_dispatch", table_name="event_outbox")
    op.drop_table("event_outbox")
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.drop_column("language")
