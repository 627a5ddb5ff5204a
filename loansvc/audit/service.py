"""Writing and reading the audit log. Entries are only ever added."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loansvc.auth.principal import Principal
from loansvc.db.models import AuditEntry
from loansvc.db.query import page


def record(
    session: Session,
    principal: Principal,
    *,
    entity_type: str,
    entity_id: str,
    action: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    loan_id: str | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        entity_type=entity_type,
        entity_id=entity_id,
        loan_id=loan_id,
        action=action,
        actor_name=principal.name,
        actor_role=principal.role,
        before=before,
        after=after,
    )
    session.add(entry)
    return entry


def loan_history_page(
    session: Session, loan_id: str, limit: int, offset: int
) -> tuple[list[AuditEntry], int]:
    """A page of one loan's history, oldest first, and the number of entries."""
    query = select(AuditEntry).where(AuditEntry.loan_id == loan_id).order_by(AuditEntry.id)
    return page(session, query, limit, offset)
