"""Financing plans: POST /v1/households/{id}/financing-plan, "how can this family build this house".

Loads the household (with its loans at every lender in loansvc), the costed house design, the
partner product and the materials bank's product, and lets the pure engine
`loansvc.domain.financing` compose and judge the plan. Nothing is stored.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from loansvc.affordability import housing, planning_repository, repository
from loansvc.affordability.inputs import household_input, visible_household
from loansvc.affordability.policies import engine_policy, product_policy
from loansvc.affordability.products import check_product_limits, product_loan_request, visible_product
from loansvc.affordability.schemas import FinancingPlanRequest
from loansvc.auth.principal import Principal
from loansvc.db.models import Product
from loansvc.domain import financing
from loansvc.domain.errors import InvalidInput


def _materials_product(session: Session, product_id: str | None, currency: str) -> Product | None:
    """The named materials-bank product, or the first one lending in the model's currency."""
    if product_id is None:
        products = planning_repository.materials_products(session, currency)
        return products[0] if products else None
    product = session.get(Product, product_id)
    if product is None:
        raise InvalidInput(f"no product {product_id}", code="UNKNOWN_PRODUCT", field="materials_product_id")
    if planning_repository.lender_kind(session, product.lender_id) != "materials_bank":
        raise InvalidInput(
            "materials_product_id must be a product of a materials bank",
            code="NOT_A_MATERIALS_PRODUCT",
            field="materials_product_id",
        )
    if product.currency != currency:
        raise InvalidInput(
            f"the materials product lends in {product.currency}, the house model costs in {currency}",
            code="CURRENCY_MISMATCH",
            field="materials_product_id",
        )
    return product


def _offer(product: Product, term: int) -> financing.LoanProduct:
    return financing.LoanProduct(
        product_id=product.id,
        terms=product_loan_request(product, None, term, 0),
        min_amount=product.min_amount,
        max_amount=product.max_amount,
    )


def financing_plan(
    session: Session,
    principal: Principal,
    household_id: str,
    body: FinancingPlanRequest,
    today: date,
    *,
    khr_per_usd: Decimal,
    grant_cap_usd: Decimal,
) -> dict[str, Any]:
    """`khr_per_usd` seeds the default policy on its first use; `grant_cap_usd` is the most a plan
    proposes as a grant (both from the app's settings)."""
    household = visible_household(session, principal, household_id)
    model = repository.housing_model(session, body.housing_model_code)
    if model is None:
        raise InvalidInput(
            f"no housing model {body.housing_model_code}",
            code="UNKNOWN_HOUSING_MODEL",
            field="housing_model_code",
        )
    costed = housing.costed(session, model)
    if costed["total_cost"] <= 0:
        raise InvalidInput(
            f"housing model {model.code} costs nothing: there is nothing to finance",
            code="NOTHING_TO_FINANCE",
            field="housing_model_code",
        )
    currency = model.currency
    product = visible_product(session, principal, body.product_id, "product_id")
    if product.currency != currency:
        raise InvalidInput(
            f"the product lends in {product.currency}, the house model costs in {currency}",
            code="CURRENCY_MISMATCH",
            field="product_id",
        )
    term = body.term if body.term is not None else product.max_term  # the longest: the largest loan
    check_product_limits(product, None, term, 0, "")
    materials = _materials_product(session, body.materials_product_id, currency)

    policy = engine_policy(product_policy(session, product, khr_per_usd=khr_per_usd))
    inp, programme = household_input(session, household, currency, None, today, policy)
    result = financing.plan(
        financing.PlanRequest(
            household=inp,
            vulnerabilities=tuple(household.vulnerabilities or ()),
            cost=financing.HouseCost(
                total=costed["total_cost"], materials=costed["materials_cost"], labour=costed["labour_cost"]
            ),
            contribution=body.household_contribution,
            partner=_offer(product, term),
            materials=_offer(materials, materials.max_term) if materials is not None else None,
            materials_lender_is_new=materials is None
            or materials.lender_id not in {p["lender_id"] for p in programme},
            grant_cap_usd=grant_cap_usd,
        ),
        policy,
    ).to_dict()
    return {
        "household_id": household.id,
        "housing_model_code": model.code,
        **result,
        "partner_loan": _loan_view(result["partner_loan"]),
        "materials_loan": _loan_view(result["materials_loan"]),
    }


_SCHEDULE_FIELDS = (
    "installments",
    "first_due_date",
    "last_due_date",
    "installment_amount",
    "largest_installment",
    "total_interest",
    "total_fees",
    "total_payable",
    "eir_percent",
)


def _loan_view(loan: dict[str, Any] | None) -> dict[str, Any] | None:
    """A planned loan with its schedule's figures gathered in `schedule`."""
    if loan is None:
        return None
    return {**loan, "schedule": {name: loan[name] for name in _SCHEDULE_FIELDS}}
