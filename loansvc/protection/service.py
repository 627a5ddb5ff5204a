"""Consent and review use cases: what protects the family before a loan.

Consent: a household shares its file (name, phone, incomes, debts) with one lender only while it
has a live consent for that lender. A loan officer records it, or an application carries it; every
application to a lender needs one, whoever submits it (422 CONSENT_REQUIRED). A withdrawal is a
date on the consent, never a deletion: from then on the lender's partner keys get 404 on the
household (loansvc.lending.households), while the lender's own loans stay visible.

Review: when an application's assessment gives a reason code the policy lists in `needs_review`
(by default IDPOOR_REVIEW), approval waits for a loan officer's review whose latest outcome is
`cleared` (409 REVIEW_REQUIRED otherwise), whoever approves.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from loansvc import affordability
from loansvc.audit.service import record as audit
from loansvc.auth.principal import Principal
from loansvc.db.models import Assessment, Consent, Household, Lender, Loan, LoanReview
from loansvc.db.query import page
from loansvc.domain.errors import Conflict, InvalidInput, NotFound
from loansvc.lending.access import get_visible
from loansvc.protection import repository
from loansvc.protection.schemas import ApplicationConsent, ConsentCreate, ReviewCreate

# Consents -----------------------------------------------------------------------------------------


def _consent_snapshot(consent: Consent) -> dict:
    return {
        "household_id": consent.household_id,
        "lender_id": consent.lender_id,
        "given_on": consent.given_on.isoformat(),
        "method": consent.method,
        "reference": consent.reference,
        "withdrawn_on": consent.withdrawn_on.isoformat() if consent.withdrawn_on else None,
    }


def _add_consent(
    session: Session, principal: Principal, household_id: str, lender_id: str, body: ApplicationConsent
) -> Consent:
    consent = Consent(
        household_id=household_id,
        lender_id=lender_id,
        given_on=body.given_on,
        method=body.method,
        reference=body.reference,
        recorded_by=principal.name,
    )
    session.add(consent)
    session.flush()
    audit(
        session,
        principal,
        entity_type="consent",
        entity_id=consent.id,
        action="consent_recorded",
        after=_consent_snapshot(consent),
    )
    return consent


def _check_given_on(given_on: date, today: date, field: str) -> None:
    if given_on > today:
        raise InvalidInput(f"{field} {given_on} is in the future", code="DATE_IN_FUTURE", field=field)


def record_consent(
    session: Session, principal: Principal, household_id: str, body: ConsentCreate, today: date
) -> Consent:
    """POST /v1/households/{id}/consents, by a loan officer."""
    if session.get(Household, household_id) is None:
        raise NotFound(f"no household {household_id}", code="HOUSEHOLD_NOT_FOUND")
    if session.get(Lender, body.lender_id) is None:
        raise InvalidInput(f"no lender {body.lender_id}", code="UNKNOWN_LENDER", field="lender_id")
    _check_given_on(body.given_on, today, "given_on")
    return _add_consent(session, principal, household_id, body.lender_id, body)


def withdraw_consent(
    session: Session,
    principal: Principal,
    household_id: str,
    consent_id: str,
    reason: str | None,
    today: date,
) -> Consent:
    """DELETE /v1/households/{id}/consents/{consent_id}: the withdrawal is recorded, nothing deleted."""
    consent = repository.consent(session, household_id, consent_id, lock=True)
    if consent is None:
        raise NotFound(f"no consent {consent_id} for household {household_id}", code="CONSENT_NOT_FOUND")
    if consent.withdrawn_on is not None:
        error = Conflict(
            f"this consent was already withdrawn on {consent.withdrawn_on}", code="CONSENT_ALREADY_WITHDRAWN"
        )
        error.extra = {"withdrawn_on": consent.withdrawn_on.isoformat()}  # type: ignore[attr-defined]
        raise error
    before = _consent_snapshot(consent)
    consent.withdrawn_on, consent.withdrawn_by, consent.withdrawal_reason = today, principal.name, reason
    session.flush()
    audit(
        session,
        principal,
        entity_type="consent",
        entity_id=consent.id,
        action="consent_withdrawn",
        before=before,
        after=_consent_snapshot(consent) | {"reason": reason},
    )
    return consent


def consent_for_application(
    session: Session,
    principal: Principal,
    household_id: str,
    lender_id: str,
    carried: ApplicationConsent | None,
    submitted_on: date,
    today: date,
) -> Consent:
    """The consent an application to `lender_id` rests on: the one it carries (recorded now), or a
    live one already recorded, given on or before the application. 422 CONSENT_REQUIRED otherwise."""
    if carried is not None:
        _check_given_on(carried.given_on, today, "consent.given_on")
        if carried.given_on > submitted_on:
            raise InvalidInput(
                f"consent.given_on {carried.given_on} is after the application's submitted_on"
                f" {submitted_on}: the household consents before its file is shared",
                code="CONSENT_AFTER_APPLICATION",
                field="consent.given_on",
            )
        return _add_consent(session, principal, household_id, lender_id, carried)
    live = repository.live_consents(session, household_id, lender_id)
    earlier = [c for c in live if c.given_on <= submitted_on]
    if earlier:
        return earlier[0]
    lender = session.get(Lender, lender_id)
    message = (
        f"the household has not consented to share its file with {lender.name}: a loan officer records"
        " its consent (POST /v1/households/{id}/consents), or the application carries it (`consent`)"
    )
    if live:
        message = (
            f"the household's consent to share its file with {lender.name} was given on {live[0].given_on},"
            f" after the application's submitted_on {submitted_on}"
        )
    raise InvalidInput(message, code="CONSENT_REQUIRED", field="consent")


# Reviews ------------------------------------------------------------------------------------------


def record_review(
    session: Session, principal: Principal, loan_id: str, body: ReviewCreate, today: date
) -> LoanReview:
    """POST /v1/loans/{id}/reviews, by a loan officer (or an admin): the loan must be submitted."""
    loan = get_visible(session, principal, loan_id, lock=True)  # waits for a concurrent decision
    if loan.status != "submitted":
        error = Conflict(f"a {loan.status} loan is no longer reviewed", code="LOAN_NOT_SUBMITTED")
        error.extra = {"current_status": loan.status}  # type: ignore[attr-defined]
        raise error
    review = LoanReview(
        loan_id=loan.id,
        outcome=body.outcome,
        note=body.note,
        reviewed_on=today,
        reviewed_by=principal.name,
        reviewed_by_key_id=principal.key_id,
    )
    session.add(review)
    session.flush()
    audit(
        session,
        principal,
        entity_type="loan_review",
        entity_id=review.id,
        loan_id=loan.id,
        action=f"review_{body.outcome}",
        after={"outcome": body.outcome, "note": body.note, "reviewed_on": today.isoformat()},
    )
    return review


def list_reviews(
    session: Session, principal: Principal, loan_id: str, limit: int, offset: int
) -> tuple[list[LoanReview], int]:
    get_visible(session, principal, loan_id)
    return page(session, repository.reviews_query(loan_id), limit, offset)


def review_reasons(session: Session, loan: Loan) -> list[str]:
    """The reason codes of the loan's assessment that its policy marks `needs_review`."""
    assessment = session.get(Assessment, loan.assessment_id) if loan.assessment_id else None
    if assessment is None:
        return []
    policy = affordability.engine_policy(affordability.policy_record(session, assessment.policy_version))
    given = [reason["code"] for reason in assessment.result.get("reasons", [])]
    return [code for code in given if code in policy.needs_review]


def check_review(session: Session, loan: Loan) -> None:
    """Before approval: 409 REVIEW_REQUIRED unless the latest review of a loan whose assessment
    asks for one is `cleared`."""
    codes = review_reasons(session, loan)
    if not codes:
        return
    latest = repository.latest_review(session, loan.id)
    if latest is None:
        message = (
            f"the assessment asks for a loan officer's review ({', '.join(codes)}): approval waits for a"
            f" cleared review (POST /v1/loans/{loan.id}/reviews)"
        )
    elif latest.outcome != "cleared":
        message = (
            f"the loan officer's latest review ({latest.reviewed_on}, {latest.reviewed_by}) did not clear"
            f" this loan: {latest.note}"
        )
    else:
        return
    error = Conflict(message, code="REVIEW_REQUIRED")
    error.extra = {  # type: ignore[attr-defined]
        "reason_codes": codes,
        "latest_review": None if latest is None else {"id": latest.id, "outcome": latest.outcome},
    }
    raise error
