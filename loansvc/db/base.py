"""The declarative base with a constraint naming convention, and the column types money needs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import DateTime, MetaData, Numeric, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class _SQLiteNumeric(Numeric):
    """A NUMERIC column on SQLite whose values are bound as decimal text, never through a float."""

    def bind_processor(self, dialect):
        return None

    def result_processor(self, dialect, coltype):
        return None


class ExactDecimal(TypeDecorator[Decimal]):
    """NUMERIC on PostgreSQL (exact). On SQLite, NUMERIC affinity with values bound as decimal text.

    SQLite keeps a text literal of up to 15 significant digits as a number losslessly (longer ones
    stay text), and the shortest repr of such a double is the original decimal, so
    `Decimal(repr(x))` restores it exactly. CHECK constraints and SUM() work on both engines.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 20, scale: int = 4):
        super().__init__(precision=precision, scale=scale, asdecimal=True)

    def load_dialect_impl(self, dialect: Dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLiteNumeric(self.impl.precision, self.impl.scale))
        return dialect.type_descriptor(Numeric(self.impl.precision, self.impl.scale, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money never passes through a float")
        if dialect.name == "sqlite":
            return format(Decimal(value), "f")
        return Decimal(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, Decimal):
            return value
        # same scale as PostgreSQL's NUMERIC(p, s) returns, so both engines read alike
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
        return exact.quantize(Decimal(1).scaleb(-self.impl.scale))


def Money() -> ExactDecimal:
    return ExactDecimal(20, 4)


def Quantity() -> ExactDecimal:
    return ExactDecimal(20, 4)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always returned timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
