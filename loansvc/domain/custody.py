"""Client protection rules that need no database: what a lender may hold as collateral and when
it must give it back, a family's promise to pay, and the moves of a complaint.

Collateral. ID cards and IDPoor cards are never collateral (2024 industry code). A held item's
status follows from three dates: `held` while its loan is open, `due_for_return` from the day the
loan closes (the date of the payment that closed it) through `closed_on + return_days`, `overdue`
from the day after (day 31 after closed_on with the default 30), `released` once given back.

Promise. A family promises `amount` by `due_on` at a contact. Payments dated from the contact day
to `due_on` (inclusive) count toward it. It is `kept` as soon as they reach the amount, `open` while
they do not and its day has not passed, `broken` from the day after `due_on` when they did not.

Complaint. open -> in_progress -> resolved | rejected; nothing else.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

COLLATERAL_KINDS = ("land_title", "movable", "guarantor")
FORBIDDEN_COLLATERAL = ("id_card", "idpoor_card")
COLLATERAL_STATUSES = ("held", "due_for_return", "overdue", "released")
DEFAULT_TITLE_RETURN_DAYS = 30

PROMISE_STATES = ("open", "kept", "broken")

COMPLAINT_STATUSES = ("open", "in_progress", "resolved", "rejected")
COMPLAINT_MOVES: dict[str, tuple[str, ...]] = {
    "open": ("in_progress",),
    "in_progress": ("resolved", "rejected"),
}
COMPLAINT_CLOSED = ("resolved", "rejected")


def return_deadline(closed_on: date, return_days: int) -> date:
    """The last day a closed loan's collateral may still be held without being overdue."""
    return closed_on + timedelta(days=return_days)


def collateral_status(
    *, released_on: date | None, closed_on: date | None, as_of: date, return_days: int
) -> str:
    """The status at `as_of` of an item received on or before it (`closed_on`: the loan's)."""
    if released_on is not None and released_on <= as_of:
        return "released"
    if closed_on is None or closed_on > as_of:
        return "held"
    return "overdue" if as_of > return_deadline(closed_on, return_days) else "due_for_return"


def days_since_closure(closed_on: date | None, as_of: date) -> int | None:
    return None if closed_on is None or closed_on > as_of else (as_of - closed_on).days


def promise_state(*, amount: Decimal, due_on: date, paid: Decimal, as_of: date) -> str:
    """`paid`: the payments from the contact day to min(due_on, as_of), reversed ones left out."""
    if paid >= amount:
        return "kept"
    return "open" if as_of <= due_on else "broken"


def complaint_move_allowed(current: str, to: str) -> bool:
    return to in COMPLAINT_MOVES.get(current, ())


def median(values: list[int]) -> Decimal | None:
    """The median of whole numbers of days, exact (the mean of the two middle ones when even)."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return Decimal(ordered[middle])
    return (Decimal(ordered[middle - 1]) + Decimal(ordered[middle])) / 2
