"""the programme's lending rules: consents, reviews, one open application, one title per parcel,
household search, the application's true cost, fees withheld at disbursement, gated materials

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=20, scale=4)
RATE = sa.Numeric(precision=12, scale=6)


def upgrade() -> None:
    op.create_table(
        "consents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("household_id", sa.String(length=36), nullable=False),
        sa.Column("lender_id", sa.String(length=36), nullable=False),
        sa.Column("given_on", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=30), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("withdrawn_on", sa.Date(), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=100), nullable=True),
        sa.Column("withdrawal_reason", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "method IN ('signed_form', 'thumbprint', 'verbal_witnessed')",
            name=op.f("ck_consents_method_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_consents_household_id_households")
        ),
        sa.ForeignKeyConstraint(["lender_id"], ["lenders.id"], name=op.f("fk_consents_lender_id_lenders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index("ix_consents_household_lender", "consents", ["household_id", "lender_id"], unique=False)
    op.create_table(
        "loan_reviews",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("loan_id", sa.String(length=36), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.Column("reviewed_on", sa.Date(), nullable=False),
        sa.Column("reviewed_by", sa.String(length=100), nullable=False),
        sa.Column("reviewed_by_key_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('cleared', 'not_cleared')", name=op.f("ck_loan_reviews_outcome_valid")
        ),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_loan_reviews_loan_id_loans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_reviews")),
    )
    op.create_index(op.f("ix_loan_reviews_loan_id"), "loan_reviews", ["loan_id"], unique=False)
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("apr_percent", RATE, nullable=True))
        batch_op.add_column(sa.Column("eir_percent", RATE, nullable=True))
    with op.batch_alter_table("disbursements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fees_withheld", MONEY, server_default="0", nullable=False))
        batch_op.add_column(sa.Column("net_amount", MONEY, nullable=True))
    op.execute("UPDATE disbursements SET net_amount = amount")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("materials_gated", sa.Boolean(), server_default="1", nullable=False))
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_text", sa.String(length=500), nullable=True))
    _backfill_search_text()
    op.create_index("ix_households_search_text", "households", ["search_text"], unique=False)
    op.create_index(
        "uq_households_title_number",
        "households",
        ["title_number"],
        unique=True,
        postgresql_where=sa.text("title_number IS NOT NULL"),
        sqlite_where=sa.text("title_number IS NOT NULL"),
    )
    # one open application (submitted or approved) per household and lender
    op.create_index(
        "uq_loans_open_application",
        "loans",
        ["household_id", "lender_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('submitted', 'approved')"),
        sqlite_where=sa.text("status IN ('submitted', 'approved')"),
    )


def downgrade() -> None:
    op.drop_index("uq_loans_open_application", table_name="loans")
    op.drop_index("uq_households_title_number", table_name="households")
    op.drop_index("ix_households_search_text", table_name="households")
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.drop_column("search_text")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("materials_gated")
    with op.batch_alter_table("disbursements", schema=None) as batch_op:
        batch_op.drop_column("net_amount")
        batch_op.drop_column("fees_withheld")
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_column("eir_percent")
        batch_op.drop_column("apr_percent")
    op.drop_index(op.f("ix_loan_reviews_loan_id"), table_name="loan_reviews")
    op.drop_table("loan_reviews")
    op.drop_index("ix_consents_household_lender", table_name="consents")
    op.drop_table("consents")


# Household search text --------------------------------------------------------------------------
# A frozen copy of loansvc/domain/text.py as it was at this revision (a migration never imports code
# that may change): the households recorded before 0007 get the text the service writes from now on.

_DIACRITICS = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F))
_STROKED = str.maketrans({"đ": "d", "ø": "o", "ł": "l"})


def _fold(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value.casefold().replace("\u200b", " "))
    kept = "".join(
        str(unicodedata.decimal(c)) if c.isdecimal() else c
        for c in decomposed
        if not any(low <= ord(c) <= high for low, high in _DIACRITICS) and unicodedata.category(c) != "Cf"
    )
    return " ".join(kept.translate(_STROKED).split())


def _digits(value: str) -> str:
    return "".join(c for c in value if "0" <= c <= "9")


def _search_text(head_name: str, parcel_code: str, title_number: str | None, phone: str | None) -> str:
    parts = [_fold(parcel_code)]
    if title_number:
        parts.append(_fold(title_number))
    if phone:
        folded = _fold(phone)
        parts.append(folded)
        if _digits(folded) not in ("", folded):
            parts.append(_digits(folded))
    parts.append(_fold(head_name))
    return ("\n" + "\n".join(p for p in parts if p) + "\n")[:500]


def _backfill_search_text() -> None:
    households = sa.table(
        "households",
        sa.column("id", sa.String),
        sa.column("head_name", sa.String),
        sa.column("parcel_code", sa.String),
        sa.column("title_number", sa.String),
        sa.column("phone", sa.String),
        sa.column("search_text", sa.String),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            households.c.id,
            households.c.head_name,
            households.c.parcel_code,
            households.c.title_number,
            households.c.phone,
        )
    ).all()
    if not rows:
        return
    update = (
        households.update()
        .where(households.c.id == sa.bindparam("household_id"))
        .values(search_text=sa.bindparam("text"))
    )
    texts = [
        {
            "household_id": row.id,
            "text": _search_text(row.head_name, row.parcel_code, row.title_number, row.phone),
        }
        for row in rows
    ]
    bind.execute(update, texts)
