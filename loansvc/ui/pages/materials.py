"""The materials bank: the stock, receiving a delivery, and issuing materials to a loan for one of
its construction stages. The services of GET /v1/materials, POST /v1/materials/{sku}/receipts and
POST /v1/loans/{id}/disbursements (kind materials), with their roles: officers and partners see
the stock, loan officers receive and issue.

Each form carries a fresh Idempotency-Key (hidden `idempotency_key`), so a double click or a
resent form replays the first answer instead of moving stock twice, as the API's header does."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from loansvc.auth.principal import Principal
from loansvc.domain.errors import DomainError
from loansvc.loans import disbursements
from loansvc.loans.schemas import DisbursementCreate
from loansvc.materials import service as materials
from loansvc.materials.schemas import ReceiptCreate
from loansvc.ui import forms
from loansvc.ui.pages.base import page_router
from loansvc.ui.texts import N_
from loansvc.ui.web import OFFICER_PAGES, flash, page_for, render
from loansvc.web import idempotency
from loansvc.web.deps import SessionDep, TodayDep

router = page_router()
MANY = 500
ISSUE_LINES = 4
MILESTONES = ("foundation", "structure", "roof", "finishing")


def _page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    receipt: dict[str, Any] | None = None,
    issue: dict[str, Any] | None = None,
    receipt_errors: forms.FormErrors | None = None,
    issue_errors: forms.FormErrors | None = None,
    status_code: int = 200,
):
    catalog = materials.catalog_page(session, MANY, 0).model_dump(mode="json")["items"]
    return render(
        request,
        "materials.html",
        status_code=status_code,
        catalog=catalog,
        sku_options=[(item["sku"], f"{item['name']} ({item['sku']})") for item in catalog],
        receipt=receipt or {},
        issue=issue or {},
        issue_lines=ISSUE_LINES,
        milestones=MILESTONES,
        receipt_errors=receipt_errors or forms.FormErrors(),
        issue_errors=issue_errors or forms.FormErrors(),
        can_move=principal.role in ("loan_officer", "admin"),
        receipt_key=str(uuid.uuid4()),
        issue_key=str(uuid.uuid4()),
    )


@router.get("/materials")
def materials_page(
    request: Request,
    session: SessionDep,
    loan_id: Annotated[str | None, Query(max_length=36)] = None,
    principal: Principal = page_for(*OFFICER_PAGES),
):
    return _page(request, session, principal, issue={"loan_id": loan_id or ""})


def _once(session, principal, request, key, body, action) -> None:
    """The API's idempotency contract around `action` (a refusal raises, as it does there)."""
    idempotency.run(session, principal, request, key or None, body, action)


@router.post("/materials/receipts")
async def receive_stock(
    request: Request,
    session: SessionDep,
    today: TodayDep,
    principal: Principal = page_for("loan_officer"),
):
    form = await request.form()
    values = dict(form.multi_items())
    body = forms.nested(form.multi_items())
    sku = str(body.pop("sku", ""))
    key = values.get("idempotency_key")
    receipt, errors = forms.parse(ReceiptCreate, body)
    if receipt is not None:
        try:
            _once(
                session,
                principal,
                request,
                key,
                receipt,
                lambda: (201, materials.receipt_out(session, principal, sku, receipt, today)),  # type: ignore[arg-type]
            )
        except DomainError as exc:
            errors = forms.from_domain(exc)
    if errors:
        session.rollback()
        return _page(request, session, principal, receipt=values, receipt_errors=errors, status_code=422)
    flash(request, N_("Delivery received into stock."))
    return RedirectResponse("/ui/materials#stock", status_code=303)


@router.post("/materials/issues")
async def issue_materials(
    request: Request,
    session: SessionDep,
    today: TodayDep,
    principal: Principal = page_for("loan_officer"),
):
    """POST /v1/loans/{loan_id}/disbursements with kind materials: the stage order, the previous
    stage's inspection and the stock are the service's checks."""
    form = await request.form()
    values = dict(form.multi_items())
    body = forms.nested(form.multi_items())
    loan_id = str(body.pop("loan_id", ""))
    key = values.get("idempotency_key")
    issue, errors = forms.parse(DisbursementCreate, {**body, "kind": "materials"})
    if issue is not None:
        try:
            _once(
                session,
                principal,
                request,
                key,
                issue,
                lambda: (201, disbursements.disburse_out(session, principal, loan_id, issue, today)),  # type: ignore[arg-type]
            )
        except DomainError as exc:
            errors = forms.from_domain(exc)
    if errors:
        session.rollback()
        return _page(request, session, principal, issue=values, issue_errors=errors, status_code=422)
    flash(request, N_("Materials issued to the loan."))
    return RedirectResponse(f"/ui/loans/{loan_id}#stages", status_code=303)
