"""Collateral a lender holds for a loan: land titles, movables, guarantors, and their return.

A row is written when the lender receives the item and gets its release fields once the item is
given back; it is never deleted. Its status (held, due for return, overdue) is not stored: it
follows from the loan's closed_on and the day (loansvc.domain.custody). A title number is held for
one loan at a time: the partial unique index refuses a second unreleased hold, even from a
concurrent request (loansvc.protection.collateral turns that into 409 TITLE_ALREADY_HELD).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from loansvc.db.base import Base, IdMixin, Money, TimestampMixin
from loansvc.db.models.enums import one_of
from loansvc.domain.custody import COLLATERAL_KINDS

UNRELEASED = "released_on IS NULL"


class Collateral(IdMixin, TimestampMixin, Base):
    __tablename__ = "collateral"
    __table_args__ = (
        one_of("kind", COLLATERAL_KINDS, "kind_valid"),
        CheckConstraint(
            "(kind = 'land_title' AND title_number IS NOT NULL)"
            " OR (kind != 'land_title' AND title_number IS NULL)",
            name="title_number_for_land_title",
        ),
        CheckConstraint("value IS NULL OR value > 0", name="value_positive"),
        CheckConstraint("released_on IS NULL OR released_on >= received_on", name="released_after_received"),
        CheckConstraint(
            "released_on IS NULL OR (released_to IS NOT NULL AND receipt_reference IS NOT NULL)",
            name="release_receipted",
        ),
        # one hold per title until it is released (race-safe: the database refuses the second)
        Index(
            "uq_collateral_held_title",
            "title_number",
            unique=True,
            postgresql_where=text(UNRELEASED),
            sqlite_where=text(UNRELEASED),
        ),
        Index("ix_collateral_lender_kind", "held_by_lender_id", "kind"),
    )

    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"), index=True)
    held_by_lender_id: Mapped[str] = mapped_column(ForeignKey("lenders.id"))
    kind: Mapped[str] = mapped_column(String(20))
    title_number: Mapped[str | None] = mapped_column(String(50))
    description: Mapped[str] = mapped_column(String(500))
    received_on: Mapped[date] = mapped_column(Date)
    storage_location: Mapped[str | None] = mapped_column(String(200))
    # what the lender valued it at, in the loan's currency
    value: Mapped[Decimal | None] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    recorded_by: Mapped[str] = mapped_column(String(100))
    released_on: Mapped[date | None] = mapped_column(Date)
    released_to: Mapped[str | None] = mapped_column(String(200))
    receipt_reference: Mapped[str | None] = mapped_column(String(100))
    release_reason: Mapped[str | None] = mapped_column(String(2000))
    released_by: Mapped[str | None] = mapped_column(String(100))
