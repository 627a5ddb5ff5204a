"""Loan applications and decisions: apply, approve (four eyes), reject, withdraw.

A partner key acts only on its own lender's loans: anything else is 404. Every state change is
written to the audit log with the state before and after. An application needs the household's
consent for the lender (loansvc.protection) and is the household's only open one with that lender
(409 DUPLICATE_APPLICATION, race-safe through a partial unique index); an approval waits for the
loan officer's review when the assessment asks for one.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loansvc import affordability
from loansvc.audit.service import record as audit
from loansvc.auth.principal import Principal
from loansvc.config import RATE_CAP_PERCENT
from loansvc.db.models import Assessment, Household, Lender, Loan, Product
from loansvc.domain.errors import Conflict, Forbidden, InvalidInput
from loansvc.domain.money import round_money
from loansvc.domain.rates import shown_percent
from loansvc.domain.schedule import simulate
from loansvc.events import emit
from loansvc.lending.access import check_date, get_visible, snapshot
from loansvc.lending.status import check_transition, transition
from loansvc.lending.terms import application_terms, freeze
from loansvc.loans import repository
from loansvc.loans.schemas import ApproveRequest, LoanCreate, RejectRequest, WithdrawRequest
from loansvc.protection import repository as consents
from loansvc.protection import service as protection
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


def _price(product: Product, loan: Loan, amount: Decimal) -> tuple[Decimal, Decimal]:
    """The fee-inclusive (APR, EIR) of `amount` on the application's own terms (term, grace, first
    repayment date; the product's rate and fees), disbursed whole on its submission day with the
    upfront fees withheld: the domain's actuarial rate of those cash flows."""
    priced = simulate(freeze(product, loan, amount).schedule_terms(amount, loan.submitted_on))
    return priced.apr_percent, priced.eir_percent


def _check_apr_cap(apr: Decimal, body: ApproveRequest, rate_cap_percent: Decimal) -> None:
    shown = shown_percent(apr)
    if shown > rate_cap_percent and not body.acknowledge_apr_above_cap:
        error = Conflict(
            f"the loan's APR of {shown}%, fees included, is above the legal cap of {rate_cap_percent}%: "
            "approve it only with acknowledge_apr_above_cap true and a written note saying why",
            code="APR_ABOVE_CAP",
        )
        error.extra = {"apr_percent": str(shown), "rate_cap_percent": str(rate_cap_percent)}  # type: ignore[attr-defined]
        raise error


def _duplicate(existing: Loan) -> Conflict:
    error = Conflict(
        f"the household already has an open application to this lender (loan {existing.id},"
        f" {existing.status}): withdraw or decide it first",
        code="DUPLICATE_APPLICATION",
    )
    error.extra = {"existing_loan_id": existing.id}  # type: ignore[attr-defined]
    return error


def _check_no_open_application(session: Session, household_id: str, lender_id: str) -> None:
    """One open application (submitted or approved, not yet disbursed) per household and lender."""
    existing = repository.open_application(session, household_id, lender_id)
    if existing is not None:
        raise _duplicate(existing)


def _insert_application(session: Session, loan: Loan) -> None:
    """Insert the loan; a concurrent application that committed first trips the unique index
    uq_loans_open_application, and answers the same 409 as the check before."""
    try:
        with session.begin_nested():
            session.add(loan)
            session.flush()
    except IntegrityError:
        existing = repository.open_application(session, loan.household_id, loan.lender_id)
        if existing is None:
            raise
        raise _duplicate(existing) from None


def apply(
    session: Session, principal: Principal, body: LoanCreate, today: date, *, khr_per_usd: Decimal
) -> Loan:
    submitted_on = body.submitted_on or today
    check_date(submitted_on, today=today, not_before=None, field="submitted_on")
    product, lender = _product_for(session, principal, body.product_id)
    household = session.get(Household, body.household_id)
    # a partner that may not see the household (no live consent) and brings none learns nothing
    # from the answer: the same as for an id that does not exist
    hidden = household is not None and body.consent is None and principal.lender_scope is not None
    if hidden and not consents.live_consents(session, household.id, principal.lender_scope):
        household = None
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
    # the application makes the household visible to the lender: only with the household's consent
    protection.consent_for_application(
        session, principal, household.id, lender.id, body.consent, submitted_on, today
    )
    _check_no_open_application(session, household.id, lender.id)
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
        site_id=household.site_id,
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
    loan.apr_percent, loan.eir_percent = _price(product, loan, body.amount)
    _insert_application(session, loan)
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


def approve(
    session: Session,
    principal: Principal,
    loan_id: str,
    body: ApproveRequest,
    today: date,
    *,
    rate_cap_percent: Decimal = RATE_CAP_PERCENT,
) -> Loan:
    """`rate_cap_percent`: the legal cap (settings); an APR shown above it needs the acknowledgement."""
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
    protection.check_review(session, loan)  # ID Poor (and any needs_review reason): a cleared review
    product = session.get(Product, loan.product_id)
    # the application's price, again for a smaller approved amount (a fixed fee then weighs more)
    priced = (loan.apr_percent, loan.eir_percent)
    if approved_amount != loan.amount or loan.apr_percent is None:
        priced = _price(product, loan, approved_amount)
    _check_apr_cap(priced[0], body, rate_cap_percent)
    before = snapshot(loan)
    transition(loan, "approved")
    loan.approved_amount = approved_amount
    loan.apr_percent, loan.eir_percent = priced
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
        after=snapshot(loan)
        | {"override_reason": body.override_reason, "note": body.note}
        | {
            "apr_percent": str(shown_percent(priced[0])),
            "rate_cap_percent": str(rate_cap_percent),
            "acknowledge_apr_above_cap": body.acknowledge_apr_above_cap,
        },
    )
    emit(
        session,
        "loan.approved",
        loan.lender_id,
        {
            "loan_id": loan.id,
            "household_id": loan.household_id,
            "approved_amount": str(round_money(approved_amount, loan.currency)),
            "currency": loan.currency,
            "approved_on": approved_on.isoformat(),
        },
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
    loan.decided_on, loan.decided_by, loan.decision_note = rejected_on, principal.name, body.reason
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
        after=snapshot(loan) | {"reason": body.reason},
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
    loan.decision_note = body.reason or loan.decision_note
    session.flush()
    audit(
        session,
        principal,
        entity_type="loan",
        entity_id=loan.id,
        loan_id=loan.id,
        action="withdrawn",
        before=before,
        after=snapshot(loan) | {"reason": body.reason},
    )
    return loan
