"""What every loan use case checks first: the loan the caller may see, dates in their order, who
collects on a loan, and the loan's state for the history log."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from loansvc.auth.principal import Principal
from loansvc.db.models import Lender, Loan
from loansvc.domain.errors import Forbidden, InvalidInput, NotFound
from loansvc.domain.money import round_money
from loansvc.lending import repository


def get_visible(session: Session, principal: Principal, loan_id: str, *, lock: bool = False) -> Loan:
    """The loan, if the caller may see it (a partner: its own lender's only); 404 otherwise."""
    loan = repository.get(session, loan_id, lender_id=principal.lender_scope, lock=lock)
    if loan is None:
        raise NotFound(f"no loan {loan_id}", code="LOAN_NOT_FOUND")
    return loan


def check_date(
    value: date, *, today: date, not_before: date | None, field: str, step: str = "the step before"
) -> None:
    if value > today:
        raise InvalidInput(f"{field} {value} is in the future", code="DATE_IN_FUTURE", field=field)
    if not_before is not None and value < not_before:
        raise InvalidInput(
            f"{field} {value} is before {step} ({not_before})", code="DATE_BEFORE_PREVIOUS_STEP", field=field
        )


def check_collector(session: Session, principal: Principal, loan: Loan) -> None:
    """Partners collect on their own loans; loan officers on materials-bank loans."""
    if principal.is_admin:
        return
    lender = session.get(Lender, loan.lender_id)
    if lender.kind == "materials_bank" and principal.role != "loan_officer":
        raise Forbidden("materials-bank repayments are recorded by a loan officer", code="ROLE_NOT_ALLOWED")
    if lender.kind != "materials_bank" and principal.role != "partner":
        raise Forbidden("a partner MFI records repayments on its own loans", code="ROLE_NOT_ALLOWED")


def snapshot(loan: Loan) -> dict[str, Any]:
    """The loan's state for the history log, in the minor unit so it reads alike after a round trip."""

    def amount(value) -> str | None:
        return None if value is None else str(round_money(value, loan.currency))

    return {
        "status": loan.status,
        "amount": amount(loan.amount),
        "approved_amount": amount(loan.approved_amount),
        "disbursed_amount": amount(loan.disbursed_amount),
        "principal_repaid": amount(loan.principal_repaid),
        "schedule_version": loan.schedule_version,
    }
