"""Report responses: money as decimal strings in the currency's minor unit, percentages with 2
decimals (null when there is nothing to divide by)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from loansvc.fields import DecimalStr
from loansvc.protection.contacts_schemas import LastContactOut, PromiseOut
from loansvc.protection.custody_schemas import HeldCollateralOut, OverdueTitlesOut

Bucket = Literal["current", "1-30", "31-60", "61-90", "91-180", "181-365", "365+"]
LoanClass = Literal["normal", "special_mention", "substandard", "doubtful", "loss"]
GroupBy = Literal["lender", "site", "product", "currency"]
ReportFormat = Literal["json", "csv", "xlsx"]


class AgingOut(BaseModel):
    bucket: Bucket
    loans: int
    principal: DecimalStr


class ClassOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    loan_class: LoanClass = Field(alias="class")
    loans: int
    principal: DecimalStr
    provision: DecimalStr = Field(description="the class's provision percent of its principal, half-even")


class MonthOut(BaseModel):
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    amount: DecimalStr


class Figures(BaseModel):
    currency: str
    active_loans: int
    borrowers: int = Field(description="distinct households with an active loan")
    gross_loan_portfolio: DecimalStr = Field(description="outstanding principal of the active loans")
    par1_balance: DecimalStr = Field(description="whole outstanding principal of loans more than 1 day late")
    par30_balance: DecimalStr
    par90_balance: DecimalStr
    par1_percent: DecimalStr | None = Field(description="par1_balance / gross_loan_portfolio")
    par30_percent: DecimalStr | None
    par90_percent: DecimalStr | None
    loans_apr_above_cap: int = Field(
        description="active loans whose fee-inclusive APR, shown to 2 decimals, is above the legal cap"
        " (LOANSVC_RATE_CAP_PERCENT): approved only with a written acknowledgement"
    )
    loans_apr_above_cap_balance: DecimalStr = Field(description="their outstanding principal")
    restructured_loans: int = Field(
        default=0,
        description="active loans restructured at least once; counted in PAR whatever their days past due "
        "(SEEP), and at least special_mention until they pay 3 installments on time in a row",
    )
    restructured_balance: DecimalStr = Field(default=Decimal(0), description="their outstanding principal")
    aging: list[AgingOut]
    classification: list[ClassOut]
    collected: DecimalStr = Field(description="payments received in the month before as_of (not reversed)")
    fallen_due: DecimalStr = Field(description="installments due in the month before as_of")
    paid_by_due_date: DecimalStr = Field(description="what was paid on those installments by their due date")
    collection_rate_percent: DecimalStr | None = Field(description="collected / fallen_due")
    on_time_rate_percent: DecimalStr | None = Field(description="paid_by_due_date / fallen_due")
    disbursed_cash: DecimalStr
    disbursed_materials: DecimalStr
    written_off: DecimalStr = Field(description="principal written off in the month before as_of")
    recoveries: DecimalStr = Field(description="received on written-off loans in the month before as_of")
    average_gross_loan_portfolio: DecimalStr = Field(
        description="(the gross loan portfolio at the start of the month + at as_of) / 2"
    )
    write_off_ratio_percent: DecimalStr | None = Field(
        description="written_off / average_gross_loan_portfolio"
    )
    loan_loss_rate_percent: DecimalStr | None = Field(
        description="(written_off - recoveries) / average_gross_loan_portfolio"
    )
    expected_collections: list[MonthOut] = Field(
        description="unpaid at as_of on installments due in each of 6 calendar months: the month of the "
        "day after as_of (from that day), then the next whole months (arrears not included)"
    )


class GroupFigures(Figures):
    group: dict[str, str] = Field(
        description="the group's id and its name: lender_id and lender_name, site_id and site_name, "
        "product_id and product_name, or the currency",
        examples=[{"lender_id": "0b7c...", "lender_name": "Prasac MFI"}],
    )


class ConvertedFigures(Figures):
    khr_per_usd: DecimalStr
    converted_from: list[str]


class PortfolioOut(BaseModel):
    as_of: date
    group_by: GroupBy
    totals: list[Figures] = Field(description="one per currency; never summed across currencies")
    groups: list[GroupFigures]
    converted_totals: ConvertedFigures | None = Field(
        default=None, description="only when khr_per_usd is given: USD and KHR totals in USD"
    )
    overdue_title_returns: list[OverdueTitlesOut] = Field(
        default_factory=list,
        description="per lender, land titles still held at as_of more than LOANSVC_TITLE_RETURN_DAYS after"
        " their loan closed (lenders with none are not listed)",
    )


class DelinquentLoanOut(BaseModel):
    loan_id: str
    lender_id: str
    currency: str
    household_id: str
    head_name: str | None = Field(description="null for finance leads (no personal data)")
    phone: str | None = Field(description="null for finance leads (no personal data)")
    site_id: str
    site_name: str
    parcel_code: str | None = Field(description="null for finance leads (no personal data)")
    days_past_due: int
    oldest_due_date: date
    overdue_amount: DecimalStr
    outstanding_principal: DecimalStr
    bucket: Bucket
    loan_class: LoanClass = Field(alias="class")
    collateral_held: list[HeldCollateralOut] = Field(default_factory=list, description="held at as_of")
    last_contact: LastContactOut | None = Field(default=None, description="the latest made by as_of")
    latest_promise: PromiseOut | None = Field(
        default=None, description="the latest promise made by as_of, its state as of as_of"
    )

    model_config = ConfigDict(populate_by_name=True)
