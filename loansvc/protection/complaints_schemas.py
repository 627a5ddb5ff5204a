"""Complaint requests and responses, and the complaints report."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from loansvc.fields import DecimalStr, Name, OutModel, StrictModel

Channel = Literal["phone", "visit", "letter", "hotline"]
Category = Literal["pricing", "collection_practice", "title_not_returned", "data_privacy", "service", "other"]
ComplaintStatus = Literal["open", "in_progress", "resolved", "rejected"]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class ComplaintCreate(StrictModel):
    household_id: str | None = Field(default=None, max_length=36)
    lender_id: str | None = Field(
        default=None,
        max_length=36,
        description="the lender complained about (a partner: its own, the default)",
    )
    loan_id: str | None = Field(
        default=None, max_length=36, description="gives the household and the lender when they are not sent"
    )
    channel: Channel
    category: Category
    description: LongText
    received_on: date = Field(description="not in the future")
    complainant_name: Name | None = Field(default=None, description="who complained, when it is not the head")
    anonymous: bool = Field(
        default=False,
        description="the lender complained about never learns who complained: its partner keys get the"
        " complaint without the name, the household or the loan",
    )


class ComplaintPatch(StrictModel):
    status: ComplaintStatus = Field(description="open -> in_progress -> resolved | rejected; other moves 409")
    resolution: LongText | None = Field(default=None, description="required to resolve or reject")
    resolved_on: date | None = Field(
        default=None, description="when resolved or rejected (default today); not before received_on"
    )


class ComplaintOut(OutModel):
    id: str
    household_id: str | None = Field(description="null for the lender's partner keys when anonymous")
    lender_id: str | None
    loan_id: str | None = Field(description="null for the lender's partner keys when anonymous")
    channel: Channel
    category: Category
    description: str
    received_on: date
    complainant_name: str | None = Field(description="null for the lender's partner keys when anonymous")
    anonymous: bool
    status: ComplaintStatus
    resolution: str | None
    resolved_on: date | None
    days_to_resolve: int | None = Field(description="resolved_on - received_on, once resolved or rejected")
    recorded_by: str
    created_at: datetime
    updated_at: datetime


class StatusCounts(OutModel):
    total: int
    open: int
    in_progress: int
    resolved: int
    rejected: int


class CategoryCounts(StatusCounts):
    category: Category


class LenderCounts(StatusCounts):
    lender_id: str | None = Field(description="null: complaints about no lender (the programme itself)")
    lender_name: str | None


class LenderCategoryCount(OutModel):
    lender_id: str | None
    category: Category
    complaints: int


class ComplaintsReportOut(OutModel):
    received_from: date | None
    received_to: date | None
    totals: StatusCounts
    by_category: list[CategoryCounts] = Field(description="every category, zeros included")
    by_lender: list[LenderCounts]
    by_lender_and_category: list[LenderCategoryCount]
    median_days_to_resolve: DecimalStr | None = Field(
        description="median of resolved_on - received_on over the resolved complaints (null: none)"
    )
