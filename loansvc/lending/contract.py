"""The schedule a loan's contract gives for the disbursements made so far, on its calendar."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from loansvc.domain.dates import NO_CALENDAR, Calendar
from loansvc.domain.errors import Conflict
from loansvc.domain.schedule import InterestCalculation, Schedule, Tranche, build_schedule, due_dates
from loansvc.lending.terms import terms_of


def schedule_for(
    loan, disbursements: list[tuple[date, Decimal]], calendar: Calendar = NO_CALENDAR
) -> Schedule:
    """The schedule of the disbursements so far: the first is the principal, the rest are tranches.

    With per-period interest a tranche dated between due dates joins at the next due date and
    accrues nothing before it; with daily interest it accrues from its own date.
    """
    terms = terms_of(loan)
    (first_on, first_amount), later = disbursements[0], disbursements[1:]
    base = terms.schedule_terms(first_amount, first_on, calendar=calendar)
    dues = due_dates(base)
    tranches = []
    for when, amount in later:
        if base.interest_calculation is InterestCalculation.PER_PERIOD and when != first_on:
            joins = next((d for d in dues if d >= when), None)
            if joins is None or joins == dues[-1]:
                raise Conflict(
                    "the loan has no installment left to carry this tranche", code="TRANCHE_AFTER_MATURITY"
                )
            when = joins
        elif when >= dues[-1]:
            raise Conflict(
                "the loan has no installment left to carry this tranche", code="TRANCHE_AFTER_MATURITY"
            )
        tranches.append(Tranche(date=when, amount=amount))
    return build_schedule(terms.schedule_terms(first_amount, first_on, tuple(tranches), calendar))
