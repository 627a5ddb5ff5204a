"""The ledger's figures for one loan or a page of loans, in a fixed number of statements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from loansvc.db.models import Loan
from loansvc.domain.arrears import DEFAULT_ARREARS_POLICY, aging_bucket, classify
from loansvc.domain.money import round_money
from loansvc.lending import repository
from loansvc.lending.figures import ZERO, LoanFigures, loan_figures, term_months_of
from loansvc.lending.terms import LoanTerms, has_terms, terms_of


def figures_for(session: Session, loans: Sequence[Loan], as_of: date, today: date) -> dict[str, LoanFigures]:
    """Each loan's figures as of `as_of`: one statement for the schedules, and three more for the
    movements after as_of when it is in the past (nothing can be dated after today)."""
    rows = repository.installments_of(session, loans)
    later = repository.later_movements(session, [loan.id for loan in loans], as_of) if as_of < today else {}
    return {loan.id: loan_figures(loan, rows[loan.id], as_of, later.get(loan.id)) for loan in loans}


def figures(session: Session, loan: Loan, as_of: date, today: date) -> LoanFigures:
    return figures_for(session, [loan], as_of, today)[loan.id]


def _untouched_after(row, as_of: date) -> bool:
    """Due after as_of with nothing paid on it and no late fee: as of as_of it owes nothing yet
    (late_fee_as_of is 0 before its due date) and adds nothing paid."""
    return (
        row.due_date > as_of
        and row.penalty == ZERO
        and row.paid_principal == ZERO
        and row.paid_interest == ZERO
        and row.paid_fees == ZERO
        and row.paid_penalty == ZERO
    )


def _rows_that_count(loan: Loan, rows: Sequence, as_of: date) -> Sequence:
    """The rows a list item's figures depend on, in their order: all but the installments due after
    as_of untouched (nothing paid, no late fee) that come after the first such one owing something.
    Each installment's view is its own row's (figures.installment_views); an untouched one due
    later is never late (arrears), adds nothing to what was paid (total_paid, principal paid) and
    is never the next installment once an earlier one still owes something (the first with
    something left). A restructured loan's watch (figures.on_watch) reads the new schedule's rows:
    it keeps them all."""
    if loan.restructured_on is not None:
        return rows
    kept, owing_later = [], False
    for row in rows:
        if _untouched_after(row, as_of):
            if owing_later:
                continue
            # the first untouched one that owes something (a 0 % grace installment owes nothing)
            owing_later = round_money(row.total, loan.currency) > ZERO
        kept.append(row)
    return kept


def page_figures(session: Session, loans: Sequence[Loan], as_of: date, today: date) -> dict[str, LoanFigures]:
    """A list page's figures: `figures_for`'s, but for the schedule (`installments` is empty), in the
    same statements. Every other figure is the same (tests/api/test_page_figures.py checks it on
    every loan of its book): only the rows they depend on are read by the ledger (see
    `_rows_that_count`), so a young loan's page costs its due installments, not its whole term.
    The database leaves out most of the others (repository.page_installments_of); a session
    holding changes not yet flushed reads the ORM rows, as `figures_for` does."""
    if session.new or session.dirty or session.deleted:
        rows = repository.installments_of(session, loans)
    else:
        rows = repository.page_installments_of(session, loans, as_of)
    later = repository.later_movements(session, [loan.id for loan in loans], as_of) if as_of < today else {}
    out = {}
    for loan in loans:
        counted = _rows_that_count(loan, rows[loan.id], as_of)
        out[loan.id] = replace(loan_figures(loan, counted, as_of, later.get(loan.id)), installments=())
    return out


@dataclass(frozen=True)
class LateFigures:
    """What a visit list shows of a loan's arrears: the ledger's figures, as LoanFigures has them."""

    days_past_due: int
    overdue_amount: Decimal
    outstanding_principal: Decimal
    bucket: str
    classification: str

    @classmethod
    def of(cls, figures: LoanFigures) -> LateFigures:
        arrears = figures.arrears
        return cls(
            arrears.days_past_due,
            arrears.overdue_amount,
            figures.outstanding_principal,
            arrears.bucket,
            arrears.classification,
        )


def _terms(loan: Loan) -> LoanTerms | None:
    return terms_of(loan) if has_terms(loan) else None


def _position_holds(loan: Loan, terms: LoanTerms | None, as_of: date, today: date) -> bool:
    """Whether the position stored on the loan's row gives its figures as of `as_of` (today):
    an active loan, neither restructured (its watch reads the new schedule) nor under terms with
    a late fee (the ledger shows a fee from the day it applies, before a payment charges it),
    positioned on or before as_of with no open installment falling due from then to before
    as_of (lending.positions._stale: what it owed late then, it owes late now)."""
    if as_of != today or loan.status != "active" or loan.restructured_on is not None:
        return False
    if loan.position_as_of is None or loan.position_as_of > as_of:
        return False
    if loan.next_due_on is not None and loan.next_due_on < as_of:
        return False
    return not (terms and terms.late_fee)


def _from_position(loan: Loan, terms: LoanTerms | None, as_of: date) -> LateFigures:
    currency = loan.currency
    late = loan.oldest_due_on is not None and loan.oldest_due_on < as_of
    dpd = (as_of - loan.oldest_due_on).days if late else 0
    overdue = loan.principal_overdue + loan.interest_overdue + loan.fees_overdue
    return LateFigures(
        days_past_due=dpd,
        overdue_amount=round_money(overdue, currency),
        outstanding_principal=round_money(max(loan.outstanding_principal, ZERO), currency),
        bucket=aging_bucket(dpd),
        classification=classify(dpd, term_months_of(loan, terms), DEFAULT_ARREARS_POLICY),
    )


def late_figures(session: Session, loans: Sequence[Loan], as_of: date, today: date) -> dict[str, LateFigures]:
    """A visit list's figures of each loan (days past due, overdue, outstanding principal, bucket,
    class), the same as `page_figures`' (tests/api/test_late_figures.py checks it on every loan
    of its book, positioned or not): from the position the ledger keeps on the loan's row where
    it holds as of `as_of` (`_position_holds`: every ordinary active loan after the night's
    refresh, no installment read), else from `page_figures`, in its statements, for the others."""
    clean = not (session.new or session.dirty or session.deleted)
    terms = {loan.id: _terms(loan) for loan in loans}
    held = {loan.id for loan in loans if clean and _position_holds(loan, terms[loan.id], as_of, today)}
    rest = page_figures(session, [loan for loan in loans if loan.id not in held], as_of, today)
    return {
        loan.id: _from_position(loan, terms[loan.id], as_of)
        if loan.id in held
        else LateFigures.of(rest[loan.id])
        for loan in loans
    }
