"""Affordability requests and responses (the shapes of issue #4's contract)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

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

CashFrequency = Literal["daily", "weekly", "biweekly", "every_4_weeks", "monthly", "quarterly", "yearly"]
RepaymentFrequency = Literal["monthly", "quarterly", "every_4_weeks", "biweekly", "weekly"]


class IncomeLine(StrictModel):
    source: ShortText
    amount: NonNegativeAmount
    frequency: CashFrequency = "monthly"
    currency: Currency | None = None


class ExpenseLine(StrictModel):
    category: ShortText
    amount: NonNegativeAmount
    frequency: CashFrequency = "monthly"
    currency: Currency | None = None


class DebtLine(StrictModel):
    lender: Name
    installment: PositiveAmount
    frequency: CashFrequency = "monthly"
    outstanding: NonNegativeAmount = Decimal(0)
    currency: Currency | None = None


class LoanIn(StrictModel):
    """Either explicit terms, or a product_id (its terms are used) with amount and term."""

    product_id: Annotated[str, StringConstraints(max_length=36)] | None = None
    amount: PositiveAmount | None = None
    annual_rate_percent: RatePercent | None = None
    term: int | None = Field(default=None, ge=1, le=600)
    frequency: RepaymentFrequency | None = None
    interest_method: Literal["declining_balance", "flat"] | None = None
    amortization: Literal["equal_installments", "equal_principal"] | None = None
    grace_principal_periods: int = Field(default=0, ge=0, le=60)

    @model_validator(mode="after")
    def _terms_known(self):
        if self.product_id is None and (self.annual_rate_percent is None or self.term is None):
            raise ValueError("give annual_rate_percent and term, or a product_id")
        if self.product_id is not None and self.term is None:
            raise ValueError("with a product_id, give the term")
        return self


class AssessRequest(StrictModel):
    currency: Currency = "USD"
    household_size: int | None = Field(default=None, ge=1, le=50)
    idpoor_level: Literal[0, 1, 2] | None = None
    incomes: list[IncomeLine] | None = Field(default=None, max_length=30)
    expenses: list[ExpenseLine] = Field(default_factory=list, max_length=30)
    existing_debts: list[DebtLine] = Field(default_factory=list, max_length=30)
    loan: LoanIn | None = None
    household_id: Annotated[str, StringConstraints(max_length=36)] | None = None

    @model_validator(mode="after")
    def _finances_known(self):
        if self.household_id is None:
            if self.incomes is None:  # an empty list is a family with no income: the policy answers
                raise ValueError("incomes: declare the household's incomes, [] for none (or a household_id)")
            if self.household_size is None:
                raise ValueError("household_size is needed (or a household_id)")
        return self


class RecordedAssessRequest(StrictModel):
    loan: LoanIn
    currency: Currency | None = None


class ReasonOut(OutModel):
    code: str
    message: str


class StressOut(OutModel):
    scenario: str
    dsti_after_percent: DecimalStr | None
    surplus_after_loan: DecimalStr
    passes: bool


class AssessmentResult(OutModel):
    policy_version: str
    currency: str
    monthly_income: DecimalStr
    monthly_expenses: DecimalStr
    monthly_debt_service: DecimalStr
    monthly_surplus: DecimalStr
    max_installment: DecimalStr
    max_loan_amount: DecimalStr | None
    loan_installment: DecimalStr | None
    dsti_before_percent: DecimalStr | None
    dsti_after_percent: DecimalStr | None
    decision: Literal["eligible", "refer", "ineligible"]
    reasons: list[ReasonOut]
    stress: list[StressOut]


class StoredAssessmentOut(OutModel):
    id: str
    household_id: str
    lender_id: str | None
    product_id: str | None
    policy_version: str
    decision: str
    result: dict[str, Any]
    inputs: dict[str, Any] | None = Field(
        description="the snapshot of every input (admins and loan officers)"
    )
    created_by: str
    created_at: datetime


class ReplayOut(OutModel):
    assessment_id: str
    policy_version: str
    matches: bool
    recorded: dict[str, Any]
    replayed: dict[str, Any]


class PolicyCreate(StrictModel):
    version: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    base_version: Annotated[str, StringConstraints(max_length=50)] | None = Field(
        default=None,
        description="copy this version's parameters, then apply `parameters` (default: the default)",
    )
    parameters: dict[str, Any] = Field(default_factory=dict, description="the parameters that differ")
    make_default: bool = False
    notes: Annotated[str, StringConstraints(max_length=2000)] | None = None


class PolicyOut(OutModel):
    version: str
    parameters: dict[str, Any]
    is_default: bool
    notes: str | None
    created_by: str | None
    created_at: datetime


class BillLine(StrictModel):
    sku: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    quantity: Annotated[DecimalStr, Field(gt=0, le=Decimal("1000000"), decimal_places=4)]


class StageIn(StrictModel):
    stage: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    labour_cost: NonNegativeAmount = Decimal(0)
    materials: list[BillLine] = Field(default_factory=list, max_length=100)


class HousingModelCreate(StrictModel):
    code: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[A-Za-z0-9._-]+$"),
    ]
    name: Name
    floor_area_m2: Annotated[DecimalStr, Field(gt=0, le=10000)]
    currency: Currency = "USD"
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    stages: list[StageIn] = Field(min_length=1, max_length=12)

    @model_validator(mode="after")
    def _distinct_stages(self):
        names = [s.stage for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError("each stage appears once")
        return self


class CostLineOut(OutModel):
    sku: str
    name: str
    unit: str
    quantity: DecimalStr
    unit_cost: DecimalStr
    cost: DecimalStr


class StageCostOut(OutModel):
    stage: str
    materials: list[CostLineOut]
    materials_cost: DecimalStr
    labour_cost: DecimalStr
    total: DecimalStr


class HousingModelOut(OutModel):
    id: str
    code: str
    name: str
    floor_area_m2: DecimalStr
    currency: str
    description: str | None
    stages: list[StageCostOut]
    materials_cost: DecimalStr
    labour_cost: DecimalStr
    total_cost: DecimalStr
    created_at: datetime


# Financing plans -----------------------------------------------------------------------------------

ProductId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=36)]


class FinancingPlanRequest(StrictModel):
    housing_model_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    product_id: ProductId = Field(description="the partner lender's product for the cash loan")
    household_contribution: NonNegativeAmount = Field(
        default=Decimal(0), description="what the household pays itself, in the model's currency"
    )
    term: int | None = Field(
        default=None, ge=1, le=600, description="default: the product's longest term (the largest loan)"
    )
    materials_product_id: ProductId | None = Field(
        default=None, description="default: the first product of a materials bank in the model's currency"
    )


class HouseCostOut(OutModel):
    total: DecimalStr
    materials: DecimalStr
    labour: DecimalStr


class PlannedScheduleOut(OutModel):
    installments: int
    first_due_date: date
    last_due_date: date
    installment_amount: DecimalStr | None
    largest_installment: DecimalStr
    total_interest: DecimalStr
    total_fees: DecimalStr
    total_payable: DecimalStr
    eir_percent: DecimalStr


class PlannedLoanOut(OutModel):
    product_id: str
    amount: DecimalStr
    term: int
    frequency: str
    upfront_fees: DecimalStr
    finances: DecimalStr = Field(description="what the loan pays towards the house: amount less upfront fees")
    monthly_installment: DecimalStr = Field(description="the largest installment as a monthly equivalent")
    installment_amount: DecimalStr | None
    total_interest: DecimalStr
    total_fees: DecimalStr = Field(description="upfront fees and fees in the installments")
    cost_of_credit: DecimalStr = Field(
        description="what the loan costs the family: total_interest + total_fees"
    )
    apr_percent: DecimalStr
    schedule: PlannedScheduleOut


class FinancingPlanOut(OutModel):
    household_id: str
    housing_model_code: str
    policy_version: str
    currency: str
    cost: HouseCostOut
    household_contribution: DecimalStr
    monthly_income: DecimalStr
    monthly_debt_service_before: DecimalStr
    max_installment: DecimalStr
    max_loan_amount: DecimalStr
    partner_loan: PlannedLoanOut | None
    materials_loan: PlannedLoanOut | None
    credit_order: list[Literal["materials_loan", "partner_loan"]] = Field(
        description="the plan's loans in the order it filled the family's capacity with them"
    )
    total_interest: DecimalStr = Field(description="over every loan of the plan")
    total_fees: DecimalStr = Field(description="over every loan of the plan")
    total_cost_of_credit: DecimalStr = Field(
        description="total_interest + total_fees: the plan is the one that leaves the least unpaid "
        "by credit and, at that, costs the family least"
    )
    explanation: str = Field(description="why this plan, in one sentence")
    grant: DecimalStr
    funding_gap: DecimalStr
    monthly_debt_service_after: DecimalStr
    dsti_after_percent: DecimalStr | None
    decision: Literal["eligible", "refer", "ineligible"]
    reasons: list[ReasonOut]
    stress: list[StressOut]


# Programme coverage --------------------------------------------------------------------------------

ModelCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class CoverageScenario(StrictModel):
    annual_rate_percent: RatePercent
    term: int = Field(ge=1, le=600)
    frequency: RepaymentFrequency = "monthly"
    grace_principal_periods: int = Field(default=0, ge=0, le=60)


class CoverageRequest(StrictModel):
    site_id: Annotated[str, StringConstraints(max_length=36)] | None = Field(
        default=None, description="one site; absent: every household of every site"
    )
    housing_model_codes: list[ModelCode] = Field(min_length=1, max_length=20)
    scenarios: list[CoverageScenario] = Field(min_length=1, max_length=200)
    policy_version: Annotated[str, StringConstraints(max_length=50)] | None = Field(
        default=None, description="default: the default policy"
    )

    @model_validator(mode="after")
    def _distinct_models(self):
        if len(set(self.housing_model_codes)) != len(self.housing_model_codes):
            raise ValueError("housing_model_codes: each model appears once")
        return self


class DecileOut(OutModel):
    decile: int = Field(description="1 = the lowest monthly incomes")
    households: int
    income_min: DecimalStr | None
    income_max: DecimalStr | None
    affordable_count: int
    subsidy_median: DecimalStr | None


class CoverageRowOut(OutModel):
    housing_model_code: str
    currency: str
    cost: DecimalStr
    scenario: CoverageScenario
    loan_installment: DecimalStr = Field(description="monthly installment of a loan of the whole cost")
    households: int
    affordable_count: int = Field(description="can borrow the whole cost without subsidy")
    affordable_share: DecimalStr | None = Field(description="affordable_count / households, 4 decimals")
    subsidised_count: int
    subsidy_total: DecimalStr = Field(
        description="cost less the largest affordable loan, over every household"
    )
    subsidy_median: DecimalStr | None = Field(description="over every household, 0 for those who need none")
    deciles: list[DecileOut]


class CoverageOut(OutModel):
    policy_version: str
    site_id: str | None
    households: int
    results: list[CoverageRowOut]
