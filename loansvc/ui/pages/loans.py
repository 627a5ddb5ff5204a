"""A loan on one page: its terms and true cost, each installment with its status, the stages with
their disbursements and inspections, the repayments. The services of GET /v1/loans/{id},
/schedule, /milestones and /repayments, for every role that reads loans (a partner: its own
lender's loans only, others are 404). A finance lead sees no name, phone or parcel."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import Query, Request

from loansvc import documents
from loansvc.auth.principal import Principal
from loansvc.domain.errors import NotFound
from loansvc.loans import disclosures, stages, views
from loansvc.registry import service as registry
from loansvc.registry.schemas import HouseholdOut
from loansvc.repayments import service as repayments
from loansvc.ui import lookups
from loansvc.ui.pages.base import page_router
from loansvc.ui.web import language, page_for, render
from loansvc.web.deps import ALL_ROLES, SessionDep, SettingsDep, TodayDep
from loansvc.web.pdf import DocumentLang, pdf_response

router = page_router()
MANY = 500


@router.get("/loans/{loan_id}")
def loan_page(
    loan_id: str,
    request: Request,
    session: SessionDep,
    today: TodayDep,
    principal: Principal = page_for(*ALL_ROLES),
):
    loan = views.get(session, principal, loan_id, today).model_dump(mode="json")
    schedule = views.schedule(session, principal, loan_id, None, today).model_dump(mode="json")
    milestones = stages.milestones_page(session, principal, loan_id, MANY, 0).model_dump(mode="json")
    paid = repayments.list_repayments(session, principal, loan_id, MANY, 0, today).model_dump(mode="json")
    household = None
    if principal.role != "finance_lead":  # never a family's name or phone for finance leads
        try:
            household = lookups.as_json(
                HouseholdOut, registry.get_household(session, principal, loan["household_id"])
            )
        except NotFound:  # a partner whose consent was withdrawn still sees its own loan
            household = None
    try:
        product = lookups.as_json(
            lookups.ProductOut, registry.get_product(session, principal, loan["product_id"])
        )
    except NotFound:
        product = None
    installments = schedule["installments"]
    # the table's footer: the columns added up (the schedule's own figures, nothing recomputed)
    totals = {
        key: str(sum((Decimal(i[key]) for i in installments), Decimal(0)))
        for key in ("principal", "interest", "fees", "total")
    }
    return render(
        request,
        "loan.html",
        loan=loan,
        schedule=schedule,
        totals=totals,
        milestones=milestones["items"],
        repayments=paid["items"],
        household=household,
        product=product,
        lender=lookups.lenders(session).get(loan["lender_id"]),
        can_issue=principal.role in ("loan_officer", "admin"),
        documents=document_links(loan_id),
    )


LangParam = Annotated[DocumentLang | None, Query(description="km or en; default: the page's language")]


@router.get("/loans/{loan_id}/schedule.pdf")
def schedule_pdf(
    loan_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    lang: LangParam = None,
    principal: Principal = page_for(*ALL_ROLES),
):
    """GET /v1/loans/{id}/schedule.pdf, for a browser that signed in (a link cannot send a key)."""
    lang = lang or language(request)
    doc = disclosures.schedule_document(
        session, principal, loan_id, today, None, disclosures.document_settings(settings)
    )
    return pdf_response(documents.schedule_pdf(doc, lang), f"loan-{doc.loan_id}-schedule-{lang}.pdf")


@router.get("/loans/{loan_id}/key-facts.pdf")
def key_facts_pdf(
    loan_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    lang: LangParam = None,
    principal: Principal = page_for(*ALL_ROLES),
):
    """GET /v1/loans/{id}/key-facts.pdf?lang=, for a browser that signed in."""
    lang = lang or language(request)
    facts = disclosures.key_facts(session, principal, loan_id, today, disclosures.document_settings(settings))
    filename = f"loan-{facts.schedule.loan_id}-key-facts-{lang}.pdf"
    return pdf_response(documents.key_facts_pdf(facts, lang), filename)


def document_links(loan_id: str) -> dict[str, str]:
    return {
        "schedule": f"/ui/loans/{loan_id}/schedule.pdf",
        "key_facts": f"/ui/loans/{loan_id}/key-facts.pdf",
    }
