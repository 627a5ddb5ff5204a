"""HTTP for the materials bank catalog and stock receipts."""

from __future__ import annotations

from fastapi import APIRouter, Request

from loansvc.auth.principal import Principal
from loansvc.fields import Page
from loansvc.materials import service
from loansvc.materials.schemas import MaterialCreate, MaterialOut, ReceiptCreate, ReceiptOut, StockMovementOut
from loansvc.web import idempotency
from loansvc.web.deps import ALL_ROLES, PageDep, SessionDep, TodayDep, WriteSessionDep, require
from loansvc.web.idempotency import IdempotencyKey
from loansvc.web.problems import AUTH_ERRORS, responses

router = APIRouter(prefix="/v1/materials", tags=["materials bank"])


@router.post("", status_code=201, response_model=MaterialOut, responses=responses(*AUTH_ERRORS, 409, 422))
def create_material(
    body: MaterialCreate, session: SessionDep, principal: Principal = require("loan_officer")
):
    return service.material_out(service.create(session, principal, body))


@router.get("", response_model=Page[MaterialOut], responses=responses(*AUTH_ERRORS))
def list_materials(session: SessionDep, page: PageDep, principal: Principal = require(*ALL_ROLES)):
    return service.catalog_page(session, page.limit, page.offset)


@router.get("/{sku}", response_model=MaterialOut, responses=responses(*AUTH_ERRORS, 404))
def get_material(sku: str, session: SessionDep, principal: Principal = require(*ALL_ROLES)):
    return service.material_out(service.get(session, sku))


@router.post(
    "/{sku}/receipts",
    status_code=201,
    response_model=ReceiptOut,
    responses=responses(*AUTH_ERRORS, 404, 409, 422),
)
def receive_stock(
    sku: str,
    body: ReceiptCreate,
    request: Request,
    session: WriteSessionDep,
    today: TodayDep,
    idempotency_key: IdempotencyKey = None,
    principal: Principal = require("loan_officer"),
):
    def action():
        return 201, service.receipt_out(session, principal, sku, body, today)

    return idempotency.run(session, principal, request, idempotency_key, body, action)


@router.get("/{sku}/movements", response_model=Page[StockMovementOut], responses=responses(*AUTH_ERRORS, 404))
def stock_movements(
    sku: str,
    session: SessionDep,
    page: PageDep,
    principal: Principal = require("loan_officer", "finance_lead"),
):
    return service.movements_page(session, sku, page.limit, page.offset)
