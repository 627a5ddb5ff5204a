"""The ledger's figures for one loan or a page of loans, in a fixed number of statements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy.orm import Session

from loansvc.db.models import Loan
from loansvc.lending import repository
from loansvc.lending.figures import LoanFigures, loan_figures


def figures_for(session: Session, loans: Sequence[Loan], as_of: date, today: date) -> dict[str, LoanFigures]:
    """Each loan's figures as of `as_of`: one statement for the schedules, and three more for the
    movements after as_of when it is in the past (nothing can be dated after today)."""
    rows = repository.installments_of(session, loans)
    later = repository.later_movements(session, [loan.id for loan in loans], as_of) if as_of < today else {}
    return {loan.id: loan_figures(loan, rows[loan.id], as_of, later.get(loan.id)) for loan in loans}


def figures(session: Session, loan: Loan, as_of: date, today: date) -> LoanFigures:
    return figures_for(session, [loan], as_of, today)[loan.id]
