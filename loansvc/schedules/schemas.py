"""Requests and responses of /v1/schedules and /v1/rates. Money and rates are decimal strings."""

from __future__ import annotations

import datetime as dt
from datetime import date
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import Field, PlainSerializer, model_validator

from loansvc.fields import (
    Currency,
    DecimalStr,
    NonNegativeAmount,
    OutModel,
    PositiveAmount,
    RatePercent,
    ShortText,
    StrictModel,
)

Frequency = Literal["monthly", "quarterly", "every_4_weeks", "biweekly", "weekly"]
InterestMethod = Literal["declining_balance", "flat"]
Amortization = Literal["equal_installments", "equal_principal"]
InterestCalculation = Literal["per_period", "daily"]
DayCount = Literal["actual/365", "actual/360", "actual/actual", "30/360"]
Periods = Annotated[int, Field(ge=0, le=600)]
Percent = Annotated[DecimalStr, Field(ge=0, le=100)]


def _rate_text(value: Decimal) -> str:
    # as the solver quantized it: "12.6820" keeps its fourth decimal, "0.00807142" its eighth
    return format(value, "f")


# Rates out: not DecimalStr, whose 6-place limit refused an 8-decimal periodic rate (a 500) and
# whose trimming turned "12.6820" into "12.682".
RateOut = Annotated[
    Decimal,
    PlainSerializer(_rate_text, return_type=str, when_used="json"),
    Field(description="a decimal string: percents with 4 decimals, a periodic rate with 8"),
]


class FeeIn(StrictModel):
    name: ShortText
    timing: Literal["upfront", "per_installment"] = "upfront"
    amount: NonNegativeAmount | None = None
    percent: Percent | None = Field(default=None, description="percent of the principal")

    @model_validator(mode="after")
    def _one_of(self):
        if (self.amount is None) == (self.percent is None):
            raise ValueError("a fee has either an amount or a percent of the principal, not both")
        return self


class TrancheIn(StrictModel):
    date: date
    amount: PositiveAmount


class SimulateRequest(StrictModel):
    label: ShortText | None = Field(default=None, description="a name for the offer, echoed by compare")
    principal: PositiveAmount
    currency: Currency
    annual_rate_percent: RatePercent
    term: int = Field(ge=1, le=600)
    frequency: Frequency = "monthly"
    interest_method: InterestMethod = "declining_balance"
    amortization: Amortization = "equal_installments"
    interest_calculation: InterestCalculation = "per_period"
    day_count: DayCount = "actual/365"
    disbursement_date: date
    first_repayment_date: date | None = None
    grace_principal_periods: Periods = 0
    grace_interest_periods: Periods = 0
    interest_free_periods: Periods = 0
    installment_multiple: PositiveAmount | None = None
    rounding: Literal["half_even", "half_up"] = "half_even"
    fees: list[FeeIn] = Field(default_factory=list, max_length=20)
    tranches: list[TrancheIn] = Field(default_factory=list, max_length=60)


class InstallmentOut(OutModel):
    number: int
    due_date: date
    principal: DecimalStr
    interest: DecimalStr
    fees: DecimalStr
    total: DecimalStr
    balance: DecimalStr


class Totals(OutModel):
    principal: DecimalStr
    interest: DecimalStr
    fees: DecimalStr
    total: DecimalStr


class WarningOut(OutModel):
    code: str
    message: str


class ScheduleResponse(OutModel):
    currency: str
    installment_amount: DecimalStr | None
    installments: list[InstallmentOut]
    totals: Totals
    apr_percent: RateOut
    eir_percent: RateOut
    warnings: list[WarningOut]


class OfferSummary(OutModel):
    index: int
    label: str | None
    currency: str
    principal: DecimalStr
    term: int
    frequency: str
    installment_amount: DecimalStr | None
    largest_installment: DecimalStr
    total_interest: DecimalStr
    total_fees: DecimalStr
    total_cost: DecimalStr = Field(description="interest plus every fee: what the credit costs")
    total_paid: DecimalStr
    apr_percent: RateOut
    apr_percent_shown: DecimalStr = Field(
        description="the APR as it is shown to people: 2 decimals, half-even; offers are ranked by it"
    )
    rank: int | None = Field(
        description="1 is the cheapest by shown APR; offers with the same shown APR share a rank and "
        "the next rank skips past them (competition ranking: 1, 1, 3); null when the offers are not "
        "all in one currency"
    )
    eir_percent: RateOut
    warnings: list[WarningOut]


class CompareResponse(OutModel):
    offers: list[OfferSummary]
    cheapest_index: int | None = Field(
        description="the one offer of rank 1; null when two or more share rank 1 (their shown APRs are "
        "equal: a difference past the 2nd decimal names no winner) or the offers are in different "
        "currencies"
    )


class CashFlowIn(StrictModel):
    # the APR of any cash flows, Regulation Z's own 1978 worked examples included
    earliest_date: ClassVar[dt.date] = dt.date(1900, 1, 1)

    date: date
    amount: PositiveAmount


class AprRequest(StrictModel):
    method: Literal["actuarial", "effective"] = "actuarial"
    unit_period: Literal[
        "month", "semimonth", "quarter", "year", "week", "biweek", "four_weeks", "day", "term"
    ] = "month"
    advances: list[CashFlowIn] = Field(min_length=1, max_length=1000)
    payments: list[CashFlowIn] = Field(min_length=1, max_length=2000)


class AprResponse(OutModel):
    apr_percent: RateOut
    periodic_rate: RateOut
    eir_percent: RateOut
