"""The query helpers every repository shares: one page of a query with its total, and the
partner scope (a partner key reads its own lender's rows only)."""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session


def page(session: Session, query: Select, limit: int, offset: int) -> tuple[list, int]:
    """One page of `query` (already ordered) and the number of rows of the whole query."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    items = list(session.scalars(query.limit(limit).offset(offset)))
    return items, total


def for_lender(query: Select, column, lender_id: str | None) -> Select:
    """`query` limited to one lender's rows when `lender_id` is set (a partner's scope)."""
    return query if lender_id is None else query.where(column == lender_id)
