"""What a loan still owes. Until repayments are recorded, every disbursed amount is outstanding."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from loansvc.db.models import Loan


def outstanding_principal(session: Session, loan: Loan) -> Decimal:
    return loan.disbursed_amount
