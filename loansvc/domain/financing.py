"""Financing plans: how a household can build a house design (issue 4, section 4).

Composes, in this order, what pays for the house: the household's own contribution; the partner
loan the household can afford (up to the policy's largest loan and the product's limits); for
the materials still unpaid, a materials-bank in-kind loan within the repayment capacity the
partner loan leaves; for ID Poor or vulnerable households, a grant up to a cap; and whatever is
left, the funding gap. Cash (contribution and partner loan) pays the labour first, because
labour cannot be paid in kind. The policy then judges the whole plan: the partner loan as the
loan, the materials loan as extra debt service. A plan never proposes a loan the policy would
call ineligible: it leaves out the materials loan, then the partner loan, until it is not.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_DOWN, Decimal

from loansvc.domain.affordability import (
    DEFAULT_POLICY,
    Assessment,
    AssessmentInput,
    LoanRequest,
    Policy,
    Reason,
    StressResult,
    assess,
    max_loan_amount,
    monthly_installment,
    percent,
    to_currency,
)
from loansvc.domain.affordability_io import _json
from loansvc.domain.errors import InvalidInput
from loansvc.domain.money import Rounding, quantum
from loansvc.domain.schedule import FeeTiming, simulate
from loansvc.domain.terms import fee_amount

_ZERO = Decimal(0)


@dataclass(frozen=True)
class HouseCost:
    """A costed house design, in the plan's currency: materials plus labour."""

    total: Decimal
    materials: Decimal
    labour: Decimal


@dataclass(frozen=True)
class LoanProduct:
    """A lender's product as a plan uses it: its terms (at the plan's term, no amount) and limits."""

    product_id: str
    terms: LoanRequest
    min_amount: Decimal
    max_amount: Decimal


@dataclass(frozen=True, kw_only=True)
class PlanRequest:
    household: AssessmentInput  # its finances and programme loans; its `loan` is ignored
    vulnerabilities: tuple[str, ...] = ()
    cost: HouseCost
    contribution: Decimal = _ZERO
    partner: LoanProduct
    materials: LoanProduct | None = None  # None: no materials bank lends in this currency
    materials_lender_is_new: bool = True  # the materials bank has no loan with the household yet
    grant_cap_usd: Decimal


@dataclass(frozen=True)
class PlannedLoan:
    product_id: str
    amount: Decimal
    term: int
    frequency: str
    upfront_fees: Decimal  # withheld at disbursement
    finances: Decimal  # what the loan pays towards the house: amount less upfront fees
    monthly_installment: Decimal  # the largest installment as a monthly equivalent
    installment_amount: Decimal | None  # the level installment
    largest_installment: Decimal
    installments: int
    first_due_date: date
    last_due_date: date
    total_interest: Decimal
    total_fees: Decimal
    total_payable: Decimal
    apr_percent: Decimal
    eir_percent: Decimal


@dataclass(frozen=True)
class FinancingPlan:
    policy_version: str
    currency: str
    cost: HouseCost
    household_contribution: Decimal
    monthly_income: Decimal
    monthly_debt_service_before: Decimal
    max_installment: Decimal  # the capacity for new installments, before the plan
    max_loan_amount: Decimal  # the largest partner loan the capacity carries on its terms
    partner_loan: PlannedLoan | None
    materials_loan: PlannedLoan | None
    grant: Decimal
    funding_gap: Decimal
    monthly_debt_service_after: Decimal
    dsti_after_percent: Decimal | None  # None when the income is zero
    decision: str
    reasons: tuple[Reason, ...]
    stress: tuple[StressResult, ...]

    def to_dict(self) -> dict:
        return _json(self)


def plan(req: PlanRequest, policy: Policy = DEFAULT_POLICY) -> FinancingPlan:
    """The plan for one household and one house design, judged by `policy`."""
    currency = req.household.currency
    q = quantum(currency)
    _check(req, q)
    base = assess(replace(req.household, loan=replace(req.partner.terms, amount=None)), policy)
    grant_cap = _grant_cap(req, policy, q)
    # a plan that the policy calls ineligible loses its materials loan, then its partner loan
    first_refused: Assessment | None = None
    for use_partner, use_materials in ((True, True), (True, False), (False, True), (False, False)):
        partner, materials, grant, gap, judged = _compose(
            req, policy, base, grant_cap, use_partner, use_materials
        )
        has_loans = partner is not None or materials is not None
        if judged.decision != "ineligible" or not has_loans:
            break
        first_refused = first_refused or judged
    reasons = list(judged.reasons)
    if first_refused is not None:
        codes = ", ".join(r.code for r in first_refused.reasons if r.code in _INELIGIBLE)
        reasons.append(Reason("PLAN_REDUCED", _REDUCED.format(codes=codes)))
    if gap > 0:
        reasons.append(Reason("FUNDING_GAP", _GAP.format(gap=_money(gap, currency))))
    decision = judged.decision
    if decision == "eligible" and reasons:
        decision = "refer"  # a plan that leaves money unfound, or was cut back, needs an officer
    paid = judged.monthly_debt_service + (judged.loan_installment or _ZERO)
    income = judged.monthly_income
    return FinancingPlan(
        policy_version=policy.version,
        currency=currency,
        cost=req.cost,
        household_contribution=req.contribution.quantize(q),
        monthly_income=base.monthly_income,
        monthly_debt_service_before=base.monthly_debt_service,
        max_installment=base.max_installment,
        max_loan_amount=(base.max_loan_amount or _ZERO).quantize(q),
        partner_loan=partner,
        materials_loan=materials,
        grant=grant,
        funding_gap=gap,
        monthly_debt_service_after=paid,
        dsti_after_percent=percent(paid, income) if income > 0 else None,
        decision=decision,
        reasons=tuple(reasons),
        stress=judged.stress,
    )


_INELIGIBLE = ("INCOME_NOT_POSITIVE", "NO_SURPLUS", "DSTI_ABOVE_MAX", "INSTALLMENT_EXCEEDS_SURPLUS")
_REDUCED = (
    "With every loan it could afford, the policy would call the plan ineligible ({codes}), so the "
    "plan leaves out loans until it is not."
)
_GAP = (
    "The contribution, the loans the household can carry and any grant leave {gap} of the house "
    "unpaid; it must come from elsewhere, or the house be built in stages."
)


def _money(amount: Decimal, currency: str) -> str:
    return f"{currency} {amount:,f}"


def _check(req: PlanRequest, q: Decimal) -> None:
    cost = req.cost
    for name, value in (("materials", cost.materials), ("labour", cost.labour)):
        if value < 0 or value != value.quantize(q):
            raise InvalidInput(f"the {name} cost must be >= 0 in the minor unit", field=f"cost.{name}")
    if cost.total != cost.materials + cost.labour:
        raise InvalidInput("the cost is its materials plus its labour", field="cost.total")
    if cost.total <= 0:
        raise InvalidInput("the house costs nothing: there is nothing to finance", field="cost")
    contribution = req.contribution
    if contribution < 0 or contribution != contribution.quantize(q):
        raise InvalidInput(
            f"household_contribution must be >= 0 with at most the minor unit of {req.household.currency}",
            code="INVALID_AMOUNT",
            field="household_contribution",
        )
    if contribution > req.cost.total:
        raise InvalidInput(
            f"household_contribution is more than the house costs ({req.cost.total:f})",
            code="CONTRIBUTION_ABOVE_COST",
            field="household_contribution",
        )


def _grant_eligible(req: PlanRequest) -> bool:
    return req.household.idpoor_level in (1, 2) or bool(req.vulnerabilities)


def _grant_cap(req: PlanRequest, policy: Policy, q: Decimal) -> Decimal:
    cap = to_currency(req.grant_cap_usd, "USD", req.household.currency, policy.khr_per_usd)
    return cap.quantize(q, rounding=ROUND_DOWN)


def _compose(
    req: PlanRequest,
    policy: Policy,
    base: Assessment,
    grant_cap: Decimal,
    use_partner: bool,
    use_materials: bool,
) -> tuple[PlannedLoan | None, PlannedLoan | None, Decimal, Decimal, Assessment]:
    """(partner loan, materials loan, grant, funding gap, the policy's judgement of the plan)."""
    household, cost = req.household, req.cost
    capacity = base.max_installment
    unpaid = cost.total - req.contribution
    partner = None
    if use_partner and unpaid > 0:
        limit = min(base.max_loan_amount or _ZERO, req.partner.max_amount)
        partner = _loan(req.partner, unpaid, limit, household.currency, household.as_of)
    if partner is not None:
        capacity -= partner.monthly_installment
        unpaid -= partner.finances
    # cash paid the labour first: what is unpaid of the materials is what the bank may lend in kind
    materials = None
    in_kind = min(unpaid, cost.materials)
    if use_materials and req.materials is not None and in_kind > 0 and capacity > 0:
        terms = req.materials.terms
        largest = max_loan_amount(capacity, terms, household.currency, household.as_of)
        limit = min(largest, req.materials.max_amount)
        materials = _loan(req.materials, in_kind, limit, household.currency, household.as_of)
    if materials is not None:
        unpaid -= materials.finances
    grant = min(unpaid, grant_cap) if _grant_eligible(req) else _ZERO
    gap = unpaid - grant
    judged = assess(
        replace(
            household,
            loan=replace(req.partner.terms, amount=partner.amount) if partner else None,
            extra_debt_service=household.extra_debt_service
            + (materials.monthly_installment if materials else _ZERO),
            active_lenders=household.active_lenders + (1 if materials and req.materials_lender_is_new else 0),
        ),
        policy,
    )
    q = quantum(household.currency)
    return partner, materials, grant.quantize(q), gap.quantize(q), judged


def _upfront(terms: LoanRequest, amount: Decimal, q: Decimal) -> Decimal:
    fees = (f for f in terms.fees if f.timing is FeeTiming.UPFRONT)
    # percent fees round as the schedule rounds them: the terms' default, half-even
    return sum((fee_amount(f, amount, q, Rounding.HALF_EVEN) for f in fees), _ZERO)


def _loan(
    product: LoanProduct, need: Decimal, limit: Decimal, currency: str, as_of: date
) -> PlannedLoan | None:
    """The smallest amount up to `limit` whose net of upfront fees pays `need` (or `limit`, when
    none does); None when that is below the product's minimum."""
    q = quantum(currency)
    terms = product.terms
    if limit <= 0:
        return None
    amount = min(need, limit)
    if _upfront(terms, amount, q) > 0:
        # net = amount - fees grows by 0 or 1 minor unit per minor unit: bisect the smallest amount
        # (in minor units) whose net reaches the need, within the limit
        lo, hi = int(amount / q), int(limit.quantize(q, rounding=ROUND_DOWN) / q)
        if hi * q - _upfront(terms, hi * q, q) <= need:
            lo = hi
        else:
            while lo < hi:
                mid = (lo + hi) // 2
                if mid * q - _upfront(terms, mid * q, q) >= need:
                    hi = mid
                else:
                    lo = mid + 1
        amount = lo * q
    if amount < product.min_amount or amount <= 0:
        return None
    loan_terms = terms.terms(amount, currency, as_of)
    if _upfront(terms, amount, q) >= amount:
        return None  # the fees would swallow it
    simulation = simulate(loan_terms)
    schedule = simulation.schedule
    largest = max(i.total for i in schedule.installments)
    return PlannedLoan(
        product_id=product.product_id,
        amount=amount.quantize(q),
        term=terms.term,
        frequency=terms.frequency.value,
        upfront_fees=schedule.upfront_fees,
        finances=(amount - schedule.upfront_fees).quantize(q),
        monthly_installment=monthly_installment(largest, terms.frequency, currency),
        installment_amount=schedule.installment_amount,
        largest_installment=largest,
        installments=len(schedule.installments),
        first_due_date=schedule.installments[0].due_date,
        last_due_date=schedule.installments[-1].due_date,
        total_interest=schedule.total_interest,
        total_fees=schedule.total_fees,
        total_payable=schedule.total,
        apr_percent=simulation.apr_percent,
        eir_percent=simulation.eir_percent,
    )
