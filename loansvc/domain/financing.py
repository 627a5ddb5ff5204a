"""Financing plans: how a household can build a house design (issue 4, section 4; issue 10, item 7).

What pays for the house: the household's own contribution; credit, within the family's repayment
capacity and the policy; for ID Poor or vulnerable households, a grant up to a cap; and whatever is
left, the funding gap. Two credits may take part: the partner loan (cash) and the materials bank's
in-kind loan, which lends only for materials (cash pays the labour first, because labour cannot be
paid in kind). The plan composes them in both orders, and alone, each filling what the capacity left
by the one before can carry, and chooses, among the compositions the policy does not call
ineligible, the one that leaves the least to the grant and the gap, and at that, the one with the
lowest cost of credit to the family (interest and fees), cheapest credit first on a tie. The grant
pays only what the credit the family can carry leaves unpaid: it is the programme's money for what a
family cannot borrow, not a substitute for credit it can afford. The policy judges each
composition: the partner loan as the loan, the materials loan as extra debt service.
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
    cost_of_credit: Decimal  # what the credit costs the family: total interest plus total fees


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
    credit_order: tuple[str, ...]  # the loans as the plan filled them: "materials_loan", "partner_loan"
    total_interest: Decimal
    total_fees: Decimal
    total_cost_of_credit: Decimal  # total_interest + total_fees, over every loan of the plan
    explanation: str  # the choice, in one sentence
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
    candidates = _candidates(req, policy, base, grant_cap)
    admissible = [c for c in candidates if c.admissible]  # the plan without credit always is
    chosen = min(admissible, key=_Candidate.rank)
    judged = chosen.judged
    reasons = list(judged.reasons)
    refused = [c for c in candidates if not c.admissible and c.rank() < chosen.rank()]
    if refused:
        first_refused = min(refused, key=_Candidate.rank).judged
        codes = ", ".join(r.code for r in first_refused.reasons if r.code in _INELIGIBLE)
        reasons.append(Reason("PLAN_REDUCED", _REDUCED.format(codes=codes)))
    if chosen.gap > 0:
        reasons.append(Reason("FUNDING_GAP", _GAP.format(gap=_money(chosen.gap, currency))))
    decision = judged.decision
    if decision == "eligible" and reasons:
        decision = "refer"  # a plan that leaves money unfound, or was cut back, needs an officer
    paid = judged.monthly_debt_service + (judged.loan_installment or _ZERO)
    income = judged.monthly_income
    loans = chosen.loans()
    return FinancingPlan(
        policy_version=policy.version,
        currency=currency,
        cost=req.cost,
        household_contribution=req.contribution.quantize(q),
        monthly_income=base.monthly_income,
        monthly_debt_service_before=base.monthly_debt_service,
        max_installment=base.max_installment,
        max_loan_amount=(base.max_loan_amount or _ZERO).quantize(q),
        partner_loan=chosen.partner,
        materials_loan=chosen.materials,
        credit_order=tuple(f"{kind}_loan" for kind, _ in loans),
        total_interest=sum((loan.total_interest for _, loan in loans), _ZERO).quantize(q),
        total_fees=sum((loan.total_fees for _, loan in loans), _ZERO).quantize(q),
        total_cost_of_credit=chosen.cost.quantize(q),
        explanation=_explain(req, chosen, admissible),
        grant=chosen.grant,
        funding_gap=chosen.gap,
        monthly_debt_service_after=paid,
        dsti_after_percent=percent(paid, income) if income > 0 else None,
        decision=decision,
        reasons=tuple(reasons),
        stress=judged.stress,
    )


_PARTNER, _MATERIALS = "partner", "materials"


@dataclass(frozen=True)
class _Candidate:
    """One composition of the plan: its loans filled in `order`, and the policy's judgement."""

    index: int  # its place among the compositions tried: on a full tie, the first wins
    order: tuple[str, ...]
    partner: PlannedLoan | None
    materials: PlannedLoan | None
    grant: Decimal
    gap: Decimal
    judged: Assessment

    def loans(self) -> list[tuple[str, PlannedLoan]]:
        """(kind, loan) for each loan it makes, in the order it filled them."""
        made = {_PARTNER: self.partner, _MATERIALS: self.materials}
        return [(kind, loan) for kind in self.order if (loan := made[kind]) is not None]

    @property
    def cost(self) -> Decimal:
        return sum((loan.cost_of_credit for _, loan in self.loans()), _ZERO)

    @property
    def unpaid(self) -> Decimal:
        """What the contribution and the credit leave to the grant and the gap."""
        return self.grant + self.gap

    @property
    def admissible(self) -> bool:
        return self.judged.decision != "ineligible" or not self.loans()

    def rank(self) -> tuple[Decimal, Decimal, int]:
        """The choice: the least left unpaid by credit, then the lowest cost of credit."""
        return self.unpaid, self.cost, self.index


def _orders(req: PlanRequest) -> tuple[tuple[str, ...], ...]:
    """The compositions tried: both loans, the cheaper credit first (by the products' nominal
    rates, the materials bank's on a tie) then the other first; each loan alone; no credit."""
    both = (_MATERIALS, _PARTNER)
    if (
        req.materials is not None
        and req.partner.terms.annual_rate_percent < req.materials.terms.annual_rate_percent
    ):
        both = (_PARTNER, _MATERIALS)
    return both, both[::-1], (_PARTNER,), (_MATERIALS,), ()


def _candidates(req: PlanRequest, policy: Policy, base: Assessment, grant_cap: Decimal) -> list[_Candidate]:
    """Every composition of `_orders`; when the second loan of two was not made because what was
    left for it is below its product's minimum, also the same order with the first loan smaller by
    the difference, so that the second can lend its minimum (a 0 % loan need not give way whole)."""
    largest: dict[tuple[str, Decimal], Decimal] = {}  # (loan, capacity) -> the largest loan that fits
    made: list[_Candidate] = []
    for order in _orders(req):
        made.append(_compose(req, policy, base, grant_cap, len(made), order, largest))
        room = _room_for_second(req, made[-1])
        if room is not None:
            made.append(_compose(req, policy, base, grant_cap, len(made), order, largest, room))
    return made


def _room_for_second(req: PlanRequest, candidate: _Candidate) -> Decimal | None:
    """How much less the first loan of two must pay for the second to reach its minimum, or None."""
    loans = candidate.loans()
    if len(candidate.order) != 2 or len(loans) != 1 or loans[0][0] != candidate.order[0]:
        return None
    first, second = loans[0][1], candidate.order[1]
    product = req.partner if second == _PARTNER else req.materials
    if product is None or candidate.unpaid <= 0:
        return None
    need = candidate.unpaid if second == _PARTNER else min(candidate.unpaid, req.cost.materials)
    q = quantum(req.household.currency)
    smallest = product.min_amount - _upfront(product.terms, product.min_amount, q)  # what it finances
    shortfall = smallest - need
    return shortfall if 0 < shortfall < first.finances else None


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
    index: int,
    order: tuple[str, ...],
    largest: dict[tuple[str, Decimal], Decimal],
    leave: Decimal = _ZERO,
) -> _Candidate:
    """The loans of `order`, each the smallest that pays what is unpaid (the materials loan: of the
    materials only; the first loan: less `leave`) within the capacity the ones before it left, then
    the grant and the gap."""
    household, cost = req.household, req.cost
    currency, as_of = household.currency, household.as_of
    capacity = base.max_installment
    unpaid = cost.total - req.contribution
    made: dict[str, PlannedLoan] = {}
    for kind in order:
        product = req.partner if kind == _PARTNER else req.materials
        # cash pays the labour first: what is unpaid of the materials is what the bank may lend in kind
        need = unpaid if kind == _PARTNER else min(unpaid, cost.materials)
        if kind == order[0]:
            need -= leave
        if product is None or need <= 0 or capacity <= 0:
            continue
        if (kind, capacity) not in largest:
            largest[kind, capacity] = max_loan_amount(capacity, product.terms, currency, as_of)
        loan = _loan(product, need, min(largest[kind, capacity], product.max_amount), currency, as_of)
        if loan is not None:
            made[kind] = loan
            capacity -= loan.monthly_installment
            unpaid -= loan.finances
    partner, materials = made.get(_PARTNER), made.get(_MATERIALS)
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
    q = quantum(currency)
    return _Candidate(index, order, partner, materials, grant.quantize(q), gap.quantize(q), judged)


_ROLE = {
    _PARTNER: "the partner loan of {amount} at {apr} % APR",
    _MATERIALS: "the materials bank's loan of {amount} at {apr} % APR",
}
_PAYS = {_PARTNER: "towards the house", _MATERIALS: "for materials in kind"}


def _explain(req: PlanRequest, chosen: _Candidate, admissible: list[_Candidate]) -> str:
    """Why this plan, in one sentence: its credit in order, its cost, and the next best plan's."""
    currency = req.household.currency
    loans = chosen.loans()
    if not loans:
        if req.contribution == req.cost.total:
            return "The household's contribution pays for the whole house, so the plan needs no credit."
        return (
            "No loan fits the household's repayment capacity and the policy, so the plan borrows nothing "
            f"and leaves {_money(chosen.unpaid, currency)} to the grant and the gap."
        )
    parts = [
        _ROLE[kind].format(
            amount=_money(loan.amount, currency), apr=loan.apr_percent.quantize(Decimal("0.01"))
        )
        for kind, loan in loans
    ]
    if len(parts) == 1:
        what = f"{parts[0]} pays {_PAYS[loans[0][0]]}"
    else:
        what = f"{parts[0]} pays {_PAYS[loans[0][0]]} first and {parts[1]} the rest"
    cost = _money(chosen.cost, currency)
    sentence = f"{what[0].upper()}{what[1:]}, costing the family {cost} in interest and fees"
    # the next best plan that borrows differently, named by its loans and its cost
    same = (chosen.partner, chosen.materials)
    others = [c for c in admissible if c.loans() and (c.partner, c.materials) != same]
    if others:
        other = min(others, key=_Candidate.rank)
        described = " and ".join(
            f"a {kind} loan of {_money(loan.amount, currency)}" for kind, loan in other.loans()
        )
        sentence += f", against {_money(other.cost, currency)} for {described}"
        if other.unpaid > chosen.unpaid:
            sentence += f", which would leave {_money(other.unpaid - chosen.unpaid, currency)} more unpaid"
    return sentence + "."


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
        cost_of_credit=schedule.total_interest + schedule.total_fees,
    )
