"""Complaints from families, and the follow-up of late loans: contacts and promises to pay.

Complaints move open -> in_progress -> resolved | rejected (loansvc.domain.custody); the CHECKs
keep a closed complaint's date and resolution with it. A contact is recorded once and never
edited; a promise travels with its contact, and its state (open, kept, broken) is not stored: it
follows from the ledger's payments (loansvc.protection.contacts).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from loansvc.db.base import Base, IdMixin, Money, TimestampMixin, UTCDateTime, utcnow
from loansvc.db.models.enums import one_of
from loansvc.domain.custody import COMPLAINT_STATUSES

COMPLAINT_CHANNELS = ("phone", "visit", "letter", "hotline")
COMPLAINT_CATEGORIES = (
    "pricing",
    "collection_practice",
    "title_not_returned",
    "data_privacy",
    "service",
    "other",
)
CONTACT_KINDS = ("visit", "call", "message")
CONTACT_OUTCOMES = ("reached", "not_reached", "refused")
HAS_PROMISE = "promise_due_on IS NOT NULL"


class Complaint(IdMixin, TimestampMixin, Base):
    __tablename__ = "complaints"
    __table_args__ = (
        one_of("channel", COMPLAINT_CHANNELS, "channel_valid"),
        one_of("category", COMPLAINT_CATEGORIES, "category_valid"),
        one_of("status", COMPLAINT_STATUSES, "status_valid"),
        CheckConstraint(
            "(status IN ('resolved', 'rejected') AND resolved_on IS NOT NULL AND resolution IS NOT NULL)"
            " OR (status IN ('open', 'in_progress') AND resolved_on IS NULL)",
            name="closed_with_resolution",
        ),
        CheckConstraint("resolved_on IS NULL OR resolved_on >= received_on", name="resolved_after_received"),
        Index("ix_complaints_lender_status", "lender_id", "status"),
        Index("ix_complaints_received_on", "received_on"),
    )

    household_id: Mapped[str | None] = mapped_column(ForeignKey("households.id"), index=True)
    lender_id: Mapped[str | None] = mapped_column(ForeignKey("lenders.id"))
    loan_id: Mapped[str | None] = mapped_column(ForeignKey("loans.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(30))
    description: Mapped[str] = mapped_column(String(4000))
    received_on: Mapped[date] = mapped_column(Date)
    complainant_name: Mapped[str | None] = mapped_column(String(200))
    # the complainant asked that the lender complained about not learn who complained
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    status: Mapped[str] = mapped_column(String(20), default="open", server_default="open")
    resolution: Mapped[str | None] = mapped_column(String(4000))
    resolved_on: Mapped[date | None] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_by_role: Mapped[str] = mapped_column(String(20))
    updated_by: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class CollectionContact(IdMixin, TimestampMixin, Base):
    """A visit, call or message about a loan, and the promise to pay the family made, if any."""

    __tablename__ = "collection_contacts"
    __table_args__ = (
        one_of("kind", CONTACT_KINDS, "kind_valid"),
        one_of("outcome", CONTACT_OUTCOMES, "outcome_valid"),
        CheckConstraint(
            "(promise_amount IS NULL AND promise_due_on IS NULL)"
            " OR (promise_amount > 0 AND promise_due_on >= contacted_on AND outcome = 'reached')",
            name="promise_valid",
        ),
        Index("ix_collection_contacts_loan", "loan_id", "contacted_on"),
        # the collections report reads the promises due in its window
        Index(
            "ix_collection_contacts_promise_due",
            "promise_due_on",
            postgresql_where=text(HAS_PROMISE),
            sqlite_where=text(HAS_PROMISE),
        ),
    )

    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"))
    kind: Mapped[str] = mapped_column(String(20))
    contacted_on: Mapped[date] = mapped_column(Date)
    # who visited or called, in the programme's words (the API's `by`): the officer of the report
    contacted_by: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(String(2000))
    promise_amount: Mapped[Decimal | None] = mapped_column(Money())
    promise_due_on: Mapped[date | None] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(100))
