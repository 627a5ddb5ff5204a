"""Registry requests and responses. Money and rates are decimal strings; ids are strings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from loansvc.fields import (
    Currency,
    DecimalStr,
    Name,
    NonNegativeAmount,
    OutModel,
    PositiveAmount,
    RatePercent,
    ShortText,
    StrictModel,
)

LenderKind = Literal["mfi", "materials_bank", "ngo_fund"]
IncomeFrequency = Literal["daily", "weekly", "biweekly", "every_4_weeks", "monthly", "quarterly", "yearly"]
RepaymentFrequency = Literal["monthly", "quarterly", "every_4_weeks", "biweekly", "weekly"]
InterestMethod = Literal["declining_balance", "flat"]
Amortization = Literal["equal_installments", "equal_principal"]
InterestCalculation = Literal["per_period", "daily"]
DayCount = Literal["actual/365", "actual/360", "actual/actual", "30/360"]
Vulnerability = Literal["female_headed", "elderly_head", "disability", "chronic_illness"]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=30, pattern=r"^[0-9+ ()-]+$")
]
Milestone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class LenderCreate(StrictModel):
    name: Name
    kind: LenderKind
    default_currency: Currency = "USD"


class LenderOut(OutModel):
    id: str
    name: str
    kind: str
    default_currency: str
    created_at: datetime


class FeeTerm(StrictModel):
    name: ShortText
    timing: Literal["upfront", "per_installment"] = "upfront"
    amount: NonNegativeAmount | None = None
    percent: Annotated[DecimalStr, Field(ge=0, le=100)] | None = None

    @model_validator(mode="after")
    def _one_of_amount_or_percent(self):
        if (self.amount is None) == (self.percent is None):
            raise ValueError("a fee has either an amount or a percent of the principal, not both")
        return self


class ProductCreate(StrictModel):
    lender_id: str = Field(max_length=36)
    name: Name
    currency: Currency
    annual_rate_percent: RatePercent = Field(
        description="nominal rate a year; above the legal cap (LOANSVC_RATE_CAP_PERCENT, 18) is 422 "
        "RATE_ABOVE_LEGAL_CAP, for every lender"
    )
    interest_method: InterestMethod = Field(
        default="declining_balance",
        description="flat is 422 FLAT_RATE_PROHIBITED (flat offers can only be simulated and compared)",
    )
    amortization: Amortization = "equal_installments"
    frequency: RepaymentFrequency = "monthly"
    interest_calculation: InterestCalculation = "per_period"
    day_count: DayCount = "actual/365"
    min_amount: PositiveAmount
    max_amount: PositiveAmount
    min_term: int = Field(ge=1, le=600)
    max_term: int = Field(ge=1, le=600)
    fees: list[FeeTerm] = Field(default_factory=list, max_length=20)
    max_grace_principal_periods: int = Field(default=0, ge=0, le=60)
    installment_multiple: PositiveAmount | None = None
    milestones: list[Milestone] = Field(
        default_factory=lambda: ["foundation", "structure", "roof", "finishing"], min_length=1, max_length=12
    )
    policy_version: Annotated[str, StringConstraints(max_length=50)] | None = Field(
        default=None,
        description="the affordability policy version for this product (default: the default policy)",
    )
    allocation_order: list[Literal["penalty", "fees", "interest", "principal"]] = Field(
        default_factory=lambda: ["penalty", "fees", "interest", "principal"], min_length=4, max_length=4
    )
    prepayment: Literal["reduce_term", "reduce_installment"] = Field(
        default="reduce_term",
        description="a payment beyond what is due goes on principal, then the rest of the schedule is "
        "rebuilt: reduce_term keeps the installment and ends the loan earlier, reduce_installment keeps "
        "the dates and lowers the installment",
    )
    holiday_rule: Literal["same_day", "next_working_day", "previous_working_day"] = Field(
        default="next_working_day",
        description="a due date on a holiday or a non-working day of the lender moves by this rule",
    )
    allow_credit_balance: bool = False
    materials_gated: bool = Field(
        default=True,
        description="materials in kind follow the construction stages as cash does (false: any stage, no"
        " inspection)",
    )
    late_fee: PositiveAmount | None = Field(default=None, description="charged once per installment overdue")
    late_fee_after_days: int = Field(default=0, ge=0, le=365)

    @model_validator(mode="after")
    def _ranges(self):
        if len(set(self.allocation_order)) != 4:
            raise ValueError("allocation_order lists penalty, fees, interest and principal once each")
        if self.max_amount < self.min_amount:
            raise ValueError("max_amount must be at least min_amount")
        if self.max_term < self.min_term:
            raise ValueError("max_term must be at least min_term")
        if self.interest_method == "flat" and self.amortization != "equal_installments":
            raise ValueError("flat interest implies equal_installments")
        return self


class FeeTermOut(OutModel):
    name: str
    timing: str
    amount: DecimalStr | None = None
    percent: DecimalStr | None = None


class ProductOut(OutModel):
    id: str
    lender_id: str
    name: str
    currency: str
    annual_rate_percent: DecimalStr
    interest_method: str
    amortization: str
    frequency: str
    interest_calculation: str
    day_count: str
    min_amount: DecimalStr
    max_amount: DecimalStr
    min_term: int
    max_term: int
    fees: list[FeeTermOut]
    max_grace_principal_periods: int
    installment_multiple: DecimalStr | None
    milestones: list[str]
    policy_version: str | None
    allocation_order: list[str]
    prepayment: str
    holiday_rule: str
    allow_credit_balance: bool
    materials_gated: bool
    late_fee: DecimalStr | None
    late_fee_after_days: int
    created_at: datetime


class SiteCreate(StrictModel):
    name: Name
    district: Name
    city: Name


class SiteOut(OutModel):
    id: str
    name: str
    district: str
    city: str
    created_at: datetime


class IncomeIn(StrictModel):
    source: ShortText
    amount: NonNegativeAmount
    frequency: IncomeFrequency = "monthly"
    currency: Currency = "USD"


class ExpenseIn(StrictModel):
    category: ShortText
    amount: NonNegativeAmount
    frequency: IncomeFrequency = "monthly"
    currency: Currency | None = None


class DebtIn(StrictModel):
    lender: Name
    installment: PositiveAmount
    frequency: IncomeFrequency = "monthly"
    outstanding: NonNegativeAmount
    currency: Currency | None = None


class HouseholdFields(StrictModel):
    parcel_code: Code
    title_number: Code | None = None
    head_name: Name
    phone: Phone | None = None
    household_size: int = Field(ge=1, le=50)
    idpoor_level: Literal[0, 1, 2] = 0
    vulnerabilities: list[Vulnerability] = Field(default_factory=list, max_length=4)
    temporary_shelter: bool = False
    language: Literal["km", "en"] = Field(default="km", description="the language of its reminders")
    incomes: list[IncomeIn] = Field(default_factory=list, max_length=30)
    expenses: list[ExpenseIn] = Field(default_factory=list, max_length=30)
    existing_debts: list[DebtIn] = Field(default_factory=list, max_length=30)


class HouseholdCreate(HouseholdFields):
    site_id: str = Field(max_length=36)


class HouseholdPatch(StrictModel):
    """Every field optional; a list given replaces the recorded one."""

    parcel_code: Code | None = None
    title_number: Code | None = None
    head_name: Name | None = None
    phone: Phone | None = None
    household_size: int | None = Field(default=None, ge=1, le=50)
    idpoor_level: Literal[0, 1, 2] | None = None
    vulnerabilities: list[Vulnerability] | None = Field(default=None, max_length=4)
    temporary_shelter: bool | None = None
    language: Literal["km", "en"] | None = None
    incomes: list[IncomeIn] | None = Field(default=None, max_length=30)
    expenses: list[ExpenseIn] | None = Field(default=None, max_length=30)
    existing_debts: list[DebtIn] | None = Field(default=None, max_length=30)


class IncomeOut(OutModel):
    source: str
    amount: DecimalStr
    frequency: str
    currency: str


class ExpenseOut(OutModel):
    category: str
    amount: DecimalStr
    frequency: str
    currency: str | None


class DebtOut(OutModel):
    lender: str
    installment: DecimalStr
    frequency: str
    outstanding: DecimalStr
    currency: str | None


class HouseholdConsentOut(OutModel):
    id: str
    lender_id: str
    given_on: date
    method: str = Field(description="signed_form | thumbprint | verbal_witnessed")
    reference: str | None
    withdrawn_on: date | None = Field(description="null while the consent is live")


class HouseholdCollateralOut(OutModel):
    id: str
    loan_id: str
    held_by_lender_id: str
    kind: str = Field(description="land_title | movable | guarantor")
    title_number: str | None
    received_on: date
    storage_location: str | None


class HouseholdOut(OutModel):
    id: str
    site_id: str
    parcel_code: str
    title_number: str | None
    head_name: str
    phone: str | None
    household_size: int
    idpoor_level: int
    vulnerabilities: list[str]
    temporary_shelter: bool
    language: str = Field(description="km | en: the language of its reminders")
    incomes: list[IncomeOut]
    expenses: list[ExpenseOut]
    existing_debts: list[DebtOut]
    consents: list[HouseholdConsentOut] = Field(
        default_factory=list,
        description="the household's consents to share its file, withdrawn ones included (a partner: its"
        " own lender's only)",
    )
    collateral_held: list[HouseholdCollateralOut] = Field(
        default_factory=list,
        description="what lenders hold for its loans and have not released, every lender's (its status,"
        " due for return or overdue: GET /v1/loans/{id}/collateral)",
    )
    created_at: datetime
    updated_at: datetime
