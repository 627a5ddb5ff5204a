"""Materials bank use cases: the catalog, receipts into stock, and issues out of it.

Stock on hand is kept beside the append-only movements and changed only under a row lock, with a
CHECK (quantity_on_hand >= 0) behind the code's own check. The catalog unit cost is the weighted
average cost of the stock (receipts at a new cost move it); issues are valued at it.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy.orm import Session

from loansvc.audit.service import record as audit
from loansvc.auth.principal import Principal
from loansvc.db.models import Material, StockMovement
from loansvc.db.query import page
from loansvc.domain.errors import Conflict, InvalidInput, NotFound
from loansvc.domain.money import round_money
from loansvc.fields import Page
from loansvc.materials import repository
from loansvc.materials.schemas import MaterialCreate, MaterialOut, ReceiptCreate, ReceiptOut, StockMovementOut

UNIT_COST_PLACES = Decimal("0.0001")


def material_out(material: Material) -> MaterialOut:
    return MaterialOut(
        id=material.id,
        sku=material.sku,
        name=material.name,
        unit=material.unit,
        unit_cost=material.unit_cost,
        currency=material.currency,
        quantity_on_hand=material.quantity_on_hand,
        stock_value=round_money(material.quantity_on_hand * material.unit_cost, material.currency),
        created_at=material.created_at,
    )


def create(session: Session, principal: Principal, body: MaterialCreate) -> Material:
    if repository.by_sku(session, body.sku) is not None:
        raise Conflict(f"the catalog already has sku {body.sku}", code="SKU_TAKEN")
    material = Material(
        sku=body.sku,
        name=body.name,
        unit=body.unit,
        unit_cost=body.unit_cost,
        currency=body.currency,
        quantity_on_hand=Decimal(0),
    )
    session.add(material)
    session.flush()
    audit(
        session,
        principal,
        entity_type="material",
        entity_id=material.id,
        action="created",
        after={"sku": material.sku, "unit_cost": str(material.unit_cost)},
    )
    return material


def get(session: Session, sku: str, *, lock: bool = False) -> Material:
    material = repository.by_sku(session, sku, lock=lock)
    if material is None:
        raise NotFound(f"no material with sku {sku}", code="MATERIAL_NOT_FOUND")
    return material


def receive(
    session: Session, principal: Principal, sku: str, body: ReceiptCreate, today: date
) -> StockMovement:
    received_on = body.received_on or today
    if received_on > today:
        raise InvalidInput("received_on cannot be in the future", code="DATE_IN_FUTURE", field="received_on")
    material = get(session, sku, lock=True)
    cost = body.unit_cost if body.unit_cost is not None else material.unit_cost
    before = {"quantity_on_hand": str(material.quantity_on_hand), "unit_cost": str(material.unit_cost)}
    new_quantity = material.quantity_on_hand + body.quantity
    if body.unit_cost is not None and new_quantity > 0:
        value = material.quantity_on_hand * material.unit_cost + body.quantity * cost
        material.unit_cost = (value / new_quantity).quantize(UNIT_COST_PLACES, rounding=ROUND_HALF_EVEN)
    material.quantity_on_hand = new_quantity
    movement = StockMovement(
        material_id=material.id,
        kind="receipt",
        quantity=body.quantity,
        unit_cost=cost,
        supplier=body.supplier,
        occurred_on=received_on,
        created_by=principal.name,
    )
    session.add(movement)
    session.flush()
    audit(
        session,
        principal,
        entity_type="material",
        entity_id=material.id,
        action="stock_received",
        before=before,
        after={
            "quantity_on_hand": str(material.quantity_on_hand),
            "unit_cost": str(material.unit_cost),
            "received": str(body.quantity),
        },
    )
    return movement


def issue(
    session: Session,
    principal: Principal,
    materials: dict[str, Material],
    lines: list[tuple[str, Decimal]],
    issued_on: date,
    disbursement_id: str,
) -> None:
    """Take stock out for a disbursement; the caller has locked `materials` and checked the stock."""
    for sku, quantity in lines:
        material = materials[sku]
        if material.quantity_on_hand < quantity:
            raise Conflict(
                f"only {material.quantity_on_hand} {material.unit} of {sku} in stock, {quantity} asked",
                code="INSUFFICIENT_STOCK",
            )
        material.quantity_on_hand -= quantity
        session.add(
            StockMovement(
                material_id=material.id,
                kind="issue",
                quantity=-quantity,
                unit_cost=material.unit_cost,
                supplier=None,
                occurred_on=issued_on,
                disbursement_id=disbursement_id,
                created_by=principal.name,
            )
        )
    session.flush()


def catalog_page(session: Session, limit: int, offset: int) -> Page[MaterialOut]:
    items, total = page(session, repository.catalog_query(), limit, offset)
    return Page[MaterialOut](items=[material_out(m) for m in items], total=total, limit=limit, offset=offset)


def movements_page(session: Session, sku: str, limit: int, offset: int) -> Page[StockMovementOut]:
    material = get(session, sku)
    items, total = page(session, repository.movements_query(material.id), limit, offset)
    return Page[StockMovementOut](
        items=[StockMovementOut.model_validate(m) for m in items], total=total, limit=limit, offset=offset
    )


def receipt_out(
    session: Session, principal: Principal, sku: str, body: ReceiptCreate, today: date
) -> ReceiptOut:
    movement = receive(session, principal, sku, body, today)
    return ReceiptOut(
        movement=StockMovementOut.model_validate(movement), material=material_out(get(session, sku))
    )
