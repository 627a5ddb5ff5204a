"""The status machine: the one place a loan's status (and a write-off request's) changes.

Every allowed move is in `TRANSITIONS`; anything else is 409 ILLEGAL_TRANSITION with the loan's
current status in the problem.
"""

from __future__ import annotations

from datetime import date

from loansvc.domain.errors import Conflict

TRANSITIONS: dict[str, set[str]] = {
    "submitted": {"approved", "rejected", "withdrawn"},
    "approved": {"active", "withdrawn"},
    "active": {"closed", "written_off"},
    "closed": {"active"},  # a reversal reopened it
}

WRITE_OFF_TRANSITIONS: dict[str, set[str]] = {"pending": {"confirmed", "cancelled"}}


def illegal_transition(loan, message: str) -> Conflict:
    """409 ILLEGAL_TRANSITION, with the loan's current status in the problem details."""
    error = Conflict(message, code="ILLEGAL_TRANSITION")
    error.extra = {"current_status": loan.status}  # type: ignore[attr-defined]
    return error


def check_transition(loan, to: str) -> None:
    if to not in TRANSITIONS.get(loan.status, set()):
        raise illegal_transition(loan, f"a {loan.status} loan cannot become {to}")


def transition(loan, to: str, on: date | None = None) -> None:
    """Move `loan` to `to`, keeping the dates that go with the status."""
    check_transition(loan, to)
    was = loan.status
    loan.status = to
    if to == "active" and was == "approved":
        loan.first_disbursed_on = on
    elif to == "closed":
        loan.closed_on = on
    elif to == "active" and was == "closed":
        loan.closed_on = None
    elif to == "written_off":
        loan.written_off_on = on


def settle_write_off(request, to: str) -> None:
    """A write-off request is confirmed (by a second key) or cancelled."""
    if to not in WRITE_OFF_TRANSITIONS.get(request.status, set()):
        raise Conflict(f"a {request.status} write-off cannot become {to}", code="ILLEGAL_TRANSITION")
    request.status = to
