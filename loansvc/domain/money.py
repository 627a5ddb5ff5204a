"""Money: the currency table, the one place amounts are rounded, and sum-preserving splits.

Amounts are `Decimal`; a float is refused wherever it could reach an amount.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from enum import Enum
from functools import cache

from loansvc.domain.errors import InvalidInput

# ISO 4217 minor units of the currencies the programme may see.
# KHR has no minor unit in practice: amounts are whole riel.
MINOR_UNITS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "THB": 2,
    "KHR": 0,
    "VND": 0,
    "LAK": 0,
    "GBP": 2,
    "JPY": 0,
}


class Rounding(str, Enum):
    HALF_EVEN = "half_even"
    HALF_UP = "half_up"

    @property
    def decimal_mode(self) -> str:
        return ROUND_HALF_EVEN if self is Rounding.HALF_EVEN else ROUND_HALF_UP


def minor_unit(currency: str) -> int:
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        message = f"unknown currency {currency!r}"
        raise InvalidInput(message, code="UNKNOWN_CURRENCY", field="currency") from None


@cache  # a few currencies; a page of loans rounds thousands of amounts
def quantum(currency: str) -> Decimal:
    """The smallest amount of `currency`: 0.01 for USD, 1 for KHR."""
    return Decimal(1).scaleb(-minor_unit(currency))


def _require_decimal(amount: object) -> Decimal:
    if type(amount) is Decimal:  # the common case: nothing to convert
        return amount
    if isinstance(amount, float):
        raise TypeError("money never passes through a float; use Decimal")
    return Decimal(amount)  # type: ignore[arg-type]


def round_money(amount: Decimal, currency: str, rounding: Rounding = Rounding.HALF_EVEN) -> Decimal:
    """Round to the currency's minor unit with an explicit mode."""
    return _require_decimal(amount).quantize(quantum(currency), rounding=rounding.decimal_mode)


def round_down(amount: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of `step` not above `amount` (for non-negative amounts)."""
    amount = _require_decimal(amount)
    return (amount / step).to_integral_value(rounding=ROUND_DOWN) * step


def round_to_multiple(amount: Decimal, multiple: Decimal, rounding: Rounding = Rounding.HALF_EVEN) -> Decimal:
    """Round to a multiple of `multiple` (e.g. installments to a whole dollar)."""
    amount = _require_decimal(amount)
    units = (amount / multiple).to_integral_value(rounding=rounding.decimal_mode)
    return units * multiple


def split_evenly(total: Decimal, parts: int, currency: str) -> list[Decimal]:
    """Split `total` into `parts` amounts in the minor unit that add back to `total` exactly.

    The first parts carry the extra minor units, so no amount differs from another by more
    than one minor unit.
    """
    if parts < 1:
        raise InvalidInput("cannot split into fewer than one part")
    q = quantum(currency)
    units = int((_require_decimal(total) / q).to_integral_value(rounding=ROUND_DOWN))
    base, extra = divmod(units, parts)
    return [(base + (1 if k < extra else 0)) * q for k in range(parts)]


def ratio_split(total: Decimal, ratios: list[Decimal], currency: str) -> list[Decimal]:
    """Split `total` in proportion to `ratios` so that the parts sum to `total` exactly.

    Largest-remainder method in the currency's minor unit.
    """
    if not ratios or any(r < 0 for r in ratios) or sum(ratios) == 0:
        raise InvalidInput("ratios must be non-negative and not all zero")
    q = quantum(currency)
    units = int((_require_decimal(total) / q).to_integral_value(rounding=ROUND_DOWN))
    whole = sum(ratios)
    raw = [Decimal(units) * r / whole for r in ratios]
    floors = [int(x.to_integral_value(rounding=ROUND_DOWN)) for x in raw]
    left = units - sum(floors)
    order = sorted(range(len(raw)), key=lambda k: raw[k] - floors[k], reverse=True)
    for k in order[:left]:
        floors[k] += 1
    return [f * q for f in floors]
