"""The caller of a request, as its API key describes it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """Who is calling: the API key's name, role and (for partners) lender."""

    key_id: str
    name: str
    role: str
    lender_id: str | None

    @property
    def is_partner(self) -> bool:
        return self.role == "partner"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
