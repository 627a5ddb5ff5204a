"""Materials catalog requests and responses. Quantities are decimals (0.5 m3 of sand is normal)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from loansvc.fields import Currency, DecimalStr, Name, NonNegativeAmount, OutModel, Quantity, StrictModel

Sku = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[A-Za-z0-9._-]+$")
]
Unit = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30)]


class MaterialCreate(StrictModel):
    sku: Sku
    name: Name
    unit: Unit
    unit_cost: NonNegativeAmount
    currency: Currency = "USD"


class MaterialOut(OutModel):
    id: str
    sku: str
    name: str
    unit: str
    unit_cost: DecimalStr
    currency: str
    quantity_on_hand: DecimalStr
    stock_value: DecimalStr = Field(description="quantity on hand x unit cost, in the currency's minor unit")
    created_at: datetime


class ReceiptCreate(StrictModel):
    quantity: Quantity
    unit_cost: NonNegativeAmount | None = Field(
        default=None, description="cost of this delivery; the catalog cost becomes the weighted average"
    )
    supplier: Name
    received_on: date | None = None


class StockMovementOut(OutModel):
    id: str
    kind: str
    quantity: DecimalStr
    unit_cost: DecimalStr
    supplier: str | None
    occurred_on: date
    disbursement_id: str | None
    created_by: str
    created_at: datetime


class ReceiptOut(OutModel):
    movement: StockMovementOut
    material: MaterialOut
