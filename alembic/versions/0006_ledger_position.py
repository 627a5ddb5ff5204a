"""the ledger's position on each loan, recoveries, and the whole contract in the frozen terms

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

- loans: credit_balance, recovered_amount, first_unpaid_number (kept by the ledger with every
  movement) and periods_per_year (from the frozen terms, for the classification in SQL);
- repayments: kind (repayment | recovery);
- repayment_allocations: an index on (loan_id, paid_on) for "what was paid after a date";
- the frozen terms of approved loans gain the product's repayment rules (allocation order, late
  fee, credit balance, prepayment), so nothing reads the product after approval.
"""

from __future__ import annotations

import json
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

PERIODS_PER_YEAR = {"monthly": 12, "quarterly": 4, "every_4_weeks": 13, "biweekly": 26, "weekly": 52}

loans = sa.table(
    "loans",
    sa.column("id", sa.String),
    sa.column("product_id", sa.String),
    sa.column("terms", sa.JSON),
    sa.column("periods_per_year", sa.Integer),
)
products = sa.table(
    "products",
    sa.column("id", sa.String),
    sa.column("allocation_order", sa.JSON),
    sa.column("prepayment", sa.String),
    sa.column("allow_credit_balance", sa.Boolean),
    sa.column("late_fee", sa.Numeric(20, 4)),
    sa.column("late_fee_after_days", sa.Integer),
)


def upgrade() -> None:
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("credit_balance", sa.Numeric(precision=20, scale=4), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "recovered_amount", sa.Numeric(precision=20, scale=4), server_default="0", nullable=False
            )
        )
        batch_op.add_column(sa.Column("first_unpaid_number", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("periods_per_year", sa.Integer(), nullable=True))
        batch_op.create_check_constraint("credit_not_negative", "credit_balance >= 0")
        batch_op.create_check_constraint("recovered_not_negative", "recovered_amount >= 0")
    with op.batch_alter_table("repayments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=20), server_default="repayment", nullable=False)
        )
        batch_op.create_check_constraint("kind_valid", "kind IN ('repayment', 'recovery')")
    op.create_index(
        "ix_repayment_allocations_loan_paid_on", "repayment_allocations", ["loan_id", "paid_on"], unique=False
    )
    # the first installment not fully paid, and the credit: what was paid beyond the allocations
    op.execute(
        "UPDATE loans SET first_unpaid_number = (SELECT min(si.number) FROM scheduled_installments si "
        "WHERE si.loan_id = loans.id AND si.version = loans.schedule_version AND si.fully_paid_on IS NULL)"
    )
    op.execute(
        "UPDATE loans SET credit_balance = COALESCE((SELECT sum(r.amount) FROM repayments r "
        "WHERE r.loan_id = loans.id AND NOT EXISTS (SELECT 1 FROM repayment_reversals v "
        "WHERE v.repayment_id = r.id)), 0) - COALESCE((SELECT sum(a.principal + a.interest + a.fees "
        "+ a.penalty) FROM repayment_allocations a WHERE a.loan_id = loans.id), 0) "
        "WHERE EXISTS (SELECT 1 FROM repayments r WHERE r.loan_id = loans.id)"
    )
    _freeze_repayment_rules()


def _freeze_repayment_rules() -> None:
    bind = op.get_bind()
    rules = {p.id: p for p in bind.execute(sa.select(products))}
    for loan in bind.execute(sa.select(loans.c.id, loans.c.product_id, loans.c.terms)).all():
        terms = loan.terms
        if isinstance(terms, str):  # a JSON column read back without its type on some drivers
            terms = json.loads(terms)
        if not terms or "annual_rate_percent" not in terms:
            continue
        product = rules[loan.product_id]
        late_fee = product.late_fee
        if late_fee is not None and bind.dialect.name == "sqlite":
            late_fee = Decimal(int(late_fee)).scaleb(-4)  # SQLite keeps money as scaled integers (0005)
        terms = {
            **terms,
            "allocation_order": terms.get("allocation_order") or product.allocation_order,
            "prepayment": terms.get("prepayment") or product.prepayment or "reduce_term",
            "allow_credit_balance": bool(terms.get("allow_credit_balance", product.allow_credit_balance)),
            "late_fee": terms.get("late_fee", None if late_fee is None else str(late_fee)),
            "late_fee_after_days": terms.get("late_fee_after_days", product.late_fee_after_days or 0),
        }
        bind.execute(
            loans.update()
            .where(loans.c.id == loan.id)
            .values(terms=terms, periods_per_year=PERIODS_PER_YEAR.get(terms.get("frequency"), 12))
        )


def downgrade() -> None:
    op.drop_index("ix_repayment_allocations_loan_paid_on", table_name="repayment_allocations")
    with op.batch_alter_table("repayments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_repayments_kind_valid"), type_="check")
        batch_op.drop_column("kind")
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_loans_recovered_not_negative"), type_="check")
        batch_op.drop_constraint(op.f("ck_loans_credit_not_negative"), type_="check")
        batch_op.drop_column("periods_per_year")
        batch_op.drop_column("first_unpaid_number")
        batch_op.drop_column("recovered_amount")
        batch_op.drop_column("credit_balance")
