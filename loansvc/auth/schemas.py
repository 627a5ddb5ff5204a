"""API-key requests and responses (the hash never leaves the server)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from loansvc.fields import OutModel, ShortText, StrictModel

Role = Literal["admin", "loan_officer", "finance_lead", "partner"]


class ApiKeyCreate(StrictModel):
    name: ShortText
    role: Role
    lender_id: str | None = Field(default=None, max_length=36)


class ApiKeyOut(OutModel):
    id: str
    name: str
    role: str
    lender_id: str | None
    prefix: str
    created_at: datetime
    created_by: str | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str
