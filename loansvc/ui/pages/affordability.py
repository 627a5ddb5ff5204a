"""The affordability check with the family and the financing plan of a house, over the services of
POST /v1/affordability/assess, POST /v1/households/{id}/assessments and POST
/v1/households/{id}/financing-plan (loan officers and partners, the household in the caller's
scope). The decision, the figures and the reason codes are the engine's; the page says them in
words, for the officer and for the family."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from loansvc.affordability import assessments, housing, plan, policies
from loansvc.affordability.schemas import (
    AssessmentResult,
    AssessRequest,
    FinancingPlanOut,
    FinancingPlanRequest,
    HousingModelOut,
    RecordedAssessRequest,
)
from loansvc.auth.principal import Principal
from loansvc.config import Settings
from loansvc.domain.errors import DomainError
from loansvc.i18n import format_money, translations
from loansvc.registry import service as registry
from loansvc.registry.schemas import HouseholdOut
from loansvc.ui import forms, lookups, texts
from loansvc.ui.pages.base import page_router
from loansvc.ui.texts import N_
from loansvc.ui.web import OFFICER_PAGES, flash, language, page_for, render
from loansvc.web.deps import SessionDep, SettingsDep, TodayDep

router = page_router()
LOAN_FREQUENCIES = ("monthly", "quarterly", "every_4_weeks", "biweekly", "weekly")


def _money(value: Any, currency: str, lang: str) -> str:
    return "—" if value in (None, "") else format_money(Decimal(str(value)), currency, lang)


def _percent(value: Any) -> str:
    return "—" if value in (None, "") else f"{value}%"


def reason_figures(result: dict[str, Any], parameters: dict[str, Any], lang: str) -> dict[str, str]:
    """The amounts and limits the reason texts name, formatted for people."""
    cur = result["currency"]
    judged = result.get("dsti_after_percent") or result.get("dsti_before_percent")
    return {
        "income": _money(result.get("monthly_income"), cur, lang),
        "expenses": _money(result.get("monthly_expenses"), cur, lang),
        "debt": _money(
            result.get("monthly_debt_service") or result.get("monthly_debt_service_before"), cur, lang
        ),
        "surplus": _money(result.get("monthly_surplus"), cur, lang),
        "installment": _money(result.get("loan_installment"), cur, lang),
        "max_installment": _money(result.get("max_installment"), cur, lang),
        "max_loan": _money(result.get("max_loan_amount"), cur, lang),
        "dsti": _percent(judged),
        "max_dsti": _percent(parameters.get("max_dsti_percent")),
        "max_lenders": str(parameters.get("max_active_lenders", "—")),
        "rate_cap": _percent(parameters.get("rate_cap_percent")),
    }


def explained(session: Session, settings: Settings, result: dict[str, Any], lang: str) -> dict[str, Any]:
    """The result with its reasons in words (officer and family) and its stress tests labelled."""
    gettext = translations(lang).gettext
    parameters = policies.get_policy(
        session, result["policy_version"], khr_per_usd=settings.khr_per_usd
    ).parameters
    figures = reason_figures(result, parameters, lang)
    return {
        "reasons": texts.reason_texts(result, figures, lang, gettext),
        "stress": [
            {**s, "label": texts.stress_label(s["scenario"], gettext)} for s in result.get("stress", [])
        ],
    }


def _household(session: Session, principal: Principal, household_id: str) -> dict[str, Any]:
    return lookups.as_json(HouseholdOut, registry.get_household(session, principal, household_id))


def _check_page(
    request: Request,
    session: Session,
    settings: Settings,
    principal: Principal,
    household_id: str,
    today,
    *,
    values: dict[str, Any],
    result: dict[str, Any] | None = None,
    errors: forms.FormErrors | None = None,
    status_code: int = 200,
):
    lang = language(request)
    recorded = AssessmentResult.model_validate(
        assessments.quick_assess(
            session,
            principal,
            AssessRequest(household_id=household_id, currency=values.get("currency") or "USD"),
            today,
            khr_per_usd=settings.khr_per_usd,
        )
    ).model_dump(mode="json")
    return render(
        request,
        "affordability.html",
        status_code=status_code,
        household=_household(session, principal, household_id),
        products=[p for p in lookups.products(session, principal)],
        frequencies=LOAN_FREQUENCIES,
        values=values,
        recorded=recorded,
        result=result,
        words=explained(session, settings, result, lang) if result else None,
        errors=errors or forms.FormErrors(),
    )


@router.get("/households/{household_id}/affordability")
def affordability_page(
    household_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    principal: Principal = page_for(*OFFICER_PAGES),
):
    return _check_page(request, session, settings, principal, household_id, today, values={})


def _loan_body(session: Session, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    """The currency of the chosen product when the form leaves it blank (as a recorded assessment
    does); a product the caller cannot see is left for the service to refuse."""
    product_id = body.get("loan", {}).get("product_id")
    if not body.get("currency") and product_id:
        with contextlib.suppress(DomainError):
            body["currency"] = registry.get_product(session, principal, product_id).currency
    return body


@router.post("/households/{household_id}/affordability")
async def check_affordability(
    household_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    principal: Principal = page_for(*OFFICER_PAGES),
):
    """action=check: POST /v1/affordability/assess with the household_id (nothing stored);
    action=record: POST /v1/households/{id}/assessments (stored, with its policy and inputs)."""
    form = await request.form()
    pairs = form.multi_items()
    values = dict(pairs)
    body = _loan_body(session, principal, forms.nested(pairs))
    registry.get_household(session, principal, household_id)  # 404 before anything else
    result, errors = None, forms.FormErrors()
    if form.get("action") == "record":
        request_body, errors = forms.parse(RecordedAssessRequest, body)
        if request_body is not None:
            try:
                stored = assessments.record_assessment(
                    session, principal, household_id, request_body, today, khr_per_usd=settings.khr_per_usd
                )  # type: ignore[arg-type]
            except DomainError as exc:
                errors = forms.from_domain(exc)
            else:
                flash(request, N_("Assessment recorded."))
                return RedirectResponse(
                    f"/ui/households/{household_id}#assessment-{stored.id}", status_code=303
                )
    else:
        request_body, errors = forms.parse(AssessRequest, {**body, "household_id": household_id})
        if request_body is not None:
            try:
                result = AssessmentResult.model_validate(
                    assessments.quick_assess(
                        session, principal, request_body, today, khr_per_usd=settings.khr_per_usd
                    )  # type: ignore[arg-type]
                ).model_dump(mode="json")
            except DomainError as exc:
                errors = forms.from_domain(exc)
    if errors:
        session.rollback()
    return _check_page(
        request,
        session,
        settings,
        principal,
        household_id,
        today,
        values=values,
        result=result,
        errors=errors,
        status_code=422 if errors else 200,
    )


# The financing plan ----------------------------------------------------------------------------


def _plan_page(
    request: Request,
    session: Session,
    settings: Settings,
    principal: Principal,
    household_id: str,
    *,
    values: dict[str, Any],
    result: dict[str, Any] | None = None,
    errors: forms.FormErrors | None = None,
    status_code: int = 200,
):
    lang = language(request)
    models = [lookups.as_json(HousingModelOut, housing.costed(session, m)) for m in housing.list_all(session)]
    products = lookups.products(session, principal)
    chosen = next((m for m in models if result and m["code"] == result["housing_model_code"]), None)
    return render(
        request,
        "financing_plan.html",
        status_code=status_code,
        household=_household(session, principal, household_id),
        models=models,
        model=chosen,
        cash_products=[p for p in products if p["lender_kind"] != "materials_bank"],
        materials_products=[p for p in products if p["lender_kind"] == "materials_bank"],
        values=values,
        result=result,
        words=explained(session, settings, result, lang) if result else None,
        errors=errors or forms.FormErrors(),
    )


@router.get("/households/{household_id}/financing-plan")
def financing_plan_page(
    household_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Principal = page_for(*OFFICER_PAGES),
):
    return _plan_page(request, session, settings, principal, household_id, values={})


@router.post("/households/{household_id}/financing-plan")
async def financing_plan(
    household_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    principal: Principal = page_for(*OFFICER_PAGES),
):
    """POST /v1/households/{id}/financing-plan with the form's fields (nothing stored)."""
    form = await request.form()
    pairs = form.multi_items()
    registry.get_household(session, principal, household_id)
    body, errors = forms.parse(FinancingPlanRequest, forms.nested(pairs))
    result = None
    if body is not None:
        try:
            result = FinancingPlanOut.model_validate(
                plan.financing_plan(
                    session,
                    principal,
                    household_id,
                    body,  # type: ignore[arg-type]
                    today,
                    khr_per_usd=settings.khr_per_usd,
                    grant_cap_usd=settings.grant_cap_usd,
                )
            ).model_dump(mode="json")
        except DomainError as exc:
            errors = forms.from_domain(exc)
    if errors:
        session.rollback()
    return _plan_page(
        request,
        session,
        settings,
        principal,
        household_id,
        values=dict(pairs),
        result=result,
        errors=errors,
        status_code=422 if errors else 200,
    )
