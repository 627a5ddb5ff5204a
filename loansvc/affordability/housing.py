"""Housing models: the programme's affordable house designs and what they cost today.

A model's cost is computed from the materials bank catalog's current unit costs (materials per
stage) plus each stage's labour, in the model's currency.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loansvc.affordability import repository
from loansvc.audit.service import record as audit
from loansvc.auth.principal import Principal
from loansvc.db.models import HousingModel, Material
from loansvc.domain.errors import Conflict, InvalidInput, NotFound
from loansvc.domain.money import round_money
from loansvc.materials import repository as materials_repository


def create(session: Session, principal: Principal, body) -> HousingModel:
    if repository.housing_model(session, body.code) is not None:
        raise Conflict(f"housing model {body.code} exists", code="HOUSING_MODEL_EXISTS")
    skus = {line.sku for stage in body.stages for line in stage.materials}
    catalog = materials_repository.by_skus(session, skus)
    for s, stage in enumerate(body.stages):
        if stage.labour_cost != round_money(stage.labour_cost, body.currency):
            raise InvalidInput(
                f"labour_cost has more decimals than {body.currency} allows",
                code="TOO_MANY_DECIMALS",
                field=f"stages[{s}].labour_cost",
            )
        for k, line in enumerate(stage.materials):
            material = catalog.get(line.sku)
            if material is None:
                raise InvalidInput(
                    f"no material with sku {line.sku}",
                    code="UNKNOWN_SKU",
                    field=f"stages[{s}].materials[{k}].sku",
                )
            if material.currency != body.currency:
                raise InvalidInput(
                    f"{line.sku} is priced in {material.currency}, the model in {body.currency}",
                    code="CURRENCY_MISMATCH",
                    field=f"stages[{s}].materials[{k}].sku",
                )
    model = HousingModel(
        code=body.code,
        name=body.name,
        floor_area_m2=body.floor_area_m2,
        currency=body.currency,
        description=body.description,
        stages=[
            {
                "stage": st.stage,
                "labour_cost": str(st.labour_cost),
                "materials": [{"sku": m.sku, "quantity": str(m.quantity)} for m in st.materials],
            }
            for st in body.stages
        ],
    )
    session.add(model)
    session.flush()
    audit(
        session,
        principal,
        entity_type="housing_model",
        entity_id=model.id,
        action="created",
        after={"code": model.code},
    )
    return model


def get(session: Session, code: str) -> HousingModel:
    model = repository.housing_model(session, code)
    if model is None:
        raise NotFound(f"no housing model {code}", code="HOUSING_MODEL_NOT_FOUND")
    return model


def list_all(session: Session) -> list[HousingModel]:
    return list(session.scalars(select(HousingModel).order_by(HousingModel.code)))


def costed(
    session: Session, model: HousingModel, catalog: dict[str, Material] | None = None
) -> dict[str, Any]:
    """The model with its cost per stage and in total, at the catalog's current unit costs."""
    if catalog is None:
        skus = {m["sku"] for st in model.stages for m in st["materials"]}
        catalog = materials_repository.by_skus(session, skus)
    stages, materials_total, labour_total = [], Decimal(0), Decimal(0)
    for st in model.stages:
        lines, stage_materials = [], Decimal(0)
        for m in st["materials"]:
            material = catalog[m["sku"]]
            quantity = Decimal(m["quantity"])
            cost = round_money(quantity * material.unit_cost, model.currency)
            stage_materials += cost
            lines.append(
                {
                    "sku": m["sku"],
                    "name": material.name,
                    "unit": material.unit,
                    "quantity": quantity,
                    "unit_cost": material.unit_cost,
                    "cost": cost,
                }
            )
        labour = round_money(Decimal(st["labour_cost"]), model.currency)
        stages.append(
            {
                "stage": st["stage"],
                "materials": lines,
                "materials_cost": stage_materials,
                "labour_cost": labour,
                "total": stage_materials + labour,
            }
        )
        materials_total += stage_materials
        labour_total += labour
    return {
        "id": model.id,
        "code": model.code,
        "name": model.name,
        "floor_area_m2": model.floor_area_m2,
        "currency": model.currency,
        "description": model.description,
        "stages": stages,
        "materials_cost": materials_total,
        "labour_cost": labour_total,
        "total_cost": materials_total + labour_total,
        "created_at": model.created_at,
    }
