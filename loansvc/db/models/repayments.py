"""Repayments and their history: payments, reversals (compensating entries), allocations, write-offs.

Payments and reversals are append-only. Allocation rows and the paid columns of the schedule are a
projection rebuilt from them for one loan whenever its history changes.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loansvc.db.base import Base, IdMixin, Money, TimestampMixin, UTCDateTime
from loansvc.db.models.enums import one_of

LOAN_KEYS = ("lender_id", "site_id", "product_id", "currency")  # the columns of LoanKeys


class LoanKeys:
    """The loan's report keys, copied on each movement as it is written (a loan never changes
    lender, site, product or currency): a day's flows are summed from the movement rows alone,
    without reading the loans (loansvc.reports.queries.flow_parts). The ledger always writes them
    (`positions verify` checks each copy against its loan); the columns admit NULL only so that
    migration 0020 adds them without rebuilding the tables on SQLite."""

    lender_id: Mapped[str] = mapped_column(String(36), nullable=True)
    site_id: Mapped[str] = mapped_column(String(36), nullable=True)
    product_id: Mapped[str] = mapped_column(String(36), nullable=True)
    currency: Mapped[str] = mapped_column(String(3), nullable=True)


class Repayment(IdMixin, TimestampMixin, LoanKeys, Base):
    __tablename__ = "repayments"
    __table_args__ = (
        UniqueConstraint("loan_id", "reference", name="uq_repayments_loan_reference"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_repayments_loan_paid_on", "loan_id", "paid_on"),
        Index("ix_repayments_paid_on", "paid_on"),
        one_of("kind", ("repayment", "recovery"), "kind_valid"),
    )

    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"))
    # a payment on a written-off loan is a recovery: counted, never allocated
    kind: Mapped[str] = mapped_column(String(20), default="repayment", server_default="repayment")
    amount: Mapped[Decimal] = mapped_column(Money())
    paid_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str | None] = mapped_column(String(50))
    created_by: Mapped[str] = mapped_column(String(100))
    # the import batch a row came from, when it came from a file
    batch: Mapped[str | None] = mapped_column(String(36))


class RepaymentReversal(IdMixin, TimestampMixin, Base):
    """A compensating entry: the payment stays recorded; from now on it no longer counts."""

    __tablename__ = "repayment_reversals"

    repayment_id: Mapped[str] = mapped_column(ForeignKey("repayments.id"), unique=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    reason: Mapped[str] = mapped_column(String(2000))
    reversed_on: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(100))


class RepaymentAllocation(LoanKeys, Base):
    """One payment's share of one installment (projection, rebuilt when the loan's history changes)."""

    __tablename__ = "repayment_allocations"
    __table_args__ = (
        CheckConstraint(
            "principal >= 0 AND interest >= 0 AND fees >= 0 AND penalty >= 0", name="parts_not_negative"
        ),
        Index("ix_repayment_allocations_loan", "loan_id", "number"),
        Index("ix_repayment_allocations_paid_on", "paid_on"),
        Index("ix_repayment_allocations_loan_paid_on", "loan_id", "paid_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repayment_id: Mapped[str] = mapped_column(ForeignKey("repayments.id"), index=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"))
    number: Mapped[int] = mapped_column(Integer)
    paid_on: Mapped[date] = mapped_column(Date)
    principal: Mapped[Decimal] = mapped_column(Money())
    interest: Mapped[Decimal] = mapped_column(Money())
    fees: Mapped[Decimal] = mapped_column(Money())
    penalty: Mapped[Decimal] = mapped_column(Money())


class WriteOff(IdMixin, TimestampMixin, Base):
    """A write-off: requested by one key, confirmed by another (four eyes)."""

    __tablename__ = "write_offs"
    __table_args__ = (
        one_of("status", ("pending", "confirmed", "cancelled"), "status_valid"),
        CheckConstraint("principal >= 0", name="principal_not_negative"),
    )

    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    reason: Mapped[str] = mapped_column(String(2000))
    requested_on: Mapped[date] = mapped_column(Date)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_by_key_id: Mapped[str] = mapped_column(String(36))
    days_past_due: Mapped[int] = mapped_column(Integer)
    principal: Mapped[Decimal] = mapped_column(Money())
    confirmed_by: Mapped[str | None] = mapped_column(String(100))
    confirmed_on: Mapped[date | None] = mapped_column(Date)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
