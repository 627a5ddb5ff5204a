"""Assessments: the quick check (nothing stored), the recorded assessment of a registered household
and the one attached to a loan application, their pages and reads, what each caller may see of
them, and replay.

A recorded assessment counts the household's declared debts plus the installments of its approved
and active loans with every lender in loansvc, so a family cannot borrow its way round the check
at a second lender. A partner sees only the total of those other loans, never their lenders or
amounts. Every stored assessment keeps its policy version and a snapshot of its inputs.

The riel rate (`khr_per_usd`) comes from the caller (the app's settings): it seeds the default
policy on its first use.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from loansvc.affordability import repository
from loansvc.affordability.inputs import household_input, request_input, visible_household
from loansvc.affordability.policies import engine_policy, policy_record, product_policy
from loansvc.affordability.products import loan_request, product_loan_request, visible_product
from loansvc.affordability.schemas import AssessRequest, RecordedAssessRequest
from loansvc.auth.principal import Principal
from loansvc.db.models import Assessment, Household, Product
from loansvc.db.models import Policy as PolicyRecord
from loansvc.db.query import page
from loansvc.domain import affordability as policy_engine
from loansvc.domain.errors import NotFound


def quick_assess(
    session: Session, principal: Principal, body: AssessRequest, today: date, *, khr_per_usd: Decimal
) -> dict[str, Any]:
    """POST /v1/affordability/assess: nothing is stored."""
    loan, product = (None, None)
    if body.loan is not None:
        loan, product = loan_request(session, principal, body.loan, body.currency)
    policy = engine_policy(product_policy(session, product, khr_per_usd=khr_per_usd))
    if body.household_id is not None:
        household = visible_household(session, principal, body.household_id, field="household_id")
        inp, _ = household_input(session, household, body.currency, loan, today, policy, overrides=body)
    else:
        inp = request_input(body, loan, today)
    return policy_engine.assess(inp, policy).to_dict()


def _store(
    session: Session,
    principal: Principal,
    household: Household,
    product: Product | None,
    record: PolicyRecord,
    inp: policy_engine.AssessmentInput,
    programme: list[dict[str, Any]],
) -> Assessment:
    result = policy_engine.assess(inp, engine_policy(record))
    assessment = Assessment(
        household_id=household.id,
        lender_id=product.lender_id if product else principal.lender_id,
        product_id=product.id if product else None,
        policy_version=record.version,
        inputs={**inp.to_dict(), "programme_loans": programme},
        result=result.to_dict(),
        decision=result.decision,
        created_by=principal.name,
        created_by_role=principal.role,
    )
    session.add(assessment)
    session.flush()
    return assessment


def record_assessment(
    session: Session,
    principal: Principal,
    household_id: str,
    body: RecordedAssessRequest,
    today: date,
    *,
    khr_per_usd: Decimal,
) -> Assessment:
    household = visible_household(session, principal, household_id)
    currency = body.currency
    if currency is None and body.loan.product_id is not None:
        # the product's currency; a product the caller cannot use is a 422, as with a currency
        currency = visible_product(session, principal, body.loan.product_id, "loan.product_id").currency
    currency = currency or "USD"
    loan, product = loan_request(session, principal, body.loan, currency)
    record = product_policy(session, product, khr_per_usd=khr_per_usd)
    inp, programme = household_input(session, household, currency, loan, today, engine_policy(record))
    return _store(session, principal, household, product, record, inp, programme)


def assess_for_application(
    session: Session,
    principal: Principal,
    household: Household,
    product: Product,
    *,
    amount: Decimal,
    term: int,
    grace_principal_periods: int,
    as_of: date,
    khr_per_usd: Decimal | None = None,
) -> Assessment:
    """The assessment attached to a loan application, under the product's policy (`khr_per_usd`:
    the app's rate, for the default policy's first use; without it, the code's default rate)."""
    record = product_policy(session, product, khr_per_usd=khr_per_usd)
    loan = product_loan_request(product, amount, term, grace_principal_periods)
    inp, programme = household_input(session, household, product.currency, loan, as_of, engine_policy(record))
    return _store(session, principal, household, product, record, inp, programme)


def list_assessments(
    session: Session, principal: Principal, household_id: str, limit: int, offset: int
) -> tuple[list[Assessment], int]:
    """A page of the household's assessments, newest first (a partner: its own lender's only)."""
    visible_household(session, principal, household_id)
    query = repository.assessments_query(household_id, principal.lender_scope)
    return page(session, query, limit, offset)


def assessment_view(assessment: Assessment, principal: Principal) -> dict[str, Any]:
    """What a caller may see: partners get other lenders' loans as a total; finance leads no inputs."""
    view = {"id": assessment.id, "policy_version": assessment.policy_version, **assessment.result}
    return view


def inputs_view(assessment: Assessment, principal: Principal) -> dict[str, Any] | None:
    if principal.role == "finance_lead":
        return None
    inputs = dict(assessment.inputs)
    programme = inputs.pop("programme_loans", [])
    if principal.is_partner:
        others = [p for p in programme if p["lender_id"] != principal.lender_id]
        own = [p for p in programme if p["lender_id"] == principal.lender_id]
        inputs["programme_loans"] = own
        inputs["other_programme_loans"] = {
            "count": len(others),
            "monthly_installments": str(sum((Decimal(p["monthly_installment"]) for p in others), Decimal(0))),
        }
    else:
        inputs["programme_loans"] = programme
    return inputs


def get_assessment(session: Session, principal: Principal, assessment_id: str) -> Assessment:
    assessment = session.get(Assessment, assessment_id)
    if assessment is None or (principal.is_partner and assessment.lender_id != principal.lender_id):
        raise NotFound(f"no assessment {assessment_id}", code="ASSESSMENT_NOT_FOUND")
    return assessment


def replay(session: Session, principal: Principal, assessment_id: str) -> dict[str, Any]:
    """Re-run a stored assessment from its snapshot under its recorded policy version."""
    assessment = get_assessment(session, principal, assessment_id)
    inputs = {k: v for k, v in assessment.inputs.items() if k != "programme_loans"}
    record = policy_record(session, assessment.policy_version)
    replayed = policy_engine.assess(
        policy_engine.AssessmentInput.from_dict(inputs), engine_policy(record)
    ).to_dict()
    return {
        "assessment_id": assessment.id,
        "policy_version": record.version,
        "matches": replayed == assessment.result,
        "recorded": assessment.result,
        "replayed": replayed,
    }
