"""HTTP for repayments, reversals, bulk files, arrears and write-offs."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse

from loansvc.auth.principal import Principal
from loansvc.fields import Date, Page
from loansvc.repayments import arrears, importer, service
from loansvc.repayments.schemas import (
    ArrearsOut,
    ImportResult,
    RepaymentCreate,
    RepaymentOut,
    ReverseRequest,
    WriteOffOut,
    WriteOffRequest,
)
from loansvc.web import idempotency
from loansvc.web.deps import ALL_ROLES, PageDep, SessionDep, SettingsDep, TodayDep, WriteSessionDep, require
from loansvc.web.idempotency import IdempotencyKey
from loansvc.web.problems import AUTH_ERRORS, PROBLEM_MEDIA_TYPE, responses

router = APIRouter(prefix="/v1", tags=["repayments and arrears"])


@router.post(
    "/loans/{loan_id}/repayments",
    status_code=201,
    response_model=RepaymentOut,
    responses=responses(*AUTH_ERRORS, 404, 409, 422),
)
def record_repayment(
    loan_id: str,
    body: RepaymentCreate,
    request: Request,
    session: WriteSessionDep,
    today: TodayDep,
    idempotency_key: IdempotencyKey = None,
    principal: Principal = require("loan_officer", "partner"),
):
    """A payment, allocated oldest installment first (penalties, fees, interest, principal by default).
    On a written-off loan it is recorded as a recovery."""

    def action():
        repayment = service.record(session, principal, loan_id, body, today)
        return 201, service.repayment_out(session, principal, repayment, today)

    return idempotency.run(session, principal, request, idempotency_key, body, action)


@router.get(
    "/loans/{loan_id}/repayments", response_model=Page[RepaymentOut], responses=responses(*AUTH_ERRORS, 404)
)
def list_repayments(
    loan_id: str,
    session: SessionDep,
    page: PageDep,
    today: TodayDep,
    principal: Principal = require(*ALL_ROLES),
):
    return service.list_repayments(session, principal, loan_id, page.limit, page.offset, today)


@router.post(
    "/repayments/{repayment_id}/reverse",
    response_model=RepaymentOut,
    responses=responses(*AUTH_ERRORS, 404, 409, 422),
)
def reverse_repayment(
    repayment_id: str,
    body: ReverseRequest,
    session: WriteSessionDep,
    today: TodayDep,
    principal: Principal = require("loan_officer", "partner"),
):
    """Undo a payment with a compensating entry; the other payments are re-allocated. Nothing is deleted."""
    repayment = service.reverse(session, principal, repayment_id, body, today)
    return service.repayment_out(session, principal, repayment, today)


@router.post(
    "/repayments/import",
    response_model=ImportResult,
    responses={
        **responses(*AUTH_ERRORS, 413),
        422: {
            "model": ImportResult,
            "content": {PROBLEM_MEDIA_TYPE: {}},
            "description": "a bad file, or rejected rows (nothing recorded)",
        },
    },
)
def import_repayments(
    session: WriteSessionDep,
    settings: SettingsDep,
    today: TodayDep,
    file: Annotated[UploadFile, File(description="CSV, UTF-8: loan_id,paid_on,amount,reference")],
    mode: Annotated[Literal["all_or_nothing", "valid_rows"], Query()] = "all_or_nothing",
    principal: Principal = require("loan_officer", "partner"),
):
    """A partner's monthly file. All-or-nothing by default; `?mode=valid_rows` records the good rows."""
    return importer.import_file(
        session,
        principal,
        file.file.read(),
        today,
        valid_rows=mode == "valid_rows",
        max_rows=settings.max_import_rows,
    )


@router.get(
    "/loans/{loan_id}/arrears", response_model=ArrearsOut, responses=responses(*AUTH_ERRORS, 404, 422)
)
def loan_arrears(
    loan_id: str,
    session: SessionDep,
    today: TodayDep,
    as_of: Date | None = None,
    principal: Principal = require(*ALL_ROLES),
):
    """Overdue amount, days past due (from the oldest unpaid installment), bucket, NBC class and provision."""
    return arrears.arrears_out(session, principal, loan_id, as_of, today)


@router.post(
    "/loans/{loan_id}/write-off",
    response_model=WriteOffOut,
    responses={
        **responses(*AUTH_ERRORS, 404, 409, 422),
        202: {"model": WriteOffOut, "description": "requested"},
    },
)
def write_off(
    loan_id: str,
    body: WriteOffRequest,
    session: WriteSessionDep,
    settings: SettingsDep,
    today: TodayDep,
    principal: Principal = require("loan_officer", "partner"),
):
    """Four eyes: the first key requests (202); a second key confirms (200) and the loan is written off."""
    status, out = arrears.write_off(
        session,
        principal,
        loan_id,
        body.reason,
        body.written_off_on,
        today,
        settings.write_off_min_days_past_due,
    )
    return JSONResponse(out.model_dump(mode="json"), status_code=status)
