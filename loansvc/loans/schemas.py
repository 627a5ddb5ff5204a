"""Loan requests and responses. Money is a decimal string; dates are ISO dates."""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from loansvc.fields import DecimalStr, Name, Note, OutModel, PositiveAmount, Quantity, StrictModel
from loansvc.protection.schemas import ApplicationConsent

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
    consent: ApplicationConsent | None = Field(
        default=None,
        description="the household's consent to share its file with the product's lender; needed unless"
        " a live consent for that lender is already recorded (POST /v1/households/{id}/consents)",
    )


class ApproveRequest(StrictModel):
    approved_on: date | None = None
    approved_amount: PositiveAmount | None = Field(default=None, description="at most the amount applied for")
    note: Note | None = None
    override_reason: Note | None = Field(
        default=None,
        description="admin only: approve despite an ineligible assessment, with a written reason",
    )
    acknowledge_apr_above_cap: bool = Field(
        default=False,
        description="needed, with a written note, when the loan's apr_percent (2 decimals, as shown) is"
        " above the legal cap (LOANSVC_RATE_CAP_PERCENT); without it the approval is 409 APR_ABOVE_CAP",
    )

    @model_validator(mode="after")
    def _acknowledged_in_writing(self):
        if self.acknowledge_apr_above_cap and self.note is None:
            raise ValueError("acknowledge_apr_above_cap needs a written note saying why")
        return self


def _reason_from_note(data: Any) -> Any:
    """`reason` is the field (as on reverse and write-off); `note` is its deprecated alias."""
    if isinstance(data, dict) and "note" in data:
        data = dict(data)
        note = data.pop("note")
        if data.get("reason") not in (None, note):
            raise ValueError("send reason only: note is its deprecated alias")
        data["reason"] = note if data.get("reason") is None else data["reason"]
    return data


class RejectRequest(StrictModel):
    reason: Note = Field(description="why the application is rejected (`note` is accepted as its alias)")
    note: Note | None = Field(default=None, deprecated=True, description="deprecated alias of `reason`")
    rejected_on: date | None = None

    _note = model_validator(mode="before")(_reason_from_note)


class WithdrawRequest(StrictModel):
    reason: Note | None = Field(
        default=None, description="why the application is withdrawn (`note` is accepted as its alias)"
    )
    note: Note | None = Field(default=None, deprecated=True, description="deprecated alias of `reason`")
    withdrawn_on: date | None = None

    _note = model_validator(mode="before")(_reason_from_note)


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
    amount: DecimalStr = Field(description="the principal disbursed (= gross_amount; kept for compatibility)")
    gross_amount: DecimalStr = Field(description="the principal this disbursement adds to the loan")
    fees_withheld: DecimalStr = Field(
        description="upfront fees withheld from it: fixed fees from the first disbursement, percent fees"
        " pro rata (percent of the principal disbursed so far, less what earlier disbursements withheld)"
    )
    net_amount: DecimalStr = Field(description="what the family receives: gross_amount - fees_withheld")
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


class ScheduleFeesOut(OutModel):
    upfront: DecimalStr = Field(
        description="the contract's upfront fees on the approved amount, withheld from the disbursements"
    )
    withheld: DecimalStr = Field(description="upfront fees withheld by the disbursements so far")
    per_installment: DecimalStr = Field(description="the installments' fees, due with them like any amount")
    total: DecimalStr = Field(description="upfront + per_installment")


class ScheduleOut(OutModel):
    loan_id: str
    version: int
    currency: str
    as_of: date
    fees: ScheduleFeesOut | None = Field(description="where the loan's fees are paid (null before approval)")
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
    apr_percent: DecimalStr | None = Field(
        description="the application's own fee-inclusive APR (actuarial, upfront fees withheld from the"
        " disbursement), in percent, 2 decimals (half-even) as shown to the family; the approval rule"
        " compares this shown value with the cap (null for loans applied for before it was computed)"
    )
    eir_percent: DecimalStr | None = Field(
        description="the effective interest rate a year of the same cash flows, in percent, 2 decimals"
    )
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
    restructured: bool = Field(default=False, description="restructured at least once")
    restructure_count: int = 0
    restructured_on: date | None = Field(default=None, description="the latest restructure's effective day")
    classification: str | None = Field(
        default=None,
        description="NBC class today (a restructured loan is on watch: at least special_mention)",
    )
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
