"""HTTP for loans: applications, decisions, disbursements, inspections, schedule and history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from loansvc.audit.service import loan_history
from loansvc.auth.principal import Principal
from loansvc.fields import Page
from loansvc.loans import disbursements, repository, service
from loansvc.loans.schemas import (
    ApproveRequest,
    DisbursementCreate,
    DisbursementOut,
    HistoryEntryOut,
    InspectionCreate,
    InspectionOut,
    InstallmentOut,
    LoanCreate,
    LoanOut,
    LoanStatus,
    RejectRequest,
    ScheduleOut,
    WithdrawRequest,
)
from loansvc.registry.repository import page as paginate
from loansvc.web import idempotency
from loansvc.web.clock import today
from loansvc.web.deps import ALL_ROLES, PageDep, SessionDep, WriteSessionDep, require
from loansvc.web.idempotency import IdempotencyKey
from loansvc.web.problems import AUTH_ERRORS, responses

router = APIRouter(prefix="/v1/loans", tags=["loans"])
LOAN_READERS = ALL_ROLES


@router.post("", status_code=201, response_model=LoanOut, responses=responses(*AUTH_ERRORS, 409, 422))
def apply_for_loan(
    body: LoanCreate, session: SessionDep, principal: Principal = require("loan_officer", "partner")
):
    """Submit an application; a fresh affordability assessment is attached and returned."""
    loan = service.apply(session, principal, body, today())
    return service.loan_out(session, principal, loan, today())


@router.get("", response_model=Page[LoanOut], responses=responses(*AUTH_ERRORS))
def list_loans(
    session: SessionDep,
    page: PageDep,
    status: LoanStatus | None = None,
    household_id: Annotated[str | None, Query(max_length=36)] = None,
    product_id: Annotated[str | None, Query(max_length=36)] = None,
    principal: Principal = require(*LOAN_READERS),
):
    lender = principal.lender_id if principal.is_partner else None
    query = repository.loans_query(
        lender_id=lender, status=status, household_id=household_id, product_id=product_id
    )
    items, total = paginate(session, query, page.limit, page.offset)
    return Page[LoanOut](
        items=[service.loan_out(session, principal, loan, today()) for loan in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{loan_id}", response_model=LoanOut, responses=responses(*AUTH_ERRORS, 404))
def get_loan(loan_id: str, session: SessionDep, principal: Principal = require(*LOAN_READERS)):
    return service.loan_out(session, principal, service.get_visible(session, principal, loan_id), today())


@router.post("/{loan_id}/approve", response_model=LoanOut, responses=responses(*AUTH_ERRORS, 404, 409, 422))
def approve_loan(
    loan_id: str,
    body: ApproveRequest,
    session: SessionDep,
    principal: Principal = require("loan_officer", "partner"),
):
    """Four eyes: the approving key must differ from the submitting key. Approval freezes the terms."""
    loan = service.approve(session, principal, loan_id, body, today())
    return service.loan_out(session, principal, loan, today())


@router.post("/{loan_id}/reject", response_model=LoanOut, responses=responses(*AUTH_ERRORS, 404, 409, 422))
def reject_loan(
    loan_id: str,
    body: RejectRequest,
    session: SessionDep,
    principal: Principal = require("loan_officer", "partner"),
):
    loan = service.reject(session, principal, loan_id, body, today())
    return service.loan_out(session, principal, loan, today())


@router.post("/{loan_id}/withdraw", response_model=LoanOut, responses=responses(*AUTH_ERRORS, 404, 409, 422))
def withdraw_loan(
    loan_id: str,
    body: WithdrawRequest,
    session: SessionDep,
    principal: Principal = require("loan_officer", "partner"),
):
    loan = service.withdraw(session, principal, loan_id, body, today())
    return service.loan_out(session, principal, loan, today())


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
    idempotency_key: IdempotencyKey = None,
    principal: Principal = require("loan_officer", "partner"),
):
    """Materials in kind (loan officer) or a cash tranche (the lender's partner key), tied to a milestone."""

    def action():
        disbursement = disbursements.disburse(session, principal, loan_id, body, today())
        loan = service.get_visible(session, principal, loan_id)
        return 201, disbursements.disbursement_out(session, loan, disbursement)

    return idempotency.run(session, principal, request, idempotency_key, body, action)


@router.get(
    "/{loan_id}/disbursements", response_model=list[DisbursementOut], responses=responses(*AUTH_ERRORS, 404)
)
def list_disbursements(loan_id: str, session: SessionDep, principal: Principal = require(*LOAN_READERS)):
    loan = service.get_visible(session, principal, loan_id)
    return disbursements.list_disbursements(session, loan)


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
    principal: Principal = require("loan_officer", "partner"),
):
    return disbursements.inspect(session, principal, loan_id, body, today())


@router.get(
    "/{loan_id}/inspections", response_model=list[InspectionOut], responses=responses(*AUTH_ERRORS, 404)
)
def list_inspections(loan_id: str, session: SessionDep, principal: Principal = require(*LOAN_READERS)):
    loan = service.get_visible(session, principal, loan_id)
    return repository.inspections(session, loan.id)


@router.get("/{loan_id}/schedule", response_model=ScheduleOut, responses=responses(*AUTH_ERRORS, 404))
def loan_schedule(loan_id: str, session: SessionDep, principal: Principal = require(*LOAN_READERS)):
    """The current schedule (empty until the first disbursement)."""
    loan = service.get_visible(session, principal, loan_id)
    rows = repository.installments(session, loan)
    return ScheduleOut(
        loan_id=loan.id,
        version=loan.schedule_version,
        currency=loan.currency,
        installments=[InstallmentOut.model_validate(r) for r in rows],
    )


@router.get(
    "/{loan_id}/history", response_model=list[HistoryEntryOut], responses=responses(*AUTH_ERRORS, 404)
)
def history(loan_id: str, session: SessionDep, principal: Principal = require("loan_officer", "partner")):
    """Every state change and money movement, oldest first. Nothing is ever deleted."""
    loan = service.get_visible(session, principal, loan_id)
    return loan_history(session, loan.id)
