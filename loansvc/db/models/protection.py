"""What protects the family before a loan: consent to share its file with a lender, and the loan
officer's review an assessment asks for (ID Poor households). Both are append-only: a withdrawal
is a date on the consent, never a deletion."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from loansvc.db.base import Base, IdMixin, TimestampMixin
from loansvc.db.models.enums import one_of

CONSENT_METHODS = ("signed_form", "thumbprint", "verbal_witnessed")
REVIEW_OUTCOMES = ("cleared", "not_cleared")


class Consent(IdMixin, TimestampMixin, Base):
    """The household agreed to share its file with one lender, from `given_on` until withdrawn."""

    __tablename__ = "consents"
    __table_args__ = (
        one_of("method", CONSENT_METHODS, "method_valid"),
        Index("ix_consents_household_lender", "household_id", "lender_id"),
    )

    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"))
    lender_id: Mapped[str] = mapped_column(ForeignKey("lenders.id"))
    given_on: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(30))
    reference: Mapped[str | None] = mapped_column(String(100))
    recorded_by: Mapped[str] = mapped_column(String(100))
    withdrawn_on: Mapped[date | None] = mapped_column(Date)
    withdrawn_by: Mapped[str | None] = mapped_column(String(100))
    withdrawal_reason: Mapped[str | None] = mapped_column(String(2000))


class LoanReview(IdMixin, TimestampMixin, Base):
    """A loan officer's review of an application whose assessment asked for one."""

    __tablename__ = "loan_reviews"
    __table_args__ = (one_of("outcome", REVIEW_OUTCOMES, "outcome_valid"),)

    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(String(2000))
    reviewed_on: Mapped[date] = mapped_column(Date)
    reviewed_by: Mapped[str] = mapped_column(String(100))
    reviewed_by_key_id: Mapped[str] = mapped_column(String(36))
