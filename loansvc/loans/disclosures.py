"""A loan's documents for the family: its repayment schedule and its key facts statement, filled
from the same reads as GET /v1/loans/{id} and GET /v1/loans/{id}/schedule (same access rules:
another lender's loan is 404 to a partner).

A loan not yet disbursed has no schedule in the ledger: its documents show the projection the
loan was priced on (the whole amount disbursed on the submission day, the contract's terms, or the
product's before approval), beside the loan's own APR and EIR.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from loansvc.auth.principal import Principal
from loansvc.db.models import Lender, Loan, Product
from loansvc.documents import FeeTerm, KeyFacts, Row, ScheduleDoc
from loansvc.domain.schedule import simulate
from loansvc.lending.access import get_visible
from loansvc.lending.terms import LoanTerms, freeze, has_terms, terms_of
from loansvc.loans import views
from loansvc.loans.schemas import ScheduleOut


@dataclass(frozen=True)
class DocumentSettings:
    """What the documents print from the settings."""

    complaints_hotline: str = ""
    title_return_days: int | None = None
    rate_cap_percent: Decimal | None = None  # a loan whose shown APR is above it says so


def _contract(session: Session, loan: Loan) -> LoanTerms:
    """The frozen terms; before approval, the terms the product would give the application."""
    if has_terms(loan):
        return terms_of(loan)
    return freeze(session.get(Product, loan.product_id), loan, loan.amount)


def _sum(values) -> Decimal:
    return sum(values, Decimal(0))


def _from_ledger(schedule: ScheduleOut) -> dict:
    rows = tuple(
        Row(i.number, i.due_date, i.principal, i.interest, i.fees, i.total, i.balance, i.status)
        for i in schedule.installments
    )
    upfront = schedule.fees.upfront if schedule.fees is not None else Decimal(0)
    return {
        "rows": rows,
        "total_principal": _sum(r.principal for r in rows),
        "total_interest": _sum(r.interest for r in rows),
        "total_fees": schedule.fees.total if schedule.fees is not None else _sum(r.fees for r in rows),
        "total_paid": _sum(r.total for r in rows) + upfront,
        "upfront_fees": upfront,
    }


def _projected(loan: Loan, contract: LoanTerms) -> dict:
    amount = loan.approved_amount or loan.amount
    sim = simulate(contract.schedule_terms(amount, loan.submitted_on))
    s = sim.schedule
    return {
        "rows": tuple(
            Row(i.number, i.due_date, i.principal, i.interest, i.fees, i.total, i.balance)
            for i in s.installments
        ),
        "total_principal": s.total_principal,
        "total_interest": s.total_interest,
        "total_fees": s.total_fees,
        "total_paid": s.total,
        "upfront_fees": s.upfront_fees,
        "projected_from": loan.submitted_on,
    }


def _document(
    session: Session,
    principal: Principal,
    loan_id: str,
    today: date,
    as_of: date | None,
    rate_cap_percent: Decimal | None,
) -> tuple[ScheduleDoc, LoanTerms]:
    schedule = views.schedule(session, principal, loan_id, as_of, today)  # 404 / 422 as the JSON
    loan = get_visible(session, principal, loan_id)
    out = views.one(session, principal, loan, today)
    contract = _contract(session, loan)
    figures = _from_ledger(schedule) if schedule.installments else _projected(loan, contract)
    # the approval's own rule: the APR as shown, against the cap (an approval above it was acknowledged)
    above_cap = None not in (out.apr_percent, rate_cap_percent) and out.apr_percent > rate_cap_percent
    doc = ScheduleDoc(
        kind="loan",
        currency=out.currency,
        issued_on=schedule.as_of,
        apr_percent=out.apr_percent,
        eir_percent=out.eir_percent,
        principal=out.approved_amount or out.amount,
        term=out.term,
        frequency=contract.frequency.value,
        annual_rate_percent=contract.annual_rate_percent,
        interest_method=contract.interest_method.value,
        loan_id=out.id,
        lender_name=session.get(Lender, out.lender_id).name,
        warnings=("APR_ABOVE_CAP",) if above_cap else (),
        rate_cap_percent=rate_cap_percent,
        **figures,
    )
    return doc, contract


def schedule_document(
    session: Session,
    principal: Principal,
    loan_id: str,
    today: date,
    as_of: date | None = None,
    settings: DocumentSettings | None = None,
) -> ScheduleDoc:
    cap = settings.rate_cap_percent if settings else None
    return _document(session, principal, loan_id, today, as_of, cap)[0]


def key_facts(
    session: Session, principal: Principal, loan_id: str, today: date, settings: DocumentSettings
) -> KeyFacts:
    doc, contract = _document(session, principal, loan_id, today, None, settings.rate_cap_percent)
    return KeyFacts(
        schedule=doc,
        fees=tuple(FeeTerm(f.name, f.timing.value, f.amount, f.percent) for f in contract.fees),
        late_fee=contract.late_fee,
        late_fee_after_days=contract.late_fee_after_days,
        title_return_days=settings.title_return_days,
        complaints_hotline=settings.complaints_hotline,
        allocation_order=tuple(c.value for c in contract.allocation_order),
    )


def document_settings(settings) -> DocumentSettings:
    """What the documents take from the app's settings (`loansvc.config.Settings`)."""
    return DocumentSettings(
        complaints_hotline=settings.complaints_hotline,
        title_return_days=settings.title_return_days,
        rate_cap_percent=settings.rate_cap_percent,
    )
