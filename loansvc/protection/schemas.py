"""Consent and review requests and responses."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from loansvc.fields import Note, OutModel, StrictModel

ConsentMethod = Literal["signed_form", "thumbprint", "verbal_witnessed"]
ReviewOutcome = Literal["cleared", "not_cleared"]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ApplicationConsent(StrictModel):
    """The household's consent to share its file with the lender, carried in its application."""

    given_on: date = Field(description="not in the future, and not after the application's submitted_on")
    method: ConsentMethod
    reference: Reference | None = Field(default=None, description="e.g. the signed form's number")


class ConsentCreate(ApplicationConsent):
    lender_id: str = Field(
        max_length=36, description="the lender the household agrees to share its file with"
    )


class ConsentOut(OutModel):
    id: str
    household_id: str
    lender_id: str
    given_on: date
    method: ConsentMethod
    reference: str | None
    recorded_by: str
    withdrawn_on: date | None = Field(description="null while the consent is live")
    withdrawn_by: str | None
    withdrawal_reason: str | None
    created_at: datetime


class ReviewCreate(StrictModel):
    outcome: ReviewOutcome = Field(description="cleared lets the loan be approved; not_cleared blocks it")
    note: Note = Field(description="what the loan officer checked, in plain words")


class ReviewOut(OutModel):
    id: str
    loan_id: str
    outcome: ReviewOutcome
    note: str
    reviewed_on: date
    reviewed_by: str
    created_at: datetime
