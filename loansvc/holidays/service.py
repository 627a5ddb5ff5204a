"""The holiday calendar: adding or removing a holiday, or changing a lender's working days, moves
the future due dates of the active loans it touches (one new schedule version per loan, in the
same transaction, recorded in each loan's history). A holiday entered on or after its own date
moves nothing: it is kept for the record. `seed` fills Cambodia's public holidays from the
`holidays` package (it knows the lunar ones); admins correct them to each year's royal decree."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loansvc.audit.service import record as audit
from loansvc.auth.principal import Principal
from loansvc.db.models import Holiday, Lender, Loan, ScheduledInstallment
from loansvc.db.query import page
from loansvc.domain.errors import Conflict, InvalidInput, NotFound
from loansvc.fields import Page
from loansvc.holidays.schemas import HolidayCreate, HolidayOut, WorkingDaysOut
from loansvc.lending import ledger
from loansvc.lending import repository as lending_repository
from loansvc.lending.access import snapshot
from loansvc.lending.calendar import loan_calendar
from loansvc.lending.contract import schedule_for

SI = ScheduledInstallment


def _touched(session: Session, lender_id: str | None, around: date | None) -> list[str]:
    """Active loans (of one lender, or all) with a current installment due near `around` (all of
    them when None), in id order: the order rows are locked in."""
    query = (
        select(Loan.id)
        .join(SI, and_(SI.loan_id == Loan.id, SI.version == Loan.schedule_version))
        .where(Loan.status == "active")
        .distinct()
        .order_by(Loan.id)
    )
    if lender_id is not None:
        query = query.where(Loan.lender_id == lender_id)
    if around is not None:
        query = query.where(SI.due_date.between(around - timedelta(days=31), around + timedelta(days=31)))
    return list(session.scalars(query))


def _move_loans(session: Session, principal: Principal, loan_ids: list[str], today: date, why: str) -> int:
    moved = 0
    for loan_id in loan_ids:
        loan = lending_repository.get(session, loan_id, lock=True)
        before = snapshot(loan)
        history = [(d.disbursed_on, d.amount) for d in lending_repository.disbursements(session, loan.id)]
        if not history:
            continue
        calendar = loan_calendar(session, loan)
        if ledger.follow_calendar(
            session, loan, calendar, today, lambda cal, h=history, ln=loan: schedule_for(ln, h, cal)
        ):
            moved += 1
            audit(
                session,
                principal,
                entity_type="loan",
                entity_id=loan.id,
                loan_id=loan.id,
                action="due_dates_moved",
                before=before,
                after=snapshot(loan) | {"reason": why},
            )
    return moved


def _check_lender(session: Session, lender_id: str | None) -> None:
    if lender_id is not None and session.get(Lender, lender_id) is None:
        raise InvalidInput(f"no lender {lender_id}", code="UNKNOWN_LENDER", field="lender_id")


def out(h: Holiday, moved: int = 0) -> HolidayOut:
    return HolidayOut(
        id=h.id,
        date=h.date,
        name=h.name,
        lender_id=h.lender_id,
        added_on=h.added_on,
        created_by=h.created_by,
        created_at=h.created_at,
        moved_loans=moved,
    )


def _exists(session: Session, day: date, lender_id: str | None) -> bool:
    same_lender = Holiday.lender_id.is_(None) if lender_id is None else Holiday.lender_id == lender_id
    return session.scalar(select(Holiday.id).where(Holiday.date == day, same_lender)) is not None


def add(session: Session, principal: Principal, body: HolidayCreate, today: date) -> HolidayOut:
    _check_lender(session, body.lender_id)
    if _exists(session, body.date, body.lender_id):
        raise Conflict(f"{body.date} is already a holiday", code="HOLIDAY_EXISTS")
    holiday = Holiday(
        date=body.date, name=body.name, lender_id=body.lender_id, added_on=today, created_by=principal.name
    )
    session.add(holiday)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"{body.date} is already a holiday", code="HOLIDAY_EXISTS") from None
    moved = 0
    if body.date > today:  # a holiday entered on or after its day moves nothing
        why = f"holiday {body.date} ({body.name})"
        moved = _move_loans(session, principal, _touched(session, body.lender_id, body.date), today, why)
    return out(holiday, moved)


def remove(session: Session, principal: Principal, holiday_id: str, today: date) -> HolidayOut:
    holiday = session.get(Holiday, holiday_id)
    if holiday is None:
        raise NotFound(f"no holiday {holiday_id}", code="HOLIDAY_NOT_FOUND")
    result = out(holiday)
    session.delete(holiday)
    session.flush()
    if holiday.date > today and holiday.added_on < holiday.date:
        why = f"holiday {holiday.date} removed"
        result.moved_loans = _move_loans(
            session, principal, _touched(session, holiday.lender_id, holiday.date), today, why
        )
    return result


def listing(session: Session, year: int | None, lender_id: str | None, limit: int, offset: int):
    query = select(Holiday).order_by(Holiday.date, Holiday.id)
    if year is not None:
        query = query.where(Holiday.date.between(date(year, 1, 1), date(year, 12, 31)))
    if lender_id is not None:
        query = query.where(or_(Holiday.lender_id.is_(None), Holiday.lender_id == lender_id))
    items, total = page(session, query, limit, offset)
    return Page[HolidayOut](items=[out(h) for h in items], total=total, limit=limit, offset=offset)


def set_working_days(
    session: Session, principal: Principal, lender_id: str, weekdays: list[int], today: date
) -> WorkingDaysOut:
    lender = session.get(Lender, lender_id)
    if lender is None:
        raise NotFound(f"no lender {lender_id}", code="LENDER_NOT_FOUND")
    if any(not 0 <= d <= 6 for d in weekdays):
        raise InvalidInput(
            "weekdays are 0 (Monday) to 6 (Sunday)", code="INVALID_WEEKDAY", field="non_working_weekdays"
        )
    lender.non_working_weekdays = sorted(set(weekdays))
    session.flush()
    moved = _move_loans(
        session, principal, _touched(session, lender_id, None), today, "the lender's working days"
    )
    return WorkingDaysOut(
        lender_id=lender_id, non_working_weekdays=lender.non_working_weekdays, moved_loans=moved
    )


def seed(
    session: Session, principal: Principal, first_year: int, last_year: int, today: date
) -> tuple[int, int]:
    """Cambodia's public holidays for the years, programme-wide; existing dates are kept as they
    are. Returns (holidays added, loans moved)."""
    import holidays as holiday_tables

    table = holiday_tables.country_holidays("KH", years=range(first_year, last_year + 1))
    added = 0
    for day, name in sorted(table.items()):
        if _exists(session, day, None):
            continue
        session.add(
            Holiday(date=day, name=str(name)[:200], lender_id=None, added_on=today, created_by=principal.name)
        )
        added += 1
    session.flush()
    moved = (
        _move_loans(session, principal, _touched(session, None, None), today, "public holidays seeded")
        if added
        else 0
    )
    return added, moved
