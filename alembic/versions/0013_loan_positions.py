"""loan positions: what the reports need of each loan, kept on its row by the ledger (issue 13)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

The loans row holds its position (see loansvc/lending/positions.py): the outstanding principal
and the oldest due date of an installment still open (both change only with a movement), and the
figures time moves as of `position_as_of` (overdue principal, interest and fees, days past due,
aging bucket, NBC class, next due date and amount), which the nightly `loansvc positions refresh`
moves. The backfill here fills the two time-independent columns of every existing loan with SQL
(on SQLite money is a scaled integer, so the arithmetic is exact on both engines); the others stay
unset (position_as_of NULL) until the first refresh. The index serves the delinquent list and
the current report (status, oldest due date). On PostgreSQL the loans table keeps 15 % of each
page free for the refresh's updates.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=20, scale=4)
BUCKETS = "'current', '1-30', '31-60', '61-90', '91-180', '181-365', '365+'"
CLASSES = "'normal', 'special_mention', 'substandard', 'doubtful', 'loss'"

# outstanding = disbursed + capitalised - repaid for an active loan (0 once closed or written off);
# the oldest due date of the current schedule's installments not fully paid and owing something
BACKFILL = """
UPDATE loans SET
    outstanding_principal = CASE WHEN status = 'active'
        THEN disbursed_amount + capitalised_amount - principal_repaid ELSE 0 END,
    oldest_due_on = CASE WHEN status = 'active' THEN (
        SELECT min(si.due_date) FROM scheduled_installments si
        WHERE si.loan_id = loans.id AND si.version = loans.schedule_version
          AND si.fully_paid_on IS NULL AND si.total + si.penalty > 0
    ) END
"""


def upgrade() -> None:
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outstanding_principal", MONEY, server_default="0", nullable=False))
        batch_op.add_column(sa.Column("oldest_due_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("position_as_of", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("principal_overdue", MONEY, server_default="0", nullable=False))
        batch_op.add_column(sa.Column("interest_overdue", MONEY, server_default="0", nullable=False))
        batch_op.add_column(sa.Column("fees_overdue", MONEY, server_default="0", nullable=False))
        batch_op.add_column(sa.Column("days_past_due", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("arrears_bucket", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("nbc_class", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("next_due_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("next_due_amount", MONEY, nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_loans_outstanding_not_negative"), "outstanding_principal >= 0"
        )
        batch_op.create_check_constraint(
            op.f("ck_loans_overdue_not_negative"),
            "principal_overdue >= 0 AND interest_overdue >= 0 AND fees_overdue >= 0",
        )
        batch_op.create_check_constraint(op.f("ck_loans_days_past_due_not_negative"), "days_past_due >= 0")
        batch_op.create_check_constraint(
            op.f("ck_loans_arrears_bucket_valid"), f"arrears_bucket IN ({BUCKETS})"
        )
        batch_op.create_check_constraint(op.f("ck_loans_nbc_class_valid"), f"nbc_class IN ({CLASSES})")
        batch_op.create_index("ix_loans_status_oldest_due", ["status", "oldest_due_on", "id"], unique=False)
    op.execute(BACKFILL)
    if op.get_bind().dialect.name == "postgresql":
        # the nightly refresh rewrites the late loans' rows: room on each page keeps those updates
        # on the page (HOT, no index entry rewritten) when no indexed column changes
        op.execute("ALTER TABLE loans SET (fillfactor = 85)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE loans RESET (fillfactor)")
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_index("ix_loans_status_oldest_due")
        for name in (
            "nbc_class_valid",
            "arrears_bucket_valid",
            "days_past_due_not_negative",
            "overdue_not_negative",
            "outstanding_not_negative",
        ):
            batch_op.drop_constraint(op.f(f"ck_loans_{name}"), type_="check")
        for column in (
            "next_due_amount",
            "next_due_on",
            "nbc_class",
            "arrears_bucket",
            "days_past_due",
            "fees_overdue",
            "interest_overdue",
            "principal_overdue",
            "position_as_of",
            "oldest_due_on",
            "outstanding_principal",
        ):
            batch_op.drop_column(column)
