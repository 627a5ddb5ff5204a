"""Collection contacts and promises to pay: requests, responses, the collections report."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from loansvc.fields import DecimalStr, Name, Note, OutModel, PositiveAmount, StrictModel

ContactKind = Literal["visit", "call", "message"]
Outcome = Literal["reached", "not_reached", "refused"]
PromiseState = Literal["open", "kept", "broken"]


class PromiseIn(StrictModel):
    amount: PositiveAmount = Field(description="in the loan's currency")
    due_on: date = Field(description="on or after contacted_on")


class ContactCreate(StrictModel):
    kind: ContactKind
    contacted_on: date = Field(description="not in the future, not before the first disbursement")
    by: Name = Field(description="who visited, called or wrote (the officer of the collections report)")
    outcome: Outcome
    note: Note
    promise: PromiseIn | None = Field(
        default=None, description="what the family promised to pay, and by when (only when reached)"
    )


class PromiseOut(OutModel):
    contact_id: str
    contacted_on: date
    amount: DecimalStr
    due_on: date
    paid: DecimalStr = Field(
        description="payments from contacted_on to due_on (up to as_of), reversed ones left out"
    )
    state: PromiseState = Field(
        description="kept once paid reaches amount; open until due_on; broken from the day after"
    )


class ContactOut(OutModel):
    id: str
    loan_id: str
    kind: ContactKind
    contacted_on: date
    by: str
    outcome: Outcome
    note: str
    promise: PromiseOut | None = Field(description="its state as of today")
    recorded_by: str
    created_at: datetime


class LastContactOut(OutModel):
    contact_id: str
    kind: ContactKind
    contacted_on: date
    by: str
    outcome: Outcome


class CollectionsCounts(OutModel):
    loans_in_arrears: int = Field(description="loans at least 1 day past due at as_of")
    contacted_last_7_days: int = Field(description="of those, contacted in the 7 days up to as_of")
    promises_kept: int = Field(description="promises due in the 30 days up to as_of that were kept")
    promises_broken: int = Field(description="promises due in the 30 days up to as_of that were broken")
    promises_open: int = Field(description="promises made by as_of, due after it, not yet kept")


class CollectionsRow(CollectionsCounts):
    site_id: str
    site_name: str
    officer: str | None = Field(
        description="the `by` of the loan's latest contact (for promises: the promise's);"
        " null: never contacted"
    )


class CollectionsReportOut(OutModel):
    as_of: date
    rows: list[CollectionsRow] = Field(description="per site and officer")
    totals: CollectionsCounts
