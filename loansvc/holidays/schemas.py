"""The holiday calendar: holidays (programme-wide or one lender's) and a lender's non-working days."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from loansvc.fields import Name, OutModel, StrictModel


class HolidayCreate(StrictModel):
    date: date
    name: Name
    lender_id: str | None = Field(default=None, description="absent: a programme-wide holiday")


class HolidayOut(OutModel):
    id: str
    date: date
    name: str
    lender_id: str | None
    added_on: date
    created_by: str
    created_at: datetime
    moved_loans: int = Field(
        default=0,
        description="active loans whose due dates this change moved (one new schedule version each)",
    )


class WorkingDays(StrictModel):
    non_working_weekdays: list[int] = Field(
        max_length=6, description="weekdays the lender does not collect on: 0 = Monday ... 6 = Sunday"
    )


class WorkingDaysOut(OutModel):
    lender_id: str
    non_working_weekdays: list[int]
    moved_loans: int = 0
