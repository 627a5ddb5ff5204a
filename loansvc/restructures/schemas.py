"""Restructure requests, their preview, payoff quotes and schedule versions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from loansvc.fields import DecimalStr, Note, OutModel, RatePercent, StrictModel


class RestructureChanges(StrictModel):
    principal_grace_periods: int = Field(default=0, ge=0, le=24, description="periods of interest only")
    payment_holiday_periods: int = Field(default=0, ge=0, le=12, description="periods with nothing due")
    holiday_interest: Literal["capitalise", "spread"] = Field(
        default="capitalise",
        description="the interest of the payment holidays: added to the principal, or spread evenly "
        "over the amortizing installments",
    )
    extend_term_by: int = Field(default=0, ge=0, le=120, description="periods added to the term")
    new_annual_rate_percent: RatePercent | None = Field(default=None, description="within the legal cap")
    new_first_due_date: date | None = Field(
        default=None, description="moves the next due date; later ones follow the frequency"
    )
    capitalise_arrears: bool = Field(
        default=False,
        description="overdue interest and fees become principal (overdue principal always stays "
        "principal); otherwise they are spread over the new installments without interest",
    )


class RestructureCreate(StrictModel):
    effective_on: date | None = Field(
        default=None, description="today (the default) or a past day, not before the loan's last payment"
    )
    reason: Note
    changes: RestructureChanges


class RejectRestructure(StrictModel):
    reason: Note


class PreviewInstallment(OutModel):
    number: int
    due_date: date
    principal: DecimalStr
    interest: DecimalStr
    fees: DecimalStr
    total: DecimalStr
    balance: DecimalStr


class RestructurePreview(OutModel):
    first_number: int
    installments: list[PreviewInstallment]
    outstanding_principal: DecimalStr
    capitalised: DecimalStr
    old_installment: DecimalStr | None
    new_installment: DecimalStr | None
    old_remaining_cost: DecimalStr = Field(description="interest and fees still to pay from effective_on")
    new_remaining_cost: DecimalStr
    apr_percent: DecimalStr = Field(
        description="of what remains: everything owed at effective_on, repaid by the new installments"
    )
    eir_percent: DecimalStr
    total_term: int = Field(description="installments counted from the first due date")


class RestructureOut(OutModel):
    id: str
    loan_id: str
    status: Literal["requested", "approved", "rejected"]
    effective_on: date
    reason: str
    changes: RestructureChanges
    preview: RestructurePreview
    requested_on: date
    requested_by: str
    decided_on: date | None
    decided_by: str | None
    decision_reason: str | None
    schedule_version: int | None
    created_at: datetime


class PayoffOut(OutModel):
    loan_id: str
    on: date
    currency: str
    amount: DecimalStr
    principal: DecimalStr
    interest: DecimalStr
    fees: DecimalStr
    penalties: DecimalStr


class ScheduleVersionOut(OutModel):
    version: int
    kind: Literal["disbursement", "prepayment", "restructure", "holiday", "replay"]
    effective_on: date
    starts_at_number: int
    previous_version: int | None
    current: bool
    note: str | None
    created_at: datetime
