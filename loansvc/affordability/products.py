"""A lender's product as the affordability engine sees it: its fee terms, the loan request it
makes for an amount and a term, whether a caller may use it, and its limits.

Also the small reads loan applications need from this package (does a house model exist, a
lender's name).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from loansvc.affordability import repository
from loansvc.affordability.schemas import LoanIn
from loansvc.auth.principal import Principal
from loansvc.db.models import Lender, Product
from loansvc.domain import affordability as policy_engine
from loansvc.domain.errors import InvalidInput
from loansvc.domain.schedule import Fee, FeeTiming


def fee_terms(raw: list[dict[str, Any]]) -> tuple[Fee, ...]:
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


def product_loan_request(
    product: Product, amount: Decimal | None, term: int, grace: int
) -> policy_engine.LoanRequest:
    return policy_engine.LoanRequest(
        amount=amount,
        annual_rate_percent=product.annual_rate_percent,
        term=term,
        frequency=product.frequency,
        interest_method=product.interest_method,
        amortization=product.amortization,
        grace_principal_periods=grace,
        installment_multiple=product.installment_multiple,
        fees=fee_terms(product.fees),
        interest_calculation=product.interest_calculation,
        day_count=product.day_count,
    )


def visible_product(session: Session, principal: Principal, product_id: str, field: str) -> Product:
    """The product, if the caller may use it (a partner: its own lender's only); else 422 on `field`."""
    product = session.get(Product, product_id)
    if product is None or (principal.is_partner and product.lender_id != principal.lender_id):
        raise InvalidInput(f"no product {product_id}", code="UNKNOWN_PRODUCT", field=field)
    return product


def check_product_limits(
    product: Product, amount: Decimal | None, term: int, grace: int, prefix: str
) -> None:
    if not product.min_term <= term <= product.max_term:
        raise InvalidInput(
            f"term must be between {product.min_term} and {product.max_term} for this product",
            code="TERM_OUT_OF_RANGE",
            field=f"{prefix}term",
        )
    if amount is not None and not product.min_amount <= amount <= product.max_amount:
        raise InvalidInput(
            f"amount must be between {product.min_amount.normalize():f} and "
            f"{product.max_amount.normalize():f}",
            code="AMOUNT_OUT_OF_RANGE",
            field=f"{prefix}amount",
        )
    if grace > product.max_grace_principal_periods:
        raise InvalidInput(
            f"this product allows at most {product.max_grace_principal_periods} grace periods",
            code="GRACE_OUT_OF_RANGE",
            field=f"{prefix}grace_principal_periods",
        )


def loan_request(
    session: Session, principal: Principal, loan: LoanIn, currency: str
) -> tuple[policy_engine.LoanRequest, Product | None]:
    """The engine's loan request from a request body: explicit terms, or a product's (checked)."""
    if loan.product_id is None:
        return policy_engine.LoanRequest(
            amount=loan.amount,
            annual_rate_percent=loan.annual_rate_percent,
            term=loan.term,
            frequency=loan.frequency or "monthly",
            interest_method=loan.interest_method or "declining_balance",
            amortization=loan.amortization or "equal_installments",
            grace_principal_periods=loan.grace_principal_periods,
        ), None
    product = visible_product(session, principal, loan.product_id, "loan.product_id")
    if product.currency != currency:
        raise InvalidInput(
            f"the product lends in {product.currency}; assess in that currency",
            code="CURRENCY_MISMATCH",
            field="currency",
        )
    check_product_limits(product, loan.amount, loan.term, loan.grace_principal_periods, "loan.")
    return product_loan_request(product, loan.amount, loan.term, loan.grace_principal_periods), product


def housing_model_exists(session: Session, code: str) -> bool:
    return repository.housing_model(session, code) is not None


def lender_name(session: Session, lender_id: str) -> str:
    lender = session.get(Lender, lender_id)
    return lender.name if lender else lender_id
