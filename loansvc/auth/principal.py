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

    @property
    def lender_scope(self) -> str | None:
        """The one lender a partner key acts for; None (every lender) for the other roles."""
        return self.lender_id if self.is_partner else None
