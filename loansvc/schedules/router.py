"""HTTP: POST /v1/schedules/simulate (JSON, or a PDF), /v1/schedules/key-facts.pdf,
/v1/schedules/compare and /v1/rates/apr (any role)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response
from starlette.concurrency import run_in_threadpool

from loansvc import documents
from loansvc.auth.principal import Principal
from loansvc.schedules import disclosures, service
from loansvc.schedules.schemas import (
    AprRequest,
    AprResponse,
    CompareResponse,
    ScheduleResponse,
    SimulateRequest,
)
from loansvc.web.deps import ALL_ROLES, SettingsDep, TodayDep, require
from loansvc.web.pdf import PDF, DocumentLang, LangQuery, pdf_content, pdf_response, wants_pdf
from loansvc.web.problems import AUTH_ERRORS, responses

router = APIRouter(prefix="/v1", tags=["schedules and pricing"])


@router.post(
    "/schedules/simulate",
    response_model=ScheduleResponse,
    responses={200: {"content": {PDF: {"schema": {"type": "string", "format": "binary"}}}}}
    | responses(*AUTH_ERRORS, 422),
)
async def simulate_schedule(
    body: SimulateRequest,
    request: Request,
    today: TodayDep,
    lang: DocumentLang = LangQuery,
    principal: Principal = require(*ALL_ROLES),
):
    """The schedule a core banking system would produce, with its fee-inclusive APR and EIR.

    With `Accept: application/pdf`, the same schedule as a PDF for the family, in `lang`."""
    if not wants_pdf(request.headers.get("accept")):
        return service.run_simulation(body)
    doc = disclosures.schedule_document(body, today)
    content = await run_in_threadpool(documents.schedule_pdf, doc, lang)
    return pdf_response(content, f"simulation-schedule-{lang}.pdf")


@router.post(
    "/schedules/key-facts.pdf",
    response_class=Response,
    responses=pdf_content("the key facts statement of the offer as a one-page PDF")
    | responses(*AUTH_ERRORS, 422),
)
async def simulation_key_facts_pdf(
    body: SimulateRequest,
    settings: SettingsDep,
    today: TodayDep,
    lang: DocumentLang = LangQuery,
    principal: Principal = require(*ALL_ROLES),
):
    """The key facts statement of a simulated offer (the body of `/schedules/simulate`): amount,
    term, installment, total cost, APR/EIR, fees, late payment, title, complaints. A simulation
    has no lender's contract yet: the statement tells the family to ask for the late-fee rule."""
    facts = disclosures.key_facts(
        body,
        today,
        complaints_hotline=settings.complaints_hotline,
        title_return_days=settings.title_return_days,
    )
    content = await run_in_threadpool(documents.key_facts_pdf, facts, lang)
    return pdf_response(content, f"simulation-key-facts-{lang}.pdf")


@router.post("/schedules/compare", response_model=CompareResponse, responses=responses(*AUTH_ERRORS, 422))
async def compare_offers(
    body: Annotated[list[SimulateRequest], Body(min_length=1, max_length=20)],
    principal: Principal = require(*ALL_ROLES),
):
    """Up to 20 offers side by side: installment, total interest, total cost, APR, EIR, warnings,
    and each offer's rank by its APR as shown (2 decimals): equal shown APRs share a rank, and
    `cheapest_index` is null unless one offer alone is the cheapest."""
    return service.compare(body)


@router.post("/rates/apr", response_model=AprResponse, responses=responses(*AUTH_ERRORS, 422))
async def true_cost(body: AprRequest, principal: Principal = require(*ALL_ROLES)):
    """The true cost of any offer from its dated cash flows (Regulation Z actuarial or EU APRC)."""
    return service.solve_apr(body)
