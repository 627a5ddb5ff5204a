"""Affordability records: versioned policies, stored assessments, the materials catalog and house models."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from loansvc.db.base import Base, IdMixin, Money, Quantity, TimestampMixin, UTCDateTime, utcnow
from loansvc.db.models.enums import one_of


class Policy(TimestampMixin, Base):
    """A versioned affordability policy. A version is never changed: a new one is created instead."""

    __tablename__ = "policies"

    version: Mapped[str] = mapped_column(String(50), primary_key=True)
    parameters: Mapped[dict] = mapped_column(JSON)
    is_default: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str | None] = mapped_column(String(2000))


class Assessment(IdMixin, TimestampMixin, Base):
    """A stored assessment of a registered household, with a snapshot of every input."""

    __tablename__ = "assessments"
    __table_args__ = (one_of("decision", ("eligible", "refer", "ineligible"), "decision_valid"),)

    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"), index=True)
    lender_id: Mapped[str | None] = mapped_column(ForeignKey("lenders.id"), index=True)
    product_id: Mapped[str | None] = mapped_column(ForeignKey("products.id"))
    policy_version: Mapped[str] = mapped_column(ForeignKey("policies.version"))
    inputs: Mapped[dict] = mapped_column(JSON)
    result: Mapped[dict] = mapped_column(JSON)
    decision: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(100))
    created_by_role: Mapped[str] = mapped_column(String(20))


class Material(IdMixin, TimestampMixin, Base):
    """A line of the materials bank catalog. Stock is the sum of the append-only stock movements."""

    __tablename__ = "materials"
    __table_args__ = (
        CheckConstraint("unit_cost >= 0", name="unit_cost_not_negative"),
        CheckConstraint("quantity_on_hand >= 0", name="stock_not_negative"),
    )

    sku: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(30))
    unit_cost: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    # a running total kept beside the movements, guarded by a CHECK and updated under a row lock
    quantity_on_hand: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal(0))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class HousingModel(IdMixin, TimestampMixin, Base):
    """An affordable house design: stages, each with a bill of materials and a labour cost."""

    __tablename__ = "housing_models"
    __table_args__ = (CheckConstraint("floor_area_m2 > 0", name="floor_area_positive"),)

    code: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    floor_area_m2: Mapped[Decimal] = mapped_column(Quantity())
    currency: Mapped[str] = mapped_column(String(3))
    # [{"stage": "foundation", "labour_cost": "150.00", "materials": [{"sku": "...", "quantity": "2.5"}]}]
    stages: Mapped[list[dict]] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(2000))
