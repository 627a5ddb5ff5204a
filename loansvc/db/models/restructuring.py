"""What changes a loan's schedule after it is written: the record of each schedule version, the
restructure requests (four eyes), and the holiday calendar that moves due dates."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from loansvc.db.base import Base, IdMixin, Money, TimestampMixin, UTCDateTime
from loansvc.db.models.enums import one_of

VERSION_KINDS = ("disbursement", "prepayment", "restructure", "holiday", "replay")
RESTRUCTURE_STATUSES = ("requested", "approved", "rejected")


class ScheduleVersion(TimestampMixin, Base):
    """Why a schedule version was written. A `disbursement` or `restructure` version is a base: a
    replay of the loan's payments starts from the latest one; `prepayment`, `holiday` and `replay`
    versions are derived from a base and the payments after it."""

    __tablename__ = "schedule_versions"
    __table_args__ = (one_of("kind", VERSION_KINDS, "kind_valid"),)

    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    # the installments numbered from here were (re)computed; those before are copied as they were
    starts_at_number: Mapped[int] = mapped_column(Integer, default=1)
    effective_on: Mapped[date] = mapped_column(Date)
    # the version this one was derived from (None for the first)
    previous_version: Mapped[int | None] = mapped_column(Integer)
    repayment_id: Mapped[str | None] = mapped_column(String(36))
    restructure_id: Mapped[str | None] = mapped_column(String(36))
    note: Mapped[str | None] = mapped_column(String(500))


class Restructure(IdMixin, TimestampMixin, Base):
    __tablename__ = "restructures"
    __table_args__ = (
        one_of("status", RESTRUCTURE_STATUSES, "status_valid"),
        Index("ix_restructures_loan", "loan_id", "created_at"),
    )

    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"))
    status: Mapped[str] = mapped_column(String(20), default="requested")
    effective_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(2000))
    changes: Mapped[dict] = mapped_column(JSON)
    preview: Mapped[dict] = mapped_column(JSON)
    requested_on: Mapped[date] = mapped_column(Date)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_by_key_id: Mapped[str] = mapped_column(String(36))
    # the loan's schedule version and payment count the preview was computed on
    based_on_version: Mapped[int] = mapped_column(Integer)
    based_on_payments: Mapped[int] = mapped_column(Integer)
    decided_on: Mapped[date | None] = mapped_column(Date)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str | None] = mapped_column(String(2000))
    schedule_version: Mapped[int | None] = mapped_column(Integer)
    # the arrears and holiday interest the approved restructure made principal
    capitalised: Mapped[Decimal | None] = mapped_column(Money())


class Holiday(IdMixin, TimestampMixin, Base):
    """A day nobody pays: programme-wide (no lender) or one lender's. `added_on` is the business day
    it was entered: it moves due dates from that day on, never one already past."""

    __tablename__ = "holidays"
    __table_args__ = (
        Index(
            "uq_holidays_programme_date",
            "date",
            unique=True,
            postgresql_where=text("lender_id IS NULL"),
            sqlite_where=text("lender_id IS NULL"),
        ),
        UniqueConstraint("lender_id", "date", name="uq_holidays_lender_date"),
    )

    date: Mapped[date] = mapped_column(Date, index=True)
    name: Mapped[str] = mapped_column(String(200))
    lender_id: Mapped[str | None] = mapped_column(ForeignKey("lenders.id"))
    added_on: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(100))
