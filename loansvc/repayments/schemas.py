"""Repayment requests and responses."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from loansvc.fields import DecimalStr, Note, OutModel, PositiveAmount, StrictModel

Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class RepaymentCreate(StrictModel):
    amount: PositiveAmount
    paid_on: date | None = None
    reference: Reference
    channel: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)] | None = (
        None
    )


class ReverseRequest(StrictModel):
    reason: Note
    reversed_on: date | None = None


class AllocationOut(OutModel):
    number: int
    principal: DecimalStr
    interest: DecimalStr
    fees: DecimalStr
    penalty: DecimalStr


class RepaymentOut(OutModel):
    id: str
    loan_id: str
    kind: Literal["repayment", "recovery"] = Field(
        description="a payment on a written-off loan is a recovery: counted, not allocated"
    )
    amount: DecimalStr
    paid_on: date
    reference: str
    channel: str | None
    reversed: bool
    reversal_reason: str | None = None
    allocations: list[AllocationOut]
    prepaid_principal: DecimalStr = Field(
        default=Decimal(0),
        description="what the payment put on principal beyond the installments whose period had begun "
        "(the rest of the schedule is then rebuilt by the product's prepayment rule)",
    )
    loan_status: str
    outstanding_principal: DecimalStr
    recovered_amount: DecimalStr
    created_by: str
    created_at: datetime


class ImportRejected(OutModel):
    line: int
    reason: str


class ImportResult(OutModel):
    recorded: int
    duplicates: int
    rejected: list[ImportRejected]


class ArrearsOut(OutModel):
    loan_id: str
    as_of: date
    currency: str
    days_past_due: int
    overdue_amount: DecimalStr
    overdue_principal: DecimalStr
    overdue_interest: DecimalStr
    overdue_fees: DecimalStr
    overdue_penalty: DecimalStr
    bucket: str
    classification: str
    provision_percent: DecimalStr
    provision: DecimalStr
    outstanding_principal: DecimalStr
    written_off_principal: DecimalStr
    non_performing: bool


class WriteOffRequest(StrictModel):
    reason: Note
    written_off_on: date | None = None


class WriteOffOut(OutModel):
    id: str
    loan_id: str
    status: str
    reason: str
    requested_on: date
    requested_by: str
    days_past_due: int
    principal: DecimalStr
    confirmed_by: str | None
    confirmed_on: date | None
    loan_status: str = Field(description="written_off once a second key has confirmed")
