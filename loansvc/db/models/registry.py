"""The registry: lenders and their products, sites, households and their declared finances."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from loansvc.db.base import Base, IdMixin, Money, TimestampMixin, UTCDateTime, utcnow
from loansvc.db.models.enums import (
    AMORTIZATIONS,
    DAY_COUNTS,
    INCOME_FREQUENCIES,
    INTEREST_CALCULATIONS,
    INTEREST_METHODS,
    LENDER_KINDS,
    REPAYMENT_FREQUENCIES,
    one_of,
)

if TYPE_CHECKING:
    from loansvc.db.models.custody import Collateral
    from loansvc.db.models.protection import Consent


class Lender(IdMixin, TimestampMixin, Base):
    __tablename__ = "lenders"
    __table_args__ = (one_of("kind", LENDER_KINDS, "kind_valid"),)

    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    default_currency: Mapped[str] = mapped_column(String(3))
    # weekdays the lender does not collect on (0 = Monday ... 6 = Sunday); due dates move off them
    non_working_weekdays: Mapped[list[int]] = mapped_column(JSON, default=list)


class Product(IdMixin, TimestampMixin, Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("lender_id", "name", name="uq_products_lender_name"),
        one_of("interest_method", INTEREST_METHODS, "interest_method_valid"),
        one_of("amortization", AMORTIZATIONS, "amortization_valid"),
        one_of("frequency", REPAYMENT_FREQUENCIES, "frequency_valid"),
        one_of("interest_calculation", INTEREST_CALCULATIONS, "interest_calculation_valid"),
        one_of("day_count", DAY_COUNTS, "day_count_valid"),
        CheckConstraint("annual_rate_percent >= 0", name="rate_not_negative"),
        CheckConstraint("min_amount > 0 AND max_amount >= min_amount", name="amount_range"),
        CheckConstraint("min_term >= 1 AND max_term >= min_term", name="term_range"),
        CheckConstraint("max_grace_principal_periods >= 0", name="grace_not_negative"),
        CheckConstraint("installment_multiple IS NULL OR installment_multiple > 0", name="multiple_positive"),
    )

    lender_id: Mapped[str] = mapped_column(ForeignKey("lenders.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    annual_rate_percent: Mapped[Decimal] = mapped_column(Money())
    interest_method: Mapped[str] = mapped_column(String(30))
    amortization: Mapped[str] = mapped_column(String(30))
    frequency: Mapped[str] = mapped_column(String(20))
    interest_calculation: Mapped[str] = mapped_column(String(20))
    day_count: Mapped[str] = mapped_column(String(20))
    min_amount: Mapped[Decimal] = mapped_column(Money())
    max_amount: Mapped[Decimal] = mapped_column(Money())
    min_term: Mapped[int] = mapped_column(Integer)
    max_term: Mapped[int] = mapped_column(Integer)
    # Fee terms as decimal strings ({"name", "timing", "amount" | "percent"}): terms, not ledger entries.
    fees: Mapped[list[dict]] = mapped_column(JSON, default=list)
    max_grace_principal_periods: Mapped[int] = mapped_column(Integer, default=0)
    installment_multiple: Mapped[Decimal | None] = mapped_column(Money())
    # the affordability policy version this product is assessed under (None: the default policy)
    policy_version: Mapped[str | None] = mapped_column(String(50))
    # repayment settings: allocation order, what a payment ahead of schedule does, credit balances,
    # and an optional late fee charged once per installment overdue more than late_fee_after_days
    allocation_order: Mapped[list[str]] = mapped_column(
        JSON, default=lambda: ["penalty", "fees", "interest", "principal"]
    )
    prepayment: Mapped[str] = mapped_column(String(30), default="reduce_term", server_default="reduce_term")
    # a due date on a holiday or a non-working day: same_day | next_working_day | previous_working_day
    holiday_rule: Mapped[str] = mapped_column(
        String(30), default="next_working_day", server_default="next_working_day"
    )
    allow_credit_balance: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    late_fee: Mapped[Decimal | None] = mapped_column(Money())
    late_fee_after_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # in-kind materials wait for the previous stage's inspection, like cash tranches
    materials_gated: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    milestones: Mapped[list[str]] = mapped_column(
        JSON, default=lambda: ["foundation", "structure", "roof", "finishing"]
    )

    lender: Mapped[Lender] = relationship(lazy="raise")


class Site(IdMixin, TimestampMixin, Base):
    __tablename__ = "sites"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    district: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(200))


class Household(IdMixin, TimestampMixin, Base):
    __tablename__ = "households"
    __table_args__ = (
        UniqueConstraint("site_id", "parcel_code", name="uq_households_site_parcel"),
        CheckConstraint("household_size >= 1", name="size_positive"),
        CheckConstraint("idpoor_level IN (0, 1, 2)", name="idpoor_level_valid"),
        # a title number belongs to one parcel (race-safe: the database refuses the second)
        Index(
            "uq_households_title_number",
            "title_number",
            unique=True,
            postgresql_where=text("title_number IS NOT NULL"),
            sqlite_where=text("title_number IS NOT NULL"),
        ),
        Index("ix_households_search_text", "search_text"),
    )

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    parcel_code: Mapped[str] = mapped_column(String(50))
    title_number: Mapped[str | None] = mapped_column(String(50))
    head_name: Mapped[str] = mapped_column(String(200))
    # name, parcel, title and phone folded for search (case and accents removed, Khmer kept)
    search_text: Mapped[str | None] = mapped_column(String(500))
    phone: Mapped[str | None] = mapped_column(String(30))
    household_size: Mapped[int] = mapped_column(Integer)
    idpoor_level: Mapped[int] = mapped_column(Integer, default=0)
    vulnerabilities: Mapped[list[str]] = mapped_column(JSON, default=list)
    temporary_shelter: Mapped[bool] = mapped_column(Boolean, default=False)
    # the language reminders are written in: km | en
    language: Mapped[str] = mapped_column(String(5), default="km", server_default="km")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    incomes: Mapped[list[HouseholdIncome]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="HouseholdIncome.position"
    )
    expenses: Mapped[list[HouseholdExpense]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="HouseholdExpense.position"
    )
    existing_debts: Mapped[list[HouseholdDebt]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="HouseholdDebt.position"
    )
    # read only: consents are recorded (and withdrawn) by loansvc.protection; a partner's read
    # loads its own lender's only (loansvc.lending.households.with_consents)
    consents: Mapped[list[Consent]] = relationship(
        lazy="raise", viewonly=True, order_by="(Consent.given_on, Consent.created_at, Consent.id)"
    )
    # read only: what lenders hold for its loans and have not released (loansvc.protection.collateral)
    collateral_held: Mapped[list[Collateral]] = relationship(
        lazy="raise",
        viewonly=True,
        primaryjoin="and_(Collateral.household_id == Household.id, Collateral.released_on.is_(None))",
        order_by="(Collateral.received_on, Collateral.id)",
    )

    def __init__(self, **kwargs: Any) -> None:
        # one instant for both: two column defaults would each read the clock, updated_at first
        kwargs.setdefault("created_at", utcnow())
        kwargs.setdefault("updated_at", kwargs["created_at"])
        super().__init__(**kwargs)


class _HouseholdLine:
    position: Mapped[int] = mapped_column(Integer)


class HouseholdIncome(IdMixin, _HouseholdLine, Base):
    __tablename__ = "household_incomes"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        one_of("frequency", INCOME_FREQUENCIES, "frequency_valid"),
    )

    household_id: Mapped[str] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(100))
    amount: Mapped[Decimal] = mapped_column(Money())
    frequency: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))


class HouseholdExpense(IdMixin, _HouseholdLine, Base):
    __tablename__ = "household_expenses"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        one_of("frequency", INCOME_FREQUENCIES, "frequency_valid"),
    )

    household_id: Mapped[str] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    category: Mapped[str] = mapped_column(String(100))
    amount: Mapped[Decimal] = mapped_column(Money())
    frequency: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str | None] = mapped_column(String(3))


class HouseholdDebt(IdMixin, _HouseholdLine, Base):
    __tablename__ = "household_debts"
    __table_args__ = (
        CheckConstraint("installment > 0", name="installment_positive"),
        CheckConstraint("outstanding >= 0", name="outstanding_not_negative"),
        one_of("frequency", INCOME_FREQUENCIES, "frequency_valid"),
    )

    household_id: Mapped[str] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    lender: Mapped[str] = mapped_column(String(200))
    installment: Mapped[Decimal] = mapped_column(Money())
    frequency: Mapped[str] = mapped_column(String(20))
    outstanding: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str | None] = mapped_column(String(3))


class HouseholdLender(Base):
    """A household has applied to a lender (the record of it; what the lender's partner keys may see
    follows the household's consent: loansvc.lending.households)."""

    __tablename__ = "household_lenders"

    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"), primary_key=True)
    lender_id: Mapped[str] = mapped_column(ForeignKey("lenders.id"), primary_key=True, index=True)
    first_applied_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
