"""Bad lending requests get the documented 4xx as problem details with a clear `detail`, and leave
the database exactly as it was.

The world: a partner MFI's cash loan (3,000 approved on 10 April 2025, a first 1,000 tranche for the
foundation on 15 April, no inspection yet), a second one (1,000 approved on 5 May, nothing released
yet), a materials-bank loan (1,200 approved on 15 January),
a materials-bank application still waiting for a second pair of eyes, and 10 bags of cement and
2 m3 of sand in stock. The service's today is 30 June 2025.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest

from tests.api.helpers import assert_problem, create_lender
from tests.api.lending import (
    add_material,
    another_family,
    apply,
    approve,
    business_day,
    lending_world,
    named_key,
    receive,
    release,
)

TODAY = date(2025, 6, 30)


@pytest.fixture()
def world(client, session, monkeypatch):
    business_day(monkeypatch, TODAY)
    world = lending_world(client, session)
    family = world["household"]["id"]
    cash = apply(
        client, world["partner_1"], family, world["cash_product"]["id"], "3000", 24, submitted_on="2025-04-07"
    )
    approve(client, world["partner_2"], cash["id"], approved_on="2025-04-10")
    release(client, world["partner_1"], cash["id"], "1000", "foundation", date(2025, 4, 15))
    kind = apply(
        client,
        world["officer_1"],
        family,
        world["materials_product"]["id"],
        "1200",
        24,
        submitted_on="2025-01-10",
    )
    approve(client, world["officer_2"], kind["id"], approved_on="2025-01-15")
    fresh = apply(
        client, world["partner_1"], family, world["cash_product"]["id"], "1000", 12, submitted_on="2025-05-02"
    )
    approve(client, world["partner_2"], fresh["id"], approved_on="2025-05-05")
    # another family's (this one's materials loan is still open: one open application per lender)
    neighbour = another_family(client, world)["id"]
    waiting = apply(client, world["officer_1"], neighbour, world["materials_product"]["id"], "300", 12)
    add_material(client, world["officer_1"], "CEMENT-50KG", "Portland cement, 50 kg bag", "bag", "6.25")
    add_material(client, world["officer_1"], "SAND-M3", "river sand", "m3", "14.00")
    receive(client, world["officer_1"], "CEMENT-50KG", "10", date(2025, 1, 20))
    receive(client, world["officer_1"], "SAND-M3", "2", date(2025, 1, 20))
    other_mfi = create_lender(client, world["admin"])
    world["stranger"] = named_key(session, "another MFI", "partner", other_mfi["id"])
    world.update(cash=cash["id"], fresh=fresh["id"], kind=kind["id"], waiting=waiting["id"])
    return world


def _materials(*lines: tuple[str, Any], on: str = "2025-02-03", milestone: str = "foundation") -> dict:
    return {
        "kind": "materials",
        "lines": [{"sku": s, "quantity": q} for s, q in lines],
        "milestone": milestone,
        "date": on,
    }


def _cash(amount: Any = "500", milestone: str = "structure", on: str = "2025-05-25") -> dict:
    return {"kind": "cash", "amount": amount, "milestone": milestone, "date": on}


@dataclass
class Case:
    who: str
    path: Callable[[dict], str]
    body: Any
    status: int
    code: str
    detail: tuple[str, ...] = ()  # phrases the detail must contain
    loc: list | None = None  # the field the refusal points at
    msg: str | None = None  # what the field-level error says
    method: str = "POST"
    headers: dict = field(default_factory=dict)


def _on(loan: str, tail: str = "/disbursements") -> Callable[[dict], str]:
    return lambda w: f"/v1/loans/{w[loan]}{tail}"


CASES: dict[str, Case] = {
    "unknown sku": Case(
        "officer_1",
        _on("kind"),
        _materials(("GRAVEL-M3", "1")),
        422,
        "UNKNOWN_SKU",
        ("no material with sku GRAVEL-M3",),
        ["body", "lines", 0, "sku"],
    ),
    "unknown sku after a known one": Case(
        "officer_1",
        _on("kind"),
        _materials(("CEMENT-50KG", "1"), ("GRAVEL-M3", "1")),
        422,
        "UNKNOWN_SKU",
        ("GRAVEL-M3",),
        ["body", "lines", 1, "sku"],
    ),
    "zero quantity": Case(
        "officer_1",
        _on("kind"),
        _materials(("CEMENT-50KG", "0")),
        422,
        "VALIDATION_ERROR",
        ("invalid fields",),
        ["body", "lines", 0, "quantity"],
        msg="greater than 0",
    ),
    "negative quantity": Case(
        "officer_1",
        _on("kind"),
        _materials(("SAND-M3", "-0.5")),
        422,
        "VALIDATION_ERROR",
        ("invalid fields",),
        ["body", "lines", 0, "quantity"],
        msg="greater than 0",
    ),
    "zero quantity received": Case(
        "officer_1",
        lambda w: "/v1/materials/SAND-M3/receipts",
        {"quantity": "0", "supplier": "x", "received_on": "2025-01-20"},
        422,
        "VALIDATION_ERROR",
        ("invalid fields",),
        ["body", "quantity"],
        msg="greater than 0",
    ),
    "negative quantity received": Case(
        "officer_1",
        lambda w: "/v1/materials/SAND-M3/receipts",
        {"quantity": "-2", "supplier": "x", "received_on": "2025-01-20"},
        422,
        "VALIDATION_ERROR",
        ("invalid fields",),
        ["body", "quantity"],
        msg="greater than 0",
    ),
    "more than the stock": Case(
        "officer_1",
        _on("kind"),
        _materials(("CEMENT-50KG", "4"), ("SAND-M3", "2.5")),
        409,
        "INSUFFICIENT_STOCK",
        ("SAND-M3", "2.5"),
    ),
    "amount over the approval": Case(
        "partner_1",
        _on("fresh"),
        _cash("1000.01", "foundation", "2025-05-06"),
        409,
        "OVER_DISBURSEMENT",
        ("1000.01", "approved 1000"),
    ),
    "a tranche without the previous inspection": Case(
        "partner_1",
        _on("cash"),
        _cash(),
        409,
        "INSPECTION_REQUIRED",
        ("inspection", "foundation"),
    ),
    "a tranche that skips a stage": Case(
        "partner_1",
        _on("cash"),
        _cash("500", "roof"),
        409,
        "STAGE_OUT_OF_ORDER",
        ("the roof needs the structure", "not been funded"),
    ),
    "a first tranche for a later stage": Case(
        "partner_1",
        _on("fresh"),
        _cash("500", "finishing", "2025-05-06"),
        409,
        "STAGE_OUT_OF_ORDER",
        ("the first disbursement is for the foundation", "finishing"),
    ),
    "a first delivery for a later stage": Case(
        "officer_1",
        _on("kind"),
        _materials(("CEMENT-50KG", "1"), milestone="structure"),
        409,
        "STAGE_OUT_OF_ORDER",
        ("the first disbursement is for the foundation", "structure"),
    ),
    "a delivery dated before the approval": Case(
        "officer_1",
        _on("kind"),
        _materials(("CEMENT-50KG", "1"), on="2025-01-14"),
        422,
        "DATE_BEFORE_PREVIOUS_STEP",
        ("2025-01-14", "2025-01-15"),
        ["body", "date"],
    ),
    "a tranche dated before the previous one": Case(
        "partner_1",
        _on("cash"),
        _cash("500", "foundation", "2025-04-14"),
        422,
        "DATE_BEFORE_PREVIOUS_STEP",
        ("2025-04-15",),
        ["body", "date"],
    ),
    "an inspection dated before the approval": Case(
        "partner_2",
        _on("cash", "/inspections"),
        {"milestone": "foundation", "inspected_on": "2025-04-09", "inspector": "Vuthy", "passed": True},
        422,
        "DATE_BEFORE_PREVIOUS_STEP",
        ("2025-04-10",),
        ["body", "inspected_on"],
    ),
    "a date in the future": Case(
        "partner_1",
        _on("cash"),
        _cash("500", "foundation", "2025-07-01"),
        422,
        "DATE_IN_FUTURE",
        ("2025-07-01", "future"),
        ["body", "date"],
    ),
    "an approval by the submitting key": Case(
        "officer_1",
        _on("waiting", "/approve"),
        {},
        409,
        "FOUR_EYES",
        ("submitted",),
    ),
    "a partner approving another lender's loan": Case(
        "stranger",
        _on("cash", "/approve"),
        {},
        404,
        "LOAN_NOT_FOUND",
        ("no loan",),
    ),
    "a partner disbursing on another lender's loan": Case(
        "stranger",
        _on("cash"),
        _cash(),
        404,
        "LOAN_NOT_FOUND",
        ("no loan",),
    ),
    "a partner inspecting another lender's loan": Case(
        "stranger",
        _on("cash", "/inspections"),
        {"milestone": "foundation", "inspected_on": "2025-05-20", "inspector": "Vuthy", "passed": True},
        404,
        "LOAN_NOT_FOUND",
        ("no loan",),
    ),
    "a partner withdrawing another lender's loan": Case(
        "stranger",
        _on("waiting", "/withdraw"),
        {},
        404,
        "LOAN_NOT_FOUND",
        ("no loan",),
    ),
    "a partner reading another lender's schedule": Case(
        "stranger",
        _on("cash", "/schedule"),
        None,
        404,
        "LOAN_NOT_FOUND",
        ("no loan",),
        method="GET",
    ),
    "a partner reading another lender's history": Case(
        "stranger",
        _on("kind", "/history"),
        None,
        404,
        "LOAN_NOT_FOUND",
        ("no loan",),
        method="GET",
    ),
    "an unknown milestone": Case(
        "partner_1",
        _on("cash"),
        _cash("500", "garden"),
        422,
        "UNKNOWN_MILESTONE",
        ("foundation, structure, roof, finishing",),
        ["body", "milestone"],
    ),
    "materials on a cash loan": Case(
        "admin",
        _on("cash"),
        _materials(("CEMENT-50KG", "1"), on="2025-04-15"),
        422,
        "WRONG_DISBURSEMENT_KIND",
        ("materials-bank loans only",),
        ["body", "kind"],
    ),
    "cash on a materials loan": Case(
        "admin",
        _on("kind"),
        _cash("100", "foundation", "2025-02-03"),
        422,
        "WRONG_DISBURSEMENT_KIND",
        ("in kind",),
        ["body", "kind"],
    ),
    "a negative tranche": Case(
        "partner_1",
        _on("cash"),
        _cash("-500"),
        422,
        "VALIDATION_ERROR",
        ("invalid fields",),
        ["body", "amount"],
        msg="greater than 0",
    ),
    "a fraction of a cent": Case(
        "partner_1",
        _on("fresh"),
        _cash("500.005", "foundation", "2025-05-06"),
        422,
        "TOO_MANY_DECIMALS",
        ("USD",),
        ["body", "amount"],
    ),
    "cash with material lines": Case(
        "partner_1",
        _on("cash"),
        _cash() | {"lines": [{"sku": "SAND-M3", "quantity": "1"}]},
        422,
        "VALIDATION_ERROR",
        ("invalid fields",),
        ["body"],
        msg="no lines",
    ),
    "an approval of a loan that does not exist": Case(
        "officer_2",
        lambda w: "/v1/loans/no-such-loan/approve",
        {},
        404,
        "LOAN_NOT_FOUND",
        ("no-such-loan",),
    ),
    "a reused idempotency key": Case(
        "officer_1",
        _on("kind"),
        _materials(("CEMENT-50KG", "2")),
        409,
        "IDEMPOTENCY_KEY_REUSED",
        ("Idempotency-Key", "different request"),
        headers={"Idempotency-Key": "delivery-0203"},
    ),
}


def _documented(app, method: str, path: str) -> set[int]:
    """The statuses the OpenAPI document lists for the route serving `path`."""
    spec = app.openapi()["paths"]
    for template, operations in spec.items():
        parts, actual = template.strip("/").split("/"), path.strip("/").split("/")
        if (
            len(parts) == len(actual)
            and all(p.startswith("{") or p == a for p, a in zip(parts, actual, strict=True))
            and method.lower() in operations
        ):
            return {int(s) for s in operations[method.lower()]["responses"] if s.isdigit()}
    raise AssertionError(f"no documented route for {method} {path}")


@pytest.mark.parametrize("name", list(CASES))
def test_bad_lending_input_is_refused_and_changes_nothing(app, client, world, db_state, name):
    case = CASES[name]
    if name == "a reused idempotency key":
        # the key was spent on a delivery of one bag; the second request asks for two
        used = client.post(
            f"/v1/loans/{world['kind']}/disbursements",
            headers={**world["officer_1"], "Idempotency-Key": "delivery-0203"},
            json=_materials(("CEMENT-50KG", "1")),
        )
        assert used.status_code == 201, used.text
    path = case.path(world)
    before = db_state()
    headers = {**world[case.who], **case.headers}
    response = client.request(case.method, path, headers=headers, json=case.body)
    problem = assert_problem(response, case.status, case.code)
    assert problem["instance"] == path
    for phrase in case.detail:
        assert phrase in problem["detail"], (phrase, problem["detail"])
    if case.loc is not None:
        assert case.loc in [e["loc"] for e in problem["errors"]], problem
        said = next(e["msg"] for e in problem["errors"] if e["loc"] == case.loc)
        assert said and (case.msg is None or case.msg in said), said
    assert case.status in _documented(app, case.method, path)
    assert db_state() == before
