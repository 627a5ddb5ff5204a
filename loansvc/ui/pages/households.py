"""Households: the search (name, parcel, title, phone) and list by site, the household on one
screen, and editing its incomes and expenses. Same services, roles and scope as
/v1/households: officers and partners (a partner sees the families that consented to share their
file with its lender); only officers edit; finance leads never open these pages (404)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from loansvc.affordability import assessments
from loansvc.affordability.schemas import StoredAssessmentOut
from loansvc.auth.principal import Principal
from loansvc.domain.errors import DomainError
from loansvc.loans import views
from loansvc.registry import service as registry
from loansvc.registry.schemas import HouseholdOut, HouseholdPatch
from loansvc.ui import forms, lookups
from loansvc.ui.pages.base import page_router
from loansvc.ui.texts import N_
from loansvc.ui.web import OFFICER_PAGES, flash, page_for, render
from loansvc.web.deps import SessionDep, TodayDep

router = page_router()
PAGE = 50
INCOME_FREQUENCIES = ("monthly", "daily", "weekly", "biweekly", "every_4_weeks", "quarterly", "yearly")
CURRENCIES = ("USD", "KHR")
BLANK_ROWS = 2


@router.get("/households")
def households_page(
    request: Request,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    site_id: Annotated[str | None, Query(max_length=36)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    principal: Principal = page_for(*OFFICER_PAGES),
):
    sites = lookups.sites(session)
    site = site_id or None
    items, total = registry.list_households(session, principal, site, PAGE, offset, q=q)
    rows = [lookups.as_json(HouseholdOut, h) for h in items]
    by_site: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_site.setdefault(row["site_id"], []).append(row)
    return render(
        request,
        "households.html",
        q=q or "",
        site_id=site or "",
        sites=sites,
        site_options=[(s["id"], s["name"]) for s in sites.values()],
        by_site=by_site,
        total=total,
        offset=offset,
        page_size=PAGE,
    )


def household_context(session: Session, principal: Principal, household_id: str, today) -> dict[str, Any]:
    """The household and what the one-screen page shows beside it (loans with every lender the
    caller may see, the latest assessments), as the API's JSON."""
    household = lookups.as_json(HouseholdOut, registry.get_household(session, principal, household_id))
    loans = views.loans_page(
        session,
        principal,
        status=None,
        household_id=household_id,
        product_id=None,
        limit=100,
        offset=0,
        today=today,
    )
    products = {p["id"]: p for p in lookups.products(session, principal)}
    latest, _ = assessments.list_assessments(session, principal, household_id, 5, 0)
    return {
        "household": household,
        "site": lookups.sites(session).get(household["site_id"]),
        "lenders": lookups.lenders(session),
        "products": products,
        "loans": [loan.model_dump(mode="json") for loan in loans.items],
        "assessments": [
            StoredAssessmentOut(
                id=a.id,
                household_id=a.household_id,
                lender_id=a.lender_id,
                product_id=a.product_id,
                policy_version=a.policy_version,
                decision=a.decision,
                result=a.result,
                inputs=None,
                created_by=a.created_by,
                created_at=a.created_at,
            ).model_dump(mode="json")
            for a in latest
        ],
    }


ROW_FIELDS = {
    "incomes": ("source", "amount", "frequency", "currency"),
    "expenses": ("category", "amount", "frequency", "currency"),
}


def _finance_rows(household: dict[str, Any], key: str) -> list[dict[str, Any]]:
    blank = dict.fromkeys(ROW_FIELDS[key], "")
    return [*({**blank, **row} for row in household[key]), *(dict(blank) for _ in range(BLANK_ROWS))]


def _household_page(
    request: Request, session: Session, principal: Principal, household_id: str, today, **extra: Any
):
    context = household_context(session, principal, household_id, today)
    household = context["household"]
    return render(
        request,
        "household.html",
        **context,
        can_edit=principal.role in ("loan_officer", "admin"),
        income_rows=extra.pop("income_rows", None) or _finance_rows(household, "incomes"),
        expense_rows=extra.pop("expense_rows", None) or _finance_rows(household, "expenses"),
        frequencies=INCOME_FREQUENCIES,
        currencies=CURRENCIES,
        errors=extra.pop("errors", forms.FormErrors()),
        **extra,
    )


def _typed_rows(pairs, key: str) -> list[dict[str, Any]] | None:
    blank = dict.fromkeys(ROW_FIELDS[key], "")
    return [{**blank, **row} for row in forms.raw_rows(pairs, key)] or None


@router.get("/households/{household_id}")
def household_page(
    household_id: str,
    request: Request,
    session: SessionDep,
    today: TodayDep,
    principal: Principal = page_for(*OFFICER_PAGES),
):
    return _household_page(request, session, principal, household_id, today)


@router.post("/households/{household_id}/finances")
async def edit_finances(
    household_id: str,
    request: Request,
    session: SessionDep,
    today: TodayDep,
    principal: Principal = page_for("loan_officer"),
):
    """PATCH /v1/households/{id} with the incomes and expenses of the form (the lists replace the
    recorded ones; a row left blank is removed)."""
    form = await request.form()
    body = forms.nested(form.multi_items())
    body = {key: body.get(key, []) for key in ("incomes", "expenses")}
    patch, errors = forms.parse(HouseholdPatch, body)
    if patch is not None:
        try:
            registry.patch_household(session, principal, household_id, patch)  # type: ignore[arg-type]
        except DomainError as exc:
            errors = forms.from_domain(exc)
    if errors:
        session.rollback()
        pairs = form.multi_items()
        return _household_page(
            request,
            session,
            principal,
            household_id,
            today,
            errors=errors,
            income_rows=_typed_rows(pairs, "incomes"),
            expense_rows=_typed_rows(pairs, "expenses"),
            status_code=422,
        )
    flash(request, N_("Incomes and expenses saved."))
    return RedirectResponse(f"/ui/households/{household_id}#finances", status_code=303)
