"""Reading loans: one loan, a page of loans, a schedule, each shaped from the ledger's figures,
so every endpoint says the same about a loan's money. A page costs a fixed number of statements."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from loansvc import affordability
from loansvc.audit.service import loan_history_page
from loansvc.auth.principal import Principal
from loansvc.config import Settings
from loansvc.db.models import Loan
from loansvc.db.query import bounded_count, page
from loansvc.domain.errors import InvalidInput, NotFound
from loansvc.domain.money import round_money
from loansvc.domain.rates import shown_percent
from loansvc.fields import CursorPage, Page, date_id_cursor
from loansvc.lending import reads
from loansvc.lending import repository as lending_repository
from loansvc.lending.access import get_visible
from loansvc.lending.figures import InstallmentView, Later, LoanFigures, installment_views
from loansvc.lending.terms import has_terms, terms_of
from loansvc.loans import repository
from loansvc.loans.disbursements import upfront_fees
from loansvc.loans.schemas import (
    HistoryEntryOut,
    InspectionOut,
    InstallmentOut,
    LoanOut,
    ScheduleFeesOut,
    ScheduleOut,
)

DEFAULT_EXACT_COUNT_LIMIT = Settings.model_fields["list_exact_count_limit"].default


def installment_out(view: InstallmentView) -> InstallmentOut:
    # built, not validated: the ledger's view already holds the field types (Decimals rounded to
    # the currency, a date, an int, one of the statuses); the JSON is the same
    return InstallmentOut.model_construct(
        number=view.number,
        due_date=view.due_date,
        principal=view.principal,
        interest=view.interest,
        fees=view.fees,
        total=view.total,
        balance=view.balance,
        penalty=view.penalty,
        paid_principal=view.paid_principal,
        paid_interest=view.paid_interest,
        paid_fees=view.paid_fees,
        paid_penalty=view.paid_penalty,
        status=view.status,
    )


def loan_out(loan: Loan, figures: LoanFigures, assessment: dict | None) -> LoanOut:
    # built, not validated (a page's 50 items cost their validation twice over): every value is
    # already its field's type, read from the row's typed columns or the ledger's figures
    return LoanOut.model_construct(
        id=loan.id,
        status=loan.status,
        household_id=loan.household_id,
        product_id=loan.product_id,
        lender_id=loan.lender_id,
        currency=loan.currency,
        amount=loan.amount,
        term=loan.term,
        purpose=loan.purpose,
        housing_model_code=loan.housing_model_code,
        first_repayment_date=loan.first_repayment_date,
        submitted_on=loan.submitted_on,
        submitted_by=loan.submitted_by,
        decided_on=loan.decided_on,
        decided_by=loan.decided_by,
        decision_note=loan.decision_note,
        override_reason=loan.override_reason,
        approved_amount=loan.approved_amount,
        apr_percent=None if loan.apr_percent is None else shown_percent(loan.apr_percent),
        eir_percent=None if loan.eir_percent is None else shown_percent(loan.eir_percent),
        terms=loan.terms if has_terms(loan) else None,
        disbursed_amount=figures.disbursed,
        principal_paid=figures.principal_paid,
        written_off_principal=figures.written_off_principal,
        outstanding_principal=figures.outstanding_principal,
        overdue_amount=figures.overdue_amount,
        days_past_due=figures.days_past_due,
        total_paid=figures.total_paid,
        credit_balance=figures.credit_balance,
        recovered_amount=figures.recovered_amount,
        next_installment=installment_out(figures.next_installment) if figures.next_installment else None,
        restructured=bool(loan.restructure_count),
        restructure_count=loan.restructure_count or 0,
        restructured_on=loan.restructured_on,
        classification=figures.arrears.classification if loan.status == "active" else None,
        assessment=assessment,
        created_at=loan.created_at,
    )


def _loan_outs(session: Session, principal: Principal, loans: list[Loan], today: date) -> list[LoanOut]:
    # the list item shows no schedule: the figures of the rows it depends on (reads.page_figures)
    figures = reads.page_figures(session, loans, today, today)
    assessments = repository.assessments(
        session, [loan.assessment_id for loan in loans if loan.assessment_id]
    )
    out = []
    for loan in loans:
        assessment = assessments.get(loan.assessment_id)
        view = affordability.assessment_view(assessment, principal) if assessment else None
        out.append(loan_out(loan, figures[loan.id], view))
    return out


def one(session: Session, principal: Principal, loan: Loan, today: date) -> LoanOut:
    return _loan_outs(session, principal, [loan], today)[0]


def get(session: Session, principal: Principal, loan_id: str, today: date) -> LoanOut:
    return one(session, principal, get_visible(session, principal, loan_id), today)


def loans_page(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    household_id: str | None,
    product_id: str | None,
    limit: int,
    offset: int,
    today: date,
    after: str | None = None,
    count: bool = False,
    exact_count_limit: int | None = DEFAULT_EXACT_COUNT_LIMIT,
) -> CursorPage[LoanOut]:
    """Four statements whatever the page's size or depth (the bounded count, the page's rows, their
    schedules, their assessments): see CursorPage. `after` continues after a page's last loan;
    `offset` then skips loans from there."""
    query = repository.loans_query(
        lender_id=principal.lender_scope, status=status, household_id=household_id, product_id=product_id
    )
    bound = None if count else exact_count_limit
    size = bounded_count(session, query, bound)
    listed = query if after is None else repository.after(query, *date_id_cursor(after))
    rows = repository.page_rows(session, listed, limit + 1, offset)  # one more: is there a next page?
    items, has_more = rows[:limit], len(rows) > limit
    return CursorPage[LoanOut].of(
        _loan_outs(session, principal, items, today),
        has_more=has_more,
        last_key=repository.sort_key(items[-1]) if items else None,
        counted=size,
        bound=bound,
        limit=limit,
        offset=offset,
    )


def schedule(
    session: Session,
    principal: Principal,
    loan_id: str,
    as_of: date | None,
    today: date,
    version: int | None = None,
) -> ScheduleOut:
    """The current schedule with what was paid on each installment as of a day (empty until the
    first disbursement); `version`: an earlier version, as it stood when it was replaced."""
    when = as_of or today
    if when > today:
        raise InvalidInput("as_of cannot be in the future", code="DATE_IN_FUTURE", field="as_of")
    loan = get_visible(session, principal, loan_id)
    if version is not None and version != loan.schedule_version:
        return _old_version(session, loan, version, when)
    figures = reads.figures(session, loan, when, today)
    return ScheduleOut(
        loan_id=loan.id,
        version=loan.schedule_version,
        currency=loan.currency,
        as_of=when,
        fees=_schedule_fees(session, loan, figures.installments, when),
        installments=[installment_out(v) for v in figures.installments],
    )


def _old_version(session: Session, loan: Loan, version: int, when: date) -> ScheduleOut:
    rows = lending_repository.installments(session, loan, version=version)
    if not rows:
        raise NotFound(f"loan {loan.id} has no schedule version {version}", code="VERSION_NOT_FOUND")
    terms = terms_of(loan) if has_terms(loan) else None
    views = installment_views(rows, when, Later(), terms, loan.currency)
    return ScheduleOut(
        loan_id=loan.id,
        version=version,
        currency=loan.currency,
        as_of=when,
        fees=_schedule_fees(session, loan, list(views), when),
        installments=[installment_out(v) for v in views],
    )


def _schedule_fees(
    session: Session, loan: Loan, installments: list[InstallmentView], when: date
) -> ScheduleFeesOut | None:
    """Where the fees are paid: upfront ones withheld from the disbursements (so far: by `when`),
    the others with each installment."""
    if not has_terms(loan):
        return None
    withheld = sum(
        (
            d.fees_withheld
            for d in lending_repository.disbursements(session, loan.id)
            if d.disbursed_on <= when
        ),
        Decimal(0),
    )
    upfront = upfront_fees(terms_of(loan), loan.approved_amount)
    per_installment = sum((i.fees for i in installments), Decimal(0))
    return ScheduleFeesOut(
        upfront=round_money(upfront, loan.currency),
        withheld=round_money(withheld, loan.currency),
        per_installment=round_money(per_installment, loan.currency),
        total=round_money(upfront + per_installment, loan.currency),
    )


def inspections(session: Session, principal: Principal, loan_id: str, limit: int, offset: int):
    loan = get_visible(session, principal, loan_id)
    items, total = page(session, repository.inspections_query(loan.id), limit, offset)
    return Page[InspectionOut](
        items=[InspectionOut.model_validate(i) for i in items], total=total, limit=limit, offset=offset
    )


def history(session: Session, principal: Principal, loan_id: str, limit: int, offset: int):
    loan = get_visible(session, principal, loan_id)
    items, total = loan_history_page(session, loan.id, limit, offset)
    return Page[HistoryEntryOut](
        items=[HistoryEntryOut.model_validate(e) for e in items], total=total, limit=limit, offset=offset
    )
