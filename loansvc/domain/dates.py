"""Calendar arithmetic for schedules and rates: month steps with end-of-month clamping,
month counting back from a later date, and the day-count conventions.

Everything here is integer date arithmetic; no amount passes through this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year: int, month: int) -> int:
    if month == 2 and is_leap(year):
        return 29
    return _DAYS_IN_MONTH[month - 1]


def is_month_end(d: date) -> bool:
    return d.day == days_in_month(d.year, d.month)


def add_months(d: date, months: int) -> date:
    """`d` moved by `months` (may be negative), the day clamped to the target month's length.

    31 January + 1 month is 28 or 29 February; the anchor's day is kept, so schedules that
    always add from one anchor come back to the 31st in March.
    """
    y, m0 = divmod(d.year * 12 + d.month - 1 + months, 12)
    dim = days_in_month(y, m0 + 1)
    return date(y, m0 + 1, d.day if d.day <= dim else dim)


def months_back(d: date, months: int) -> date:
    """`d` moved back `months` months, a month-end date landing on month ends (Appendix J).

    So 28 February 2019 counted back one month is 31 January 2019.
    """
    if is_month_end(d):
        y, m0 = divmod(d.year * 12 + d.month - 1 - months, 12)
        return date(y, m0 + 1, days_in_month(y, m0 + 1))
    return add_months(d, -months)


def whole_months_between(start: date, end: date) -> tuple[int, date]:
    """Whole months counted back from `end` without passing `start`, and the date reached.

    Never chained: each candidate is `end` minus k months in one step. When `end` is `start`
    plus k months (clamped), it is exactly k months: Appendix J (b)(3)(iv) measures a series on
    the 29th or 30th to the last day of February, and a month-end series month end to month end.
    """
    k = (end.year - start.year) * 12 + end.month - start.month
    if k < 0:
        return 0, end
    if add_months(start, k) == end:
        return k, start
    reached = months_back(end, k)
    while k > 0 and reached < start:
        k -= 1
        reached = months_back(end, k)
    return k, reached


def add_days(d: date, days: int) -> date:
    return d + timedelta(days=days)


def days_30_360(start: date, end: date) -> int:
    """US bond basis: a 31st start becomes 30; a 31st end becomes 30 when the start is 30 or 31."""
    d1 = 30 if start.day == 31 else start.day
    d2 = end.day
    if d2 == 31 and d1 == 30:
        d2 = 30
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)


def days_by_year_length(start: date, end: date) -> tuple[int, int]:
    """Days of [start, end) falling in 365-day years and in 366-day years (actual/actual)."""
    normal = leap = 0
    cursor = start
    while cursor < end:
        year_end = date(cursor.year + 1, 1, 1)
        stop = end if end < year_end else year_end
        span = (stop - cursor).days
        if is_leap(cursor.year):
            leap += span
        else:
            normal += span
        cursor = stop
    return normal, leap


def contains_feb_29(after: date, upto: date) -> bool:
    """Whether some 29 February lies in the interval (after, upto]."""
    for year in range(after.year, upto.year + 1):
        if is_leap(year):
            feb29 = date(year, 2, 29)
            if after < feb29 <= upto:
                return True
    return False


HOLIDAY_RULES = ("same_day", "next_working_day", "previous_working_day")


@dataclass(frozen=True)
class Calendar:
    """The days nobody pays on: holidays and non-working weekdays (0 = Monday), and the rule that
    moves a due date landing on one: same_day | next_working_day | previous_working_day."""

    holidays: frozenset[date] = frozenset()
    weekdays: frozenset[int] = frozenset()
    rule: str = "same_day"

    def closed(self, day: date) -> bool:
        return day in self.holidays or day.weekday() in self.weekdays

    def move(self, day: date) -> date:
        """`day`, moved by the rule while it is closed (a month with no working day leaves it)."""
        if self.rule == "same_day" or not self.closed(day):
            return day
        step = timedelta(days=-1 if self.rule == "previous_working_day" else 1)
        moved = day
        for _ in range(31):
            moved += step
            if not self.closed(moved):
                return moved
        return day


NO_CALENDAR = Calendar()
