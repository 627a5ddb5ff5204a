"""The holiday calendar a loan's due dates follow: the programme's holidays and its lender's, the
lender's non-working weekdays, and the rule frozen in its terms.

A holiday moves due dates only if it was entered before it came: one entered on or after its own
date (a correction after the fact) moves nothing, so a schedule rebuilt later gives the dates the
family was told, and days past due never change in the past.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from loansvc.db.models import Holiday, Lender
from loansvc.domain.dates import Calendar
from loansvc.lending.terms import terms_of


def calendar_for(session: Session, lender_id: str, rule: str) -> Calendar:
    query = select(Holiday.date).where(
        or_(Holiday.lender_id.is_(None), Holiday.lender_id == lender_id), Holiday.added_on < Holiday.date
    )
    holidays = frozenset(session.scalars(query))
    weekdays = session.scalar(select(Lender.non_working_weekdays).where(Lender.id == lender_id)) or []
    return Calendar(holidays=holidays, weekdays=frozenset(int(d) for d in weekdays), rule=rule)


def loan_calendar(session: Session, loan) -> Calendar:
    return calendar_for(session, loan.lender_id, terms_of(loan).holiday_rule)
