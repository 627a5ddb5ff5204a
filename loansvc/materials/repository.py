"""Materials queries; stock changes take a row lock (SELECT ... FOR UPDATE on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from loansvc.db.models import Material, StockMovement


def catalog_query() -> Select:
    return select(Material).order_by(Material.sku)


def by_sku(session: Session, sku: str, *, lock: bool = False) -> Material | None:
    query = select(Material).where(Material.sku == sku)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def by_skus(session: Session, skus: Iterable[str], *, lock: bool = False) -> dict[str, Material]:
    # a stable order (by sku) so that concurrent issues lock rows in the same order: no deadlock
    query = select(Material).where(Material.sku.in_(sorted(set(skus)))).order_by(Material.sku)
    if lock:
        query = query.with_for_update()
    return {m.sku: m for m in session.scalars(query)}


def movements_query(material_id: str) -> Select:
    query = select(StockMovement).where(StockMovement.material_id == material_id)
    return query.order_by(StockMovement.created_at, StockMovement.id)


def movements(session: Session, material_id: str) -> list[StockMovement]:
    query = select(StockMovement).where(StockMovement.material_id == material_id)
    return list(session.scalars(query.order_by(StockMovement.created_at, StockMovement.id)))
