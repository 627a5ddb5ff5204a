"""Collateral requests and responses, and the titles report's rows."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from loansvc.domain.custody import COLLATERAL_KINDS, FORBIDDEN_COLLATERAL
from loansvc.fields import DecimalStr, Name, Note, OutModel, PositiveAmount, ShortText, StrictModel

CollateralKind = Literal["land_title", "movable", "guarantor"]
CollateralStatus = Literal["held", "due_for_return", "overdue", "released"]
TitleNumber = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Place = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
KindText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30)]


class CollateralCreate(StrictModel):
    kind: KindText = Field(
        description=f"one of {', '.join(COLLATERAL_KINDS)}; {' and '.join(FORBIDDEN_COLLATERAL)} are never"
        " collateral (422 COLLATERAL_NOT_ALLOWED)",
        examples=["land_title"],
    )
    title_number: TitleNumber | None = Field(
        default=None,
        description="a land title only: the household's own title number (households.title_number)",
    )
    description: Description
    held_by_lender_id: str = Field(max_length=36, description="the lender holding it: the loan's lender")
    received_on: date = Field(description="not in the future, not before the application")
    storage_location: Place | None = Field(default=None, description="e.g. the branch safe")
    value: PositiveAmount | None = Field(
        default=None, description="the lender's valuation, in the loan's currency"
    )


class ReleaseRequest(StrictModel):
    released_on: date = Field(description="not before received_on, not in the future")
    released_to: Name = Field(description="who took it back (the household head, an heir ...)")
    receipt_reference: ShortText = Field(description="the signed receipt's number")
    reason: Note | None = Field(
        default=None, description="required when the loan was not closed on released_on (an early release)"
    )


class CollateralOut(OutModel):
    id: str
    loan_id: str
    household_id: str
    held_by_lender_id: str
    kind: CollateralKind
    title_number: str | None
    description: str
    received_on: date
    storage_location: str | None
    value: DecimalStr | None
    currency: str
    status: CollateralStatus = Field(description="as of today")
    loan_closed_on: date | None
    return_due_on: date | None = Field(
        description="the loan's closed_on + LOANSVC_TITLE_RETURN_DAYS: overdue from the day after"
    )
    days_since_closure: int | None = Field(description="null while the loan is open or once released")
    released_on: date | None
    released_to: str | None
    receipt_reference: str | None
    release_reason: str | None
    recorded_by: str
    released_by: str | None
    created_at: datetime


class HeldCollateralOut(OutModel):
    """What a lender holds on a loan, as the delinquent list shows it."""

    id: str
    kind: CollateralKind
    title_number: str | None = Field(description="null for finance leads")
    held_by_lender_id: str
    received_on: date


class TitleReportRow(OutModel):
    collateral_id: str
    loan_id: str
    loan_status: str
    household_id: str
    head_name: str | None = Field(description="null for finance leads (no personal data)")
    title_number: str | None = Field(description="null for finance leads (no personal data)")
    held_by_lender_id: str
    lender_name: str
    received_on: date
    storage_location: str | None
    status: CollateralStatus
    loan_closed_on: date | None
    return_due_on: date | None
    days_since_closure: int | None = Field(description="as_of - the loan's closed_on, while not released")
    released_on: date | None


class OverdueTitlesOut(OutModel):
    lender_id: str
    lender_name: str
    titles: int = Field(
        description="land titles still held more than LOANSVC_TITLE_RETURN_DAYS after closure"
    )
