"""API keys: only a SHA-256 hash is stored; the clear key is shown once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from loansvc.db.base import Base, IdMixin, TimestampMixin, UTCDateTime
from loansvc.db.models.enums import ROLES, one_of


class ApiKey(IdMixin, TimestampMixin, Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        one_of("role", ROLES, "role_valid"),
        CheckConstraint("role != 'partner' OR lender_id IS NOT NULL", name="partner_has_lender"),
    )

    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    lender_id: Mapped[str | None] = mapped_column(ForeignKey("lenders.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_by: Mapped[str | None] = mapped_column(String(100))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
