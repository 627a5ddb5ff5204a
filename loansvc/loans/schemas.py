"""Loan requests and responses. Money is a decimal string; dates are ISO dates."""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from loansvc.fields import DecimalStr, Name, Note, OutModel, PositiveAmount, Quantity, StrictModel

Milestone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Sku = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
LoanStatus = Literal["submitted", "approved", "rejected", "withdrawn", "active", "closed", "written_off"]


class LoanCreate(StrictModel):
    household_id: str = Field(max_length=36)
    product_id: str = Field(max_length=36)
    amount: PositiveAmount
    term: int = Field(ge=1, le=600)
    purpose: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    housing_model_code: Annotated[str, StringConstraints(min_length=1, max_length=50)] | None = None
    first_repayment_date: date | None = None
    grace_principal_periods: int = Field(default=0, ge=0, le=60)
    submitted_on: date | None = None


class ApproveRequest(StrictModel):
    approved_on: date | None = None
    approved_amount: PositiveAmount | None = Field(default=None, description="at most the amount applied for")
    note: Note | None = None
    override_reason: Note | None = Field(
        default=None,
        description="admin only: approve despite an ineligible assessment, with a written reason",
    )


class RejectRequest(StrictModel):
    note: Note
    rejected_on: date | None = None


class WithdrawRequest(StrictModel):
    note: Note | None = None
    withdrawn_on: date | None = None


class MaterialLine(StrictModel):
    sku: Sku
    quantity: Quantity


class DisbursementCreate(StrictModel):
    kind: Literal["cash", "materials"]
    amount: PositiveAmount | None = Field(default=None, description="cash tranches only")
    lines: list[MaterialLine] | None = Field(default=None, max_length=100, description="materials only")
    milestone: Milestone
    date: dt.date | None = None

    @model_validator(mode="after")
    def _kind_fields(self):
        if self.kind == "cash" and (self.amount is None or self.lines):
            raise ValueError("a cash disbursement has an amount and no lines")
        if self.kind == "materials":
            if not self.lines or self.amount is not None:
                raise ValueError("a materials disbursement has lines (sku, quantity) and no amount")
            skus = [line.sku for line in self.lines]
            if len(set(skus)) != len(skus):
                raise ValueError("each sku appears once in a delivery")
        return self


class InspectionCreate(StrictModel):
    milestone: Milestone
    inspected_on: date
    inspector: Name
    passed: bool
    notes: Note | None = None


class InspectionOut(OutModel):
    id: str
    loan_id: str
    milestone: str
    inspected_on: date
    inspector: str
    passed: bool
    notes: str | None
    created_at: datetime


class DisbursementLineOut(OutModel):
    sku: str
    quantity: DecimalStr
    unit_cost: DecimalStr
    value: DecimalStr


class DisbursementOut(OutModel):
    id: str
    loan_id: str
    kind: str
    amount: DecimalStr
    milestone: str
    date: date
    lines: list[DisbursementLineOut]
    disbursed_amount: DecimalStr = Field(description="the loan's total disbursed after this one")
    created_by: str
    created_at: datetime


InstallmentStatus = Literal["paid", "overdue", "due", "partly_paid", "upcoming"]


class InstallmentOut(OutModel):
    number: int
    due_date: date
    principal: DecimalStr
    interest: DecimalStr
    fees: DecimalStr
    total: DecimalStr
    balance: DecimalStr
    penalty: DecimalStr = Field(description="the late fee charged (or owed) on this installment")
    paid_principal: DecimalStr
    paid_interest: DecimalStr
    paid_fees: DecimalStr
    paid_penalty: DecimalStr
    status: InstallmentStatus = Field(
        description="as of the day: paid in full; overdue (due date passed, not fully paid); due (falls due"
        " that day); partly_paid (not yet due, partly paid); upcoming"
    )


class ScheduleOut(OutModel):
    loan_id: str
    version: int
    currency: str
    as_of: date
    installments: list[InstallmentOut]


class LoanOut(OutModel):
    id: str
    status: LoanStatus
    household_id: str
    product_id: str
    lender_id: str
    currency: str
    amount: DecimalStr
    term: int
    purpose: str
    housing_model_code: str | None
    first_repayment_date: date | None
    submitted_on: date
    submitted_by: str
    decided_on: date | None
    decided_by: str | None
    decision_note: str | None
    override_reason: str | None
    approved_amount: DecimalStr | None
    terms: dict[str, Any] | None
    disbursed_amount: DecimalStr
    principal_paid: DecimalStr
    written_off_principal: DecimalStr
    outstanding_principal: DecimalStr = Field(
        description="disbursed - principal paid - written off (0 once written off)"
    )
    overdue_amount: DecimalStr
    days_past_due: int
    total_paid: DecimalStr = Field(description="every payment that counts, credit included (not recoveries)")
    credit_balance: DecimalStr
    recovered_amount: DecimalStr = Field(description="received on the loan after its write-off")
    next_installment: InstallmentOut | None = Field(description="the first installment not fully paid")
    assessment: dict[str, Any] | None
    created_at: datetime


class HistoryEntryOut(OutModel):
    id: int
    entity_type: str
    entity_id: str
    action: str
    actor_name: str
    actor_role: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    created_at: datetime
