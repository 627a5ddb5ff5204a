"""A loan's contract terms: the frozen `LoanTerms`, written once at approval from the product and
the application, and read everywhere through `terms_of(loan)` (the only reader of `loan.terms`).

Before approval `loan.terms` holds only what the application asked for (its principal grace);
`requested_grace(loan)` reads that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from loansvc.domain.arrears import term_in_months
from loansvc.domain.dates import HOLIDAY_RULES, NO_CALENDAR, Calendar  # noqa: F401
from loansvc.domain.money import Rounding
from loansvc.domain.repayments import DEFAULT_ORDER, Component, Prepayment, allocation_order
from loansvc.domain.schedule import (
    Amortization,
    DayCount,
    Fee,
    FeeTiming,
    Frequency,
    InterestCalculation,
    InterestMethod,
    Tranche,
)
from loansvc.domain.schedule import LoanTerms as ScheduleTerms

DEFAULT_MILESTONES = ("foundation", "structure", "roof", "finishing")


def fee_terms(raw: list[dict[str, Any]] | None) -> tuple[Fee, ...]:
    """Fee terms stored as JSON (decimal strings) on a product or a loan's frozen terms."""
    return tuple(
        Fee(
            name=f["name"],
            timing=FeeTiming(f.get("timing", "upfront")),
            amount=Decimal(f["amount"]) if f.get("amount") is not None else None,
            percent=Decimal(f["percent"]) if f.get("percent") is not None else None,
        )
        for f in raw or []
    )


def _fees_json(fees: tuple[Fee, ...]) -> list[dict[str, Any]]:
    return [
        {
            "name": f.name,
            "timing": f.timing.value,
            "amount": None if f.amount is None else str(f.amount),
            "percent": None if f.percent is None else str(f.percent),
        }
        for f in fees
    ]


def _decimal_or_none(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


@dataclass(frozen=True)
class LoanTerms:
    """What the family and the lender agreed at approval. Product edits never reach it."""

    currency: str
    approved_amount: Decimal
    term: int
    annual_rate_percent: Decimal
    interest_method: InterestMethod
    amortization: Amortization
    frequency: Frequency
    interest_calculation: InterestCalculation
    day_count: DayCount
    installment_multiple: Decimal | None = None
    fees: tuple[Fee, ...] = ()
    grace_principal_periods: int = 0
    first_repayment_date: date | None = None
    milestones: tuple[str, ...] = DEFAULT_MILESTONES
    # materials follow the construction stages too, unless the product lets them out for any stage
    materials_gated: bool = True
    prepayment: Prepayment = Prepayment.REDUCE_TERM
    holiday_rule: str = "next_working_day"
    allocation_order: tuple[Component, ...] = DEFAULT_ORDER
    allow_credit_balance: bool = False
    late_fee: Decimal | None = None
    late_fee_after_days: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def term_months(self) -> Decimal:
        """The original term in months, for the short- or long-term classification table."""
        return term_in_months(self.term, self.frequency)

    def schedule_terms(
        self,
        principal: Decimal,
        disbursed_on: date,
        tranches: tuple[Tranche, ...] = (),
        calendar: Calendar = NO_CALENDAR,
    ) -> ScheduleTerms:
        """The schedule engine's terms for `principal` disbursed on `disbursed_on`."""
        return ScheduleTerms(
            principal=principal,
            currency=self.currency,
            annual_rate_percent=self.annual_rate_percent,
            term=self.term,
            frequency=self.frequency,
            disbursement_date=disbursed_on,
            interest_method=self.interest_method,
            amortization=self.amortization,
            interest_calculation=self.interest_calculation,
            day_count=self.day_count,
            first_repayment_date=self.first_repayment_date,
            grace_principal_periods=self.grace_principal_periods,
            installment_multiple=self.installment_multiple,
            rounding=Rounding.HALF_EVEN,
            fees=self.fees,
            tranches=tranches,
            calendar=calendar,
        )

    def to_json(self) -> dict[str, Any]:
        """The stored form: decimal strings, ISO dates, enum values."""
        return {
            "currency": self.currency,
            "approved_amount": str(self.approved_amount),
            "term": self.term,
            "annual_rate_percent": str(self.annual_rate_percent),
            "interest_method": self.interest_method.value,
            "amortization": self.amortization.value,
            "frequency": self.frequency.value,
            "interest_calculation": self.interest_calculation.value,
            "day_count": self.day_count.value,
            "installment_multiple": None
            if self.installment_multiple is None
            else str(self.installment_multiple),
            "fees": _fees_json(self.fees),
            "grace_principal_periods": self.grace_principal_periods,
            "first_repayment_date": None
            if self.first_repayment_date is None
            else self.first_repayment_date.isoformat(),
            "milestones": list(self.milestones),
            "materials_gated": self.materials_gated,
            "prepayment": self.prepayment.value,
            "holiday_rule": self.holiday_rule,
            "allocation_order": [c.value for c in self.allocation_order],
            "allow_credit_balance": self.allow_credit_balance,
            "late_fee": None if self.late_fee is None else str(self.late_fee),
            "late_fee_after_days": self.late_fee_after_days,
            **self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoanTerms:
        known = set(cls.__dataclass_fields__) - {"extra"}
        first = data.get("first_repayment_date")
        return cls(
            currency=data["currency"],
            approved_amount=Decimal(data["approved_amount"]),
            term=int(data["term"]),
            annual_rate_percent=Decimal(data["annual_rate_percent"]),
            interest_method=InterestMethod(data["interest_method"]),
            amortization=Amortization(data["amortization"]),
            frequency=Frequency(data["frequency"]),
            interest_calculation=InterestCalculation(data["interest_calculation"]),
            day_count=DayCount(data["day_count"]),
            installment_multiple=_decimal_or_none(data.get("installment_multiple")),
            fees=fee_terms(data.get("fees")),
            grace_principal_periods=int(data.get("grace_principal_periods") or 0),
            first_repayment_date=date.fromisoformat(first) if first else None,
            milestones=tuple(data.get("milestones") or DEFAULT_MILESTONES),
            # terms frozen before the setting existed gate materials, as the default does
            materials_gated=data.get("materials_gated") is not False,
            prepayment=Prepayment(data.get("prepayment") or Prepayment.REDUCE_TERM.value),
            holiday_rule=data.get("holiday_rule") or "next_working_day",
            allocation_order=allocation_order(
                data.get("allocation_order") or [c.value for c in DEFAULT_ORDER]
            ),
            allow_credit_balance=bool(data.get("allow_credit_balance", False)),
            late_fee=_decimal_or_none(data.get("late_fee")),
            late_fee_after_days=int(data.get("late_fee_after_days") or 0),
            extra={k: v for k, v in data.items() if k not in known},
        )


def freeze(product, loan, approved_amount: Decimal) -> LoanTerms:
    """The contract, copied at approval from the product and the application."""
    return LoanTerms(
        currency=product.currency,
        approved_amount=approved_amount,
        term=loan.term,
        annual_rate_percent=product.annual_rate_percent,
        interest_method=InterestMethod(product.interest_method),
        amortization=Amortization(product.amortization),
        frequency=Frequency(product.frequency),
        interest_calculation=InterestCalculation(product.interest_calculation),
        day_count=DayCount(product.day_count),
        installment_multiple=product.installment_multiple,
        fees=fee_terms(product.fees),
        grace_principal_periods=requested_grace(loan),
        first_repayment_date=loan.first_repayment_date,
        milestones=tuple(product.milestones or DEFAULT_MILESTONES),
        materials_gated=product.materials_gated is not False,
        prepayment=Prepayment(product.prepayment or Prepayment.REDUCE_TERM.value),
        holiday_rule=product.holiday_rule or "next_working_day",
        allocation_order=allocation_order(product.allocation_order or [c.value for c in DEFAULT_ORDER]),
        allow_credit_balance=bool(product.allow_credit_balance),
        late_fee=product.late_fee,
        late_fee_after_days=product.late_fee_after_days or 0,
    )


def terms_of(loan) -> LoanTerms:
    """The loan's frozen terms (approved loans only: an application has none yet)."""
    if loan.approved_amount is None or not loan.terms or "annual_rate_percent" not in loan.terms:
        raise ValueError(f"loan {loan.id} has no frozen terms before approval")
    return LoanTerms.from_json(loan.terms)


def has_terms(loan) -> bool:
    return loan.approved_amount is not None and bool(loan.terms) and "annual_rate_percent" in loan.terms


def application_terms(grace_principal_periods: int) -> dict[str, Any]:
    """What an application stores before approval: the principal grace it asks for."""
    return {"grace_principal_periods": grace_principal_periods}


def requested_grace(loan) -> int:
    return int((loan.terms or {}).get("grace_principal_periods") or 0)
