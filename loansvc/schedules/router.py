"""HTTP: POST /v1/schedules/simulate, /v1/schedules/compare and /v1/rates/apr (any role)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from loansvc.auth.principal import Principal
from loansvc.schedules import service
from loansvc.schedules.schemas import (
    AprRequest,
    AprResponse,
    CompareResponse,
    ScheduleResponse,
    SimulateRequest,
)
from loansvc.web.deps import ALL_ROLES, require
from loansvc.web.problems import AUTH_ERRORS, responses

router = APIRouter(prefix="/v1", tags=["schedules and pricing"])


@router.post("/schedules/simulate", response_model=ScheduleResponse, responses=responses(*AUTH_ERRORS, 422))
async def simulate_schedule(body: SimulateRequest, principal: Principal = require(*ALL_ROLES)):
    """The schedule a core banking system would produce, with its fee-inclusive APR and EIR."""
    return service.run_simulation(body)


@router.post("/schedules/compare", response_model=CompareResponse, responses=responses(*AUTH_ERRORS, 422))
async def compare_offers(
    body: Annotated[list[SimulateRequest], Body(min_length=1, max_length=20)],
    principal: Principal = require(*ALL_ROLES),
):
    """Up to 20 offers side by side: installment, total interest, total cost, APR, EIR, warnings,
    and each offer's rank by its APR as shown (2 decimals): equal shown APRs share a rank, and
    `cheapest_index` is null unless one offer alone is the cheapest."""
    return service.compare(body)


@router.post("/rates/apr", response_model=AprResponse, responses=responses(*AUTH_ERRORS, 422))
async def true_cost(body: AprRequest, principal: Principal = require(*ALL_ROLES)):
    """The true cost of any offer from its dated cash flows (Regulation Z actuarial or EU APRC)."""
    return service.solve_apr(body)
