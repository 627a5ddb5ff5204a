"""What a loan still owes: principal disbursed less principal repaid (the payments' projection)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from loansvc.db.models import Loan


def outstanding_principal(session: Session, loan: Loan) -> Decimal:
    if loan.status == "written_off":
        return Decimal(0)
    return loan.disbursed_amount - loan.principal_repaid
