"""Pydantic building blocks shared by the features: strict models, money and rate fields, pages."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    model_validator,
)

from loansvc.domain.money import MINOR_UNITS


def _decimal_text(value: Any) -> Any:
    """Amounts travel as decimal strings; integers are accepted, a JSON float never."""
    if isinstance(value, bool):
        raise ValueError("expected a decimal string")
    if isinstance(value, float):
        raise ValueError('send amounts as decimal strings (e.g. "12.50"), not JSON numbers with a fraction')
    if isinstance(value, str):
        value = value.strip()
        if not value or value.lower() in {"nan", "inf", "-inf", "+inf", "infinity", "-infinity", "snan"}:
            raise ValueError("expected a finite decimal string")
    return value


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
    PostgreSQL cannot store: it would fail as a 500 instead of a 422)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul_characters(cls, data: Any) -> Any:
        if not _nul_free(data):
            raise ValueError("text must not contain NUL (\\u0000) characters")
        return data


class OutModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
