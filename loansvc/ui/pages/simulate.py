"""Schedule simulation and the comparison of offers, with the true cost (APR, EIR) and the legal
warnings: the services of POST /v1/schedules/simulate and /compare (every role; nothing stored).

The form holds up to three offers side by side; each input carries the API's field name
(`principal`, `annual_rate_percent`, `fees[0].amount` ...) once per offer, in offer order. One
offer filled in is a simulation, two or three a comparison."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import ValidationError

from loansvc import documents
from loansvc.auth.principal import Principal
from loansvc.domain.errors import DomainError, InvalidInput
from loansvc.schedules import disclosures
from loansvc.schedules import service as schedules
from loansvc.schedules.schemas import SimulateRequest
from loansvc.ui import forms
from loansvc.ui.pages.base import page_router
from loansvc.ui.web import language, page_for, render
from loansvc.web.deps import ALL_ROLES, SettingsDep, TodayDep
from loansvc.web.pdf import pdf_response

router = page_router()
OFFERS = 3
FIELDS = (
    "label",
    "principal",
    "currency",
    "annual_rate_percent",
    "term",
    "frequency",
    "interest_method",
    "amortization",
    "disbursement_date",
    "first_repayment_date",
    "grace_principal_periods",
    "fees[0].name",
    "fees[0].timing",
    "fees[0].amount",
    "fees[0].percent",
)


def _defaults(today) -> list[dict[str, str]]:
    first = {"currency": "USD", "frequency": "monthly", "disbursement_date": today.isoformat()}
    return [dict(first) for _ in range(OFFERS)]


def _page(request: Request, today, values, results=None, comparison=None, errors=None, status_code=200):
    return render(
        request,
        "simulate.html",
        status_code=status_code,
        offers=values,
        results=results or [],
        comparison=comparison,
        errors=errors or forms.FormErrors(),
        frequencies=("monthly", "quarterly", "every_4_weeks", "biweekly", "weekly"),
    )


@router.get("/simulate")
def simulate_page(request: Request, today: TodayDep, principal: Principal = page_for(*ALL_ROLES)):
    return _page(request, today, _defaults(today))


@router.post("/simulate")
async def simulate(request: Request, today: TodayDep, principal: Principal = page_for(*ALL_ROLES)):
    form = await request.form()
    columns = {name: form.getlist(name) for name in FIELDS}
    values = [
        {name: (col[i] if i < len(col) and isinstance(col[i], str) else "") for name, col in columns.items()}
        for i in range(OFFERS)
    ]
    filled = [(i, v) for i, v in enumerate(values) if v.get("principal", "").strip()]
    errors = forms.FormErrors()
    offers: list[SimulateRequest] = []
    for i, offer in filled:
        body = forms.nested(offer.items())
        try:
            offers.append(SimulateRequest.model_validate(body))
        except ValidationError as exc:
            for message in forms.from_validation(exc).summary:
                errors.summary.append(f"{i + 1}: {message}")
    if not filled:
        errors.summary.append("principal: Field required")
    results: list[dict[str, Any]] = []
    comparison = None
    if not errors:
        try:
            results = [
                {"number": i + 1, **schedules.run_simulation(o).model_dump(mode="json")}
                for (i, _), o in zip(filled, offers, strict=True)
            ]
            if len(offers) > 1:
                comparison = schedules.compare(offers).model_dump(mode="json")
        except DomainError as exc:
            errors = forms.from_domain(exc)
            results = []
    return _page(
        request,
        today,
        values,
        results=results,
        comparison=comparison,
        errors=errors,
        status_code=422 if errors else 200,
    )


async def _one_offer(request: Request) -> SimulateRequest:
    """The offer a document button sends (its hidden fields: the API's names, one offer)."""
    form = await request.form()
    try:
        return SimulateRequest.model_validate(forms.nested(form.multi_items()))
    except ValidationError as exc:
        raise InvalidInput("; ".join(forms.from_validation(exc).summary), code="VALIDATION_ERROR") from exc


@router.post("/simulate/schedule.pdf")
async def simulation_schedule_pdf(
    request: Request, today: TodayDep, principal: Principal = page_for(*ALL_ROLES)
):
    """POST /v1/schedules/simulate with Accept: application/pdf, in the page's language."""
    lang = language(request)
    doc = disclosures.schedule_document(await _one_offer(request), today)
    return pdf_response(documents.schedule_pdf(doc, lang), f"simulation-schedule-{lang}.pdf")


@router.post("/simulate/key-facts.pdf")
async def simulation_key_facts_pdf(
    request: Request, settings: SettingsDep, today: TodayDep, principal: Principal = page_for(*ALL_ROLES)
):
    """POST /v1/schedules/key-facts.pdf, in the page's language."""
    lang = language(request)
    facts = disclosures.key_facts(
        await _one_offer(request),
        today,
        complaints_hotline=settings.complaints_hotline,
        title_return_days=settings.title_return_days,
    )
    return pdf_response(documents.key_facts_pdf(facts, lang), f"simulation-key-facts-{lang}.pdf")
