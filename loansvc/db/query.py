"""The query helpers every repository shares: one page of a query with its total, a count that
stops at a bound (a long list's total), and the partner scope (a partner key reads its own
lender's rows only)."""

from __future__ import annotations

from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.orm import Session


def page(session: Session, query: Select, limit: int, offset: int) -> tuple[list, int]:
    """One page of `query` (already ordered) and the number of rows of the whole query."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    items = list(session.scalars(query.limit(limit).offset(offset)))
    return items, total


def bounded_count(session: Session, query: Select, bound: int | None) -> int:
    """The number of rows of `query`, counting no further than `bound` + 1 (None: all of them): at
    most `bound` is the exact size; `bound` + 1 means "more than bound". The inner LIMIT lets the
    database stop reading the index after bound + 1 rows instead of counting a million."""
    rows = query.order_by(None).with_only_columns(literal_column("1"), maintain_column_froms=True)
    if bound is not None:
        rows = rows.limit(bound + 1)
    return session.scalar(select(func.count()).select_from(rows.subquery())) or 0


def for_lender(query: Select, column, lender_id: str | None) -> Select:
    """`query` limited to one lender's rows when `lender_id` is set (a partner's scope)."""
    return query if lender_id is None else query.where(column == lender_id)
