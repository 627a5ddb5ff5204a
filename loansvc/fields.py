"""Pydantic building blocks shared by the features: strict models, money and rate fields, pages."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    field_validator,
    model_validator,
)

from loansvc.domain.errors import InvalidInput
from loansvc.domain.money import MINOR_UNITS

# ASCII digits, an optional sign and one decimal point: no spaces, exponents, underscores, other
# scripts' digits ("١٢٣" is a number to Python's Decimal, not to a partner's ledger), NaN or Infinity
_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def _decimal_text(value: Any) -> Any:
    """Amounts travel as plain decimal strings; integers are accepted, a JSON float never."""
    if isinstance(value, bool):
        raise ValueError("expected a decimal string")
    if isinstance(value, float):
        raise ValueError('send amounts as decimal strings (e.g. "12.50"), not JSON numbers with a fraction')
    if isinstance(value, str) and not _PLAIN_DECIMAL.fullmatch(value):
        raise ValueError(
            "expected a plain decimal string: ASCII digits, an optional sign and decimal point"
            ' (e.g. "1250.50")'
        )
    return value


# Every date a client sends lies in this range (the programme's loans, and a margin around them)
EARLIEST_DATE = date(1990, 1, 1)
LATEST_DATE = date(2100, 12, 31)


def check_date_range(value: Any, earliest: date = EARLIEST_DATE) -> Any:
    if isinstance(value, date) and not earliest <= value <= LATEST_DATE:
        raise ValueError(f"dates must lie between {earliest} and {LATEST_DATE}")
    return value


Date = Annotated[date, AfterValidator(check_date_range)]
"""A date a client sends (body or query): 1990-01-01 to 2100-12-31. StrictModel bodies check
every date field this way, whatever its annotation."""


def _decimal_out(value: Decimal) -> str:
    """Plain notation; database padding beyond two decimals ("5000.0000") is trimmed to "5000.00"."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        trimmed = value.normalize()
        trimmed_exp = trimmed.as_tuple().exponent
        value = (
            value.quantize(Decimal("0.01")) if isinstance(trimmed_exp, int) and trimmed_exp >= -2 else trimmed
        )
    return format(value, "f")


DecimalStr = Annotated[
    Decimal,
    BeforeValidator(_decimal_text),
    PlainSerializer(_decimal_out, return_type=str, when_used="json"),
    Field(max_digits=24, decimal_places=6),
]

# Amounts a client sends: strictly positive, bounded, at most 4 decimals.
PositiveAmount = Annotated[DecimalStr, Field(gt=0, le=Decimal("1000000000000"), decimal_places=4)]
NonNegativeAmount = Annotated[DecimalStr, Field(ge=0, le=Decimal("1000000000000"), decimal_places=4)]
RatePercent = Annotated[DecimalStr, Field(ge=0, le=1000, decimal_places=6)]
Quantity = Annotated[DecimalStr, Field(gt=0, le=Decimal("1000000000"), decimal_places=4)]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


def _known_currency(value: Any) -> Any:
    if isinstance(value, str) and value.upper() in MINOR_UNITS:
        return value.upper()
    raise ValueError(f"unknown currency; known: {', '.join(sorted(MINOR_UNITS))}")


Currency = Annotated[
    str, BeforeValidator(_known_currency), Field(description="ISO 4217 code", examples=["USD"])
]


def _nul_free(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, dict):
        return all(_nul_free(k) and _nul_free(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_nul_free(v) for v in value)
    return True


class StrictModel(BaseModel):
    """Request bodies: unknown fields are refused, and so is text with NUL characters (which
    PostgreSQL cannot store: it would fail as a 500 instead of a 422); every date field lies in
    1990-2100 (see `Date`)."""

    model_config = ConfigDict(extra="forbid")
    # the earliest date a field of this body may hold (a calculator's historic examples go earlier)
    earliest_date: ClassVar[date] = EARLIEST_DATE

    @model_validator(mode="before")
    @classmethod
    def _no_nul_characters(cls, data: Any) -> Any:
        if not _nul_free(data):
            raise ValueError("text must not contain NUL (\\u0000) characters")
        return data

    @field_validator("*", mode="after")
    @classmethod
    def _dates_in_range(cls, value: Any) -> Any:
        for item in value if isinstance(value, list | tuple) else (value,):
            check_date_range(item, cls.earliest_date)
        return value


class OutModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class CursorPage(BaseModel, Generic[T]):
    """A page of a long list (a million loans), in a fixed number of statements whatever its size
    or depth: read it by `offset` (the old way, kept) or, faster at any depth, by `after`, the
    `next_after` of the page before (keyset: the list is ordered on an index, so a page reads
    `limit + 1` rows, never the rows before it).

    `total` counts the whole filtered list (not what is left after the cursor). Counting stops
    after LOANSVC_LIST_EXACT_COUNT_LIMIT rows (10,000): at most that many, `total` is exact and
    `total_is_exact` true; beyond, `total` is null and `total_is_exact` false, unless the request
    asks `?count=true` (an exact count of every row, slower: about one index scan of the list)."""

    items: list[T]
    total: int | None = Field(description="the filtered list's size; null when above the exact-count limit")
    total_is_exact: bool = Field(description="false: the list has more than the exact-count limit")
    total_at_least: int = Field(description="a lower bound of the size: total when exact, else the limit + 1")
    has_more: bool = Field(description="a page follows this one")
    next_after: str | None = Field(description="pass as `after` for the next page; null on the last page")
    limit: int
    offset: int

    @classmethod
    def of(
        cls,
        items: list,
        *,
        has_more: bool,
        last_key: list[str] | None,
        counted: int,
        bound: int | None,
        limit: int,
        offset: int,
    ):
        """The page from what its list read: `counted`, the bounded count (up to `bound` + 1 rows;
        None: all of them), and `last_key`, the sort key of the page's last row (its cursor)."""
        exact = bound is None or counted <= bound
        return cls(
            items=items,
            total=counted if exact else None,
            total_is_exact=exact,
            total_at_least=counted,
            has_more=has_more,
            next_after=cursor_token(last_key) if has_more and last_key else None,
            limit=limit,
            offset=offset,
        )


CURSOR_MAX_LENGTH = 200


def cursor_token(values: list[str]) -> str:
    """An opaque cursor: the sort key of a page's last row (base64url of a JSON list of strings)."""
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_values(token: str, size: int, field: str = "after") -> list[str]:
    """The sort key a `cursor_token` holds: `size` strings; anything else is 422 BAD_CURSOR."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError):
        values = None
    # a NUL could never be in a key PostgreSQL stored, and would fail there as a 500
    strings = isinstance(values, list) and all(isinstance(v, str) and "\x00" not in v for v in values)
    if not strings or len(values) != size:
        raise InvalidInput(
            "after must be the next_after of a page of this list", code="BAD_CURSOR", field=field
        )
    return values


def date_id_cursor(token: str, field: str = "after") -> tuple[date, str]:
    """A cursor over (a date, an id): the sort key of the lists ordered by a day then the id."""
    day, key = cursor_values(token, 2, field)
    try:
        return date.fromisoformat(day), key
    except ValueError:
        raise InvalidInput(
            "after must be the next_after of a page of this list", code="BAD_CURSOR", field=field
        ) from None
