"""The declarative base with a constraint naming convention, and the column types money needs.

Money is exact on both engines, behind one type (ExactDecimal, through Money() and Quantity()):

* PostgreSQL: NUMERIC(precision, scale), bound and read as Decimal.
* SQLite: a scaled integer, value x 10^scale (12.3400 is stored as 123400 with scale 4), in a column
  still declared NUMERIC(precision, scale) (NUMERIC affinity keeps an integer an INTEGER, and the
  schema stays the one the migrations build). SQLite adds and compares 64-bit integers exactly,
  so every stored value, SUM(), MIN()/MAX() and sum or difference of money columns is exact; reading
  divides by 10^scale without rounding. The largest amount SQLite can hold is 2^63 - 1 minor units
  (922,337,203,685,477.5807 with scale 4), and a SUM past that fails with "integer overflow".

A bound value is a Decimal, an int or decimal text, quantized to `scale` places with ROUND_HALF_UP
(what PostgreSQL's NUMERIC cast does) on both engines, so both store the same thing; a float is
refused, money never passes through one. Python values in an expression with a money column bind
the same way (`Loan.amount > Decimal("5")` compares with 50000 on SQLite), except a whole-number
factor of a multiplication, which binds as a plain integer.

In SQL, money plus or minus money (or an untyped literal_column("0")) and money times a whole
number keep the money type, and so do SUM/MIN/MAX/COALESCE/CASE over money, so their results are
read back as exact Decimals. Money x money, any division or modulo, and money + or - a plain Integer
or Numeric expression would mean something else on scaled integers than on NUMERIC: they raise
TypeError when the expression is built. What the type cannot see, an expression whose left side is
not money: `literal_column("0") - money` comes back untyped (wrap it in `type_coerce(..., Money())`)
and `integer_column + money` is not refused (it is never meaningful); and AVG() or other functions
SQLAlchemy does not type return the raw scaled number on SQLite (never wrap those in Money()).
CHECK constraints comparing money with money or with 0 work unchanged on scaled integers.

Values written before migration 0005 (REAL or decimal text on SQLite) are read back as
Decimal(repr(x)) quantized to `scale` places, for safety; the migration rewrites them as integers.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Context, Decimal

from sqlalchemy import DateTime, Integer, MetaData, Numeric, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql import operators

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class _SQLiteScaled(Numeric):
    """The SQLite side of ExactDecimal: DDL NUMERIC(p, s), values passed to and from the driver as
    they are (ExactDecimal turns them into and out of scaled integers)."""

    def bind_processor(self, dialect):
        return None

    def result_processor(self, dialect, coltype):
        return None


# wide enough for any quantize or scaling of a NUMERIC(20, 4) value, whatever the caller's context
_EXACT = Context(prec=100)
_SQLITE_MAX = 2**63 - 1
_ADDITIVE = (operators.add, operators.sub)


class _MoneyComparator(TypeDecorator.Comparator, Numeric.Comparator):
    """The result type of arithmetic on money: money where the scaled integers mean money, else refused."""

    __slots__ = ()

    def _adapt_expression(self, op, other_comparator):
        money, other = self.type, other_comparator.type
        if op in _ADDITIVE and (other._isnull or _same_money(money, other)):
            return op, money
        if op is operators.mul and issubclass(other._type_affinity or type(None), Integer):
            return op, money
        raise TypeError(
            f"{op.__name__} of money and {other!r} in SQL is not exact on scaled integers: "
            "only money + or - money, and money x a whole number"
        )


def _same_money(money: ExactDecimal, other) -> bool:
    return isinstance(other, ExactDecimal) and other.scale == money.scale


class ExactDecimal(TypeDecorator[Decimal]):
    """NUMERIC(precision, scale) on PostgreSQL; a scaled integer (value x 10^scale) on SQLite."""

    impl = Numeric
    cache_ok = True
    comparator_factory = _MoneyComparator

    def __init__(self, precision: int = 20, scale: int = 4):
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: Dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLiteScaled(self.precision, self.scale))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def coerce_compared_value(self, op, value):
        # a whole-number factor stays a number (12.5 x 3 is 125000 x 3 on SQLite, not 125000 x 30000)
        if op is operators.mul and isinstance(value, int) and not isinstance(value, bool):
            return Integer()
        return self

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money never passes through a float")
        exact = Decimal(value)
        if not exact.is_finite():
            raise ValueError(f"money must be a finite number, not {value!r}")
        exact = exact.quantize(self._quantum, rounding=ROUND_HALF_UP, context=_EXACT)
        if dialect.name != "sqlite":
            return exact
        scaled = int(exact.scaleb(self.scale, context=_EXACT))
        if abs(scaled) > _SQLITE_MAX:
            raise ValueError(f"{value!r} is too large for a scaled 64-bit integer on SQLite")
        return scaled

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, Decimal):  # PostgreSQL: NUMERIC, already at the column's scale
            return value
        if isinstance(value, int):  # SQLite: the scaled integer, divided exactly (no context)
            return Decimal(f"{value}E-{self.scale}")
        # a value written before migration 0005 (REAL or decimal text): what it used to read as
        legacy = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
        return legacy.quantize(self._quantum, rounding=ROUND_HALF_UP, context=_EXACT)


def Money() -> ExactDecimal:
    return ExactDecimal(20, 4)


def Rate() -> ExactDecimal:
    """A percentage (APR, EIR) with 6 decimals, exact on both databases."""
    return ExactDecimal(12, 6)


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
