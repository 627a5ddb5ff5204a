"""HTTP for loans: applications, decisions, disbursements, inspections, schedule and history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from loansvc import documents
from loansvc.auth.principal import Principal
from loansvc.fields import CURSOR_MAX_LENGTH, CursorPage, Date, Page
from loansvc.loans import disbursements, disclosures, service, stages, views
from loansvc.loans.schemas import (
    ApproveRequest,
    DisbursementCreate,
    DisbursementOut,
    HistoryEntryOut,
    InspectionCreate,
    InspectionOut,
    LoanCreate,
    LoanOut,
    LoanStatus,
    RejectRequest,
    ScheduleOut,
    WithdrawRequest,
)
from loansvc.loans.stages import MilestoneOut
from loansvc.web import idempotency
from loansvc.web.deps import ALL_ROLES, PageDep, SessionDep, SettingsDep, TodayDep, WriteSessionDep, require
from loansvc.web.idempotency import IdempotencyKey
from loansvc.web.pdf import DocumentLang, LangQuery, pdf_content, pdf_response
from loansvc.web.problems import AUTH_ERRORS, responses

router = APIRouter(prefix="/v1/loans", tags=["loans"])
LOAN_READERS = ALL_ROLES


@router.post("", status_code=201, response_model=LoanOut, responses=responses(*AUTH_ERRORS, 409, 422))
def apply_for_loan(
    body: LoanCreate,
    request: Request,
    session: WriteSessionDep,
    settings: SettingsDep,
    today: TodayDep,
    idempotency_key: IdempotencyKey = None,
    principal: Principal = require("loan_officer", "partner"),
):
    """Submit an application; a fresh affordability assessment is attached and returned.

    The household must have consented to share its file with the product's lender: a live consent
    recorded by a loan officer, or `consent` in the body (422 CONSENT_REQUIRED otherwise). A second
    open application (submitted or approved) for the same household and lender is 409
    DUPLICATE_APPLICATION with `existing_loan_id`. A retry with the same `Idempotency-Key` replays
    the first answer (one loan), even when sent concurrently."""

    def action():
        loan = service.apply(session, principal, body, today, khr_per_usd=settings.khr_per_usd)
        return 201, views.one(session, principal, loan, today)

    return idempotency.run(session, principal, request, idempotency_key, body, action)


@router.get("", response_model=CursorPage[LoanOut], responses=responses(*AUTH_ERRORS, 422))
def list_loans(
    session: SessionDep,
    page: PageDep,
    today: TodayDep,
    settings: SettingsDep,
    status: LoanStatus | None = None,
    household_id: Annotated[str | None, Query(max_length=36)] = None,
    product_id: Annotated[str | None, Query(max_length=36)] = None,
    after: Annotated[
        str | None,
        Query(max_length=CURSOR_MAX_LENGTH, description="the `next_after` of the page before (keyset)"),
    ] = None,
    count: Annotated[
        bool, Query(description="an exact `total` even above the exact-count limit (slower)")
    ] = False,
    principal: Principal = require(*LOAN_READERS),
):
    """The newest submission first (then by id). Page by `after` (each answer's `next_after`: as
    fast at the millionth loan as at the first) or by `offset` (kept; a deep offset reads every
    row before it). `total` is exact up to `LOANSVC_LIST_EXACT_COUNT_LIMIT` (10,000) loans, null
    beyond unless `count=true` (`total_is_exact` says which; `total_at_least` is always set);
    `has_more` says whether a page follows. A cursor not made by this list is 422 BAD_CURSOR."""
    return views.loans_page(
        session,
        principal,
        status=status,
        household_id=household_id,
        product_id=product_id,
        limit=page.limit,
        offset=page.offset,
        today=today,
        after=after,
        count=count,
        exact_count_limit=settings.list_exact_count_limit,
    )


@router.get("/{loan_id}", response_model=LoanOut, responses=responses(*AUTH_ERRORS, 404))
def get_loan(
    loan_id: str, session: SessionDep, today: TodayDep, principal: Principal = require(*LOAN_READERS)
):
    return views.get(session, principal, loan_id, today)


@router.post("/{loan_id}/approve", response_model=LoanOut, responses=responses(*AUTH_ERRORS, 404, 409, 422))
def approve_loan(
    loan_id: str,
    body: ApproveRequest,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    principal: Principal = require("loan_officer", "partner"),
):
    """Four eyes: the approving key must differ from the submitting key. Approval freezes the terms.

    When the loan's apr_percent (2 decimals, as shown) is above `LOANSVC_RATE_CAP_PERCENT`, the
    approval needs `acknowledge_apr_above_cap: true` with a written `note` (else 409 APR_ABOVE_CAP);
    the history's approval entry carries the APR, the cap and the note."""
    loan = service.approve(
        session, principal, loan_id, body, today, rate_cap_percent=settings.rate_cap_percent
    )
    return views.one(session, principal, loan, today)


@router.post("/{loan_id}/reject", response_model=LoanOut, responses=responses(*AUTH_ERRORS, 404, 409, 422))
def reject_loan(
    loan_id: str,
    body: RejectRequest,
    session: SessionDep,
    today: TodayDep,
    principal: Principal = require("loan_officer", "partner"),
):
    loan = service.reject(session, principal, loan_id, body, today)
    return views.one(session, principal, loan, today)


@router.post("/{loan_id}/withdraw", response_model=LoanOut, responses=responses(*AUTH_ERRORS, 404, 409, 422))
def withdraw_loan(
    loan_id: str,
    body: WithdrawRequest,
    session: SessionDep,
    today: TodayDep,
    principal: Principal = require("loan_officer", "partner"),
):
    loan = service.withdraw(session, principal, loan_id, body, today)
    return views.one(session, principal, loan, today)


@router.post(
    "/{loan_id}/disbursements",
    status_code=201,
    response_model=DisbursementOut,
    responses=responses(*AUTH_ERRORS, 404, 409, 422),
)
def disburse(
    loan_id: str,
    body: DisbursementCreate,
    request: Request,
    session: WriteSessionDep,
    today: TodayDep,
    idempotency_key: IdempotencyKey = None,
    principal: Principal = require("loan_officer", "partner"),
):
    """Materials in kind (loan officer) or a cash tranche (the lender's partner key), tied to a milestone."""

    def action():
        return 201, disbursements.disburse_out(session, principal, loan_id, body, today)

    return idempotency.run(session, principal, request, idempotency_key, body, action)


@router.get(
    "/{loan_id}/disbursements", response_model=Page[DisbursementOut], responses=responses(*AUTH_ERRORS, 404)
)
def list_disbursements(
    loan_id: str, session: SessionDep, page: PageDep, principal: Principal = require(*LOAN_READERS)
):
    return disbursements.list_disbursements(session, principal, loan_id, page.limit, page.offset)


@router.post(
    "/{loan_id}/inspections",
    status_code=201,
    response_model=InspectionOut,
    responses=responses(*AUTH_ERRORS, 404, 409, 422),
)
def record_inspection(
    loan_id: str,
    body: InspectionCreate,
    session: SessionDep,
    today: TodayDep,
    principal: Principal = require("loan_officer", "partner"),
):
    return disbursements.inspect(session, principal, loan_id, body, today)


@router.get(
    "/{loan_id}/inspections", response_model=Page[InspectionOut], responses=responses(*AUTH_ERRORS, 404)
)
def list_inspections(
    loan_id: str, session: SessionDep, page: PageDep, principal: Principal = require(*LOAN_READERS)
):
    return views.inspections(session, principal, loan_id, page.limit, page.offset)


@router.get(
    "/{loan_id}/milestones", response_model=Page[MilestoneOut], responses=responses(*AUTH_ERRORS, 404)
)
def list_milestones(
    loan_id: str, session: SessionDep, page: PageDep, principal: Principal = require(*LOAN_READERS)
):
    """Every milestone of the contract in order, each with its tranches, deliveries and inspections.

    `status`: not_started (nothing disbursed for it); funded (disbursed, not inspected since its last
    funding); inspected_passed (its latest inspection since its last funding passed: the next milestone
    may be funded); inspected_failed (that inspection failed: the next milestone waits for a later pass).
    """
    return stages.milestones_page(session, principal, loan_id, page.limit, page.offset)


@router.get("/{loan_id}/schedule", response_model=ScheduleOut, responses=responses(*AUTH_ERRORS, 404, 422))
def loan_schedule(
    loan_id: str,
    session: SessionDep,
    today: TodayDep,
    as_of: Date | None = None,
    version: int | None = Query(default=None, ge=1, le=100000, description="an earlier schedule version"),
    principal: Principal = require(*LOAN_READERS),
):
    """The current schedule, each installment with what was paid on it as of `as_of` (default today);
    `version` reads any earlier version (see `/schedule/versions`)."""
    return views.schedule(session, principal, loan_id, as_of, today, version)


@router.get(
    "/{loan_id}/schedule.pdf",
    response_class=Response,
    responses=pdf_content("the repayment schedule as a PDF") | responses(*AUTH_ERRORS, 404, 422),
)
def loan_schedule_pdf(
    loan_id: str,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    as_of: Date | None = None,
    lang: DocumentLang = LangQuery,
    principal: Principal = require(*LOAN_READERS),
):
    """The schedule of `GET /schedule` for the family: each installment's date and parts, the
    totals, APR and EIR. Before the first disbursement: the schedule the loan was priced on."""
    doc = disclosures.schedule_document(
        session, principal, loan_id, today, as_of, disclosures.document_settings(settings)
    )
    return pdf_response(documents.schedule_pdf(doc, lang), f"loan-{doc.loan_id}-schedule-{lang}.pdf")


@router.get(
    "/{loan_id}/key-facts.pdf",
    response_class=Response,
    responses=pdf_content("the key facts statement as a one-page PDF") | responses(*AUTH_ERRORS, 404, 422),
)
def loan_key_facts_pdf(
    loan_id: str,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    lang: DocumentLang = LangQuery,
    principal: Principal = require(*LOAN_READERS),
):
    """The one-page statement to read before signing: amount, term, installment, total cost,
    APR/EIR, fees, what happens when a payment is late, the title, and how to complain
    (`LOANSVC_COMPLAINTS_HOTLINE`)."""
    facts = disclosures.key_facts(
        session,
        principal,
        loan_id,
        today,
        disclosures.document_settings(settings),
    )
    filename = f"loan-{facts.schedule.loan_id}-key-facts-{lang}.pdf"
    return pdf_response(documents.key_facts_pdf(facts, lang), filename)


@router.get(
    "/{loan_id}/history", response_model=Page[HistoryEntryOut], responses=responses(*AUTH_ERRORS, 404)
)
def history(
    loan_id: str,
    session: SessionDep,
    page: PageDep,
    principal: Principal = require("loan_officer", "partner"),
):
    """Every state change and money movement, oldest first. Nothing is ever deleted."""
    return views.history(session, principal, loan_id, page.limit, page.offset)
