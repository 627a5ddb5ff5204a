"""Loan applications and decisions: apply, approve (four eyes), reject, withdraw.

A partner key acts only on its own lender's loans: anything else is 404. Every state change is
written to the audit log with the state before and after.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from loansvc import affordability
from loansvc.audit.service import record as audit
from loansvc.auth.principal import Principal
from loansvc.db.models import Assessment, Household, Lender, Loan, Product
from loansvc.domain.errors import Conflict, Forbidden, InvalidInput
from loansvc.domain.money import round_money
from loansvc.lending.access import check_date, get_visible, snapshot
from loansvc.lending.status import check_transition, transition
from loansvc.lending.terms import application_terms, freeze
from loansvc.loans.schemas import ApproveRequest, LoanCreate, RejectRequest, WithdrawRequest
from loansvc.registry.service import link_household_to_lender


def _product_for(session: Session, principal: Principal, product_id: str) -> tuple[Product, Lender]:
    product = session.get(Product, product_id)
    if product is None or (principal.is_partner and product.lender_id != principal.lender_id):
        raise InvalidInput(f"no product {product_id}", code="UNKNOWN_PRODUCT", field="product_id")
    return product, session.get(Lender, product.lender_id)


def _check_limits(product: Product, body: LoanCreate) -> None:
    if body.amount != round_money(body.amount, product.currency):
        raise InvalidInput(
            f"amount has more decimals than {product.currency} allows",
            field="amount",
            code="TOO_MANY_DECIMALS",
        )
    affordability.check_product_limits(product, body.amount, body.term, body.grace_principal_periods, "")
    if body.grace_principal_periods >= body.term:
        raise InvalidInput(
            "the grace periods leave no installment to repay the principal",
            code="GRACE_OUT_OF_RANGE",
            field="grace_principal_periods",
        )


def apply(
    session: Session, principal: Principal, body: LoanCreate, today: date, *, khr_per_usd: Decimal
) -> Loan:
    submitted_on = body.submitted_on or today
    check_date(submitted_on, today=today, not_before=None, field="submitted_on")
    product, lender = _product_for(session, principal, body.product_id)
    household = session.get(Household, body.household_id)
    if household is None:
        raise InvalidInput(
            f"no household {body.household_id}", code="UNKNOWN_HOUSEHOLD", field="household_id"
        )
    _check_limits(product, body)
    if body.first_repayment_date is not None and body.first_repayment_date <= submitted_on:
        raise InvalidInput(
            "first_repayment_date must come after the application",
            code="DATE_BEFORE_PREVIOUS_STEP",
            field="first_repayment_date",
        )
    if body.housing_model_code is not None and not affordability.housing_model_exists(
        session, body.housing_model_code
    ):
        raise InvalidInput(
            f"no housing model {body.housing_model_code}",
            code="UNKNOWN_HOUSING_MODEL",
            field="housing_model_code",
        )
    assessment = affordability.assess_for_application(
        session,
        principal,
        household,
        product,
        amount=body.amount,
        term=body.term,
        grace_principal_periods=body.grace_principal_periods,
        as_of=submitted_on,
        khr_per_usd=khr_per_usd,
    )
    loan = Loan(
        household_id=household.id,
        product_id=product.id,
        lender_id=lender.id,
        currency=product.currency,
        amount=body.amount,
        term=body.term,
        purpose=body.purpose,
        housing_model_code=body.housing_model_code,
        first_repayment_date=body.first_repayment_date,
        status="submitted",
        submitted_on=submitted_on,
        submitted_by=principal.name,
        submitted_by_key_id=principal.key_id,
        assessment_id=assessment.id,
        last_event_on=submitted_on,
        disbursed_amount=Decimal(0),
        schedule_version=0,
        terms=application_terms(body.grace_principal_periods),
    )
    session.add(loan)
    session.flush()
    link_household_to_lender(session, household.id, lender.id)
    audit(
        session,
        principal,
        entity_type="loan",
        entity_id=loan.id,
        loan_id=loan.id,
        action="submitted",
        after=snapshot(loan) | {"assessment_decision": assessment.decision},
    )
    return loan


def _check_decider(session: Session, principal: Principal, loan: Loan) -> Lender:
    lender = session.get(Lender, loan.lender_id)
    if lender.kind == "materials_bank":
        if principal.role not in ("loan_officer", "admin"):
            raise Forbidden(
                "materials-bank loans are decided by a loan officer or an admin", code="ROLE_NOT_ALLOWED"
            )
    elif principal.role not in ("partner", "admin"):
        raise Forbidden(
            "a partner MFI's loans are decided by that partner or an admin", code="ROLE_NOT_ALLOWED"
        )
    if principal.key_id == loan.submitted_by_key_id:
        raise Conflict("four eyes: the key that submitted the loan cannot decide it", code="FOUR_EYES")
    return lender


def approve(session: Session, principal: Principal, loan_id: str, body: ApproveRequest, today: date) -> Loan:
    loan = get_visible(session, principal, loan_id, lock=True)
    check_transition(loan, "approved")  # the current status answers first, whatever else is wrong
    _check_decider(session, principal, loan)
    approved_on = body.approved_on or today
    check_date(approved_on, today=today, not_before=loan.submitted_on, field="approved_on", step="submission")
    approved_amount = body.approved_amount or loan.amount
    if approved_amount > loan.amount:
        raise InvalidInput(
            "approved_amount cannot exceed the amount applied for",
            code="APPROVAL_ABOVE_REQUEST",
            field="approved_amount",
        )
    assessment = session.get(Assessment, loan.assessment_id) if loan.assessment_id else None
    if body.override_reason is not None and not principal.is_admin:
        raise Forbidden("only an admin may override an ineligible assessment", code="OVERRIDE_NOT_ALLOWED")
    if assessment is not None and assessment.decision == "ineligible" and body.override_reason is None:
        raise Conflict(
            "the affordability assessment is ineligible: an admin may approve with a written override_reason",
            code="ASSESSMENT_INELIGIBLE",
        )
    before = snapshot(loan)
    transition(loan, "approved")
    product = session.get(Product, loan.product_id)
    loan.approved_amount = approved_amount
    frozen = freeze(product, loan, approved_amount)
    loan.terms = frozen.to_json()
    loan.periods_per_year = frozen.frequency.periods_per_year
    loan.decided_on = approved_on
    loan.decided_by = principal.name
    loan.decision_note = body.note
    loan.override_reason = body.override_reason
    loan.last_event_on = approved_on
    session.flush()
    audit(
        session,
        principal,
        entity_type="loan",
        entity_id=loan.id,
        loan_id=loan.id,
        action="approved",
        before=before,
        after=snapshot(loan) | {"override_reason": body.override_reason, "note": body.note},
    )
    return loan


def reject(session: Session, principal: Principal, loan_id: str, body: RejectRequest, today: date) -> Loan:
    loan = get_visible(session, principal, loan_id, lock=True)
    check_transition(loan, "rejected")  # the current status answers first, whatever else is wrong
    _check_decider(session, principal, loan)
    rejected_on = body.rejected_on or today
    check_date(rejected_on, today=today, not_before=loan.submitted_on, field="rejected_on", step="submission")
    before = snapshot(loan)
    transition(loan, "rejected")
    loan.decided_on, loan.decided_by, loan.decision_note = rejected_on, principal.name, body.note
    loan.last_event_on = rejected_on
    session.flush()
    audit(
        session,
        principal,
        entity_type="loan",
        entity_id=loan.id,
        loan_id=loan.id,
        action="rejected",
        before=before,
        after=snapshot(loan) | {"note": body.note},
    )
    return loan


def withdraw(
    session: Session, principal: Principal, loan_id: str, body: WithdrawRequest, today: date
) -> Loan:
    loan = get_visible(session, principal, loan_id, lock=True)
    check_transition(loan, "withdrawn")
    withdrawn_on = body.withdrawn_on or today
    check_date(withdrawn_on, today=today, not_before=loan.last_event_on, field="withdrawn_on")
    before = snapshot(loan)
    transition(loan, "withdrawn")
    loan.last_event_on = withdrawn_on
    loan.decision_note = body.note or loan.decision_note
    session.flush()
    audit(
        session,
        principal,
        entity_type="loan",
        entity_id=loan.id,
        loan_id=loan.id,
        action="withdrawn",
        before=before,
        after=snapshot(loan) | {"note": body.note},
    )
    return loan
