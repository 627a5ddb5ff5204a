"""What a family's approved or active loans commit it to pay, for the affordability check: per
loan, the larger of the largest installment still to come and the largest installment its whole
approval promises (a loan partly disbursed will grow to its approved amount)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from loansvc.db.models import Loan
from loansvc.domain.schedule import Frequency, build_schedule
from loansvc.lending import reads
from loansvc.lending.terms import terms_of


@dataclass(frozen=True)
class Commitment:
    loan_id: str
    lender_id: str
    currency: str
    installment: Decimal
    frequency: Frequency


def commitments(session: Session, loans: Sequence[Loan], as_of: date) -> list[Commitment]:
    """Each loan's installment commitment; a loan already paid ahead to the end commits nothing."""
    figures = reads.figures_for(session, loans, as_of, as_of)
    out = []
    for loan in loans:
        terms = terms_of(loan)
        to_come = [v.total for v in figures[loan.id].installments if v.remaining > 0]
        if not to_come and loan.disbursed_amount >= loan.approved_amount:
            continue
        start = loan.first_disbursed_on or loan.decided_on or loan.submitted_on
        promised = build_schedule(terms.schedule_terms(loan.approved_amount, start))
        largest = max([*to_come, max(i.total for i in promised.installments)])
        out.append(Commitment(loan.id, loan.lender_id, loan.currency, largest, terms.frequency))
    return out
