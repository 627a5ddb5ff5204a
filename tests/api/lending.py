"""Factories for the lending tests: a materials bank and a partner MFI, an eligible family, and the
requests of a loan's life (apply, approve, deliver, release a tranche, inspect), each asserting
its success status and returning the JSON.

`business_day(monkeypatch, day)` sets the date the service believes is today, so a story can
move through the calendar and "never in the future" stays deterministic.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from loansvc.auth.service import create_key
from loansvc.web.clock import Clock
from tests.api.helpers import create_household, create_lender, create_product, create_site, unique


def business_day(monkeypatch, day: date) -> None:
    """From now on the service's "today" is `day`: the app's clock answers `day`."""
    monkeypatch.setattr(Clock, "today", lambda self, day=day: day)


def money(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


# The family of the stories: two earners, no declared debt.
#   income   360 (garment wage) + 240 (market vending) = 600.00 a month
#   expenses 150 (food) + 30 (water, power)          = 180.00 a month
ELIGIBLE_FINANCES: dict[str, Any] = {
    "incomes": [
        {"source": "garment wage", "amount": "360", "frequency": "monthly", "currency": "USD"},
        {"source": "market vending", "amount": "240", "frequency": "monthly", "currency": "USD"},
    ],
    "expenses": [
        {"category": "food", "amount": "150", "frequency": "monthly"},
        {"category": "water and power", "amount": "30", "frequency": "monthly"},
    ],
    "existing_debts": [],
}

# A family whose income cannot carry any loan: 120 in, 150 out.
INELIGIBLE_FINANCES: dict[str, Any] = {
    "incomes": [{"source": "day labour", "amount": "120", "frequency": "monthly", "currency": "USD"}],
    "expenses": [{"category": "food", "amount": "150", "frequency": "monthly"}],
    "existing_debts": [],
}


def materials_product(client: TestClient, admin: dict, lender_id: str, **overrides: Any) -> dict:
    """The materials bank's in-kind loan: 0 %, 100 to 2,000 USD over 6 to 36 months."""
    terms = {
        "annual_rate_percent": "0",
        "min_amount": "100",
        "max_amount": "2000",
        "min_term": 6,
        "max_term": 36,
        "max_grace_principal_periods": 2,
        **overrides,
    }
    return create_product(client, admin, lender_id, **terms)


def cash_product(client: TestClient, admin: dict, lender_id: str, **overrides: Any) -> dict:
    """The partner MFI's home loan: 18 %/year declining balance, monthly, 250 to 5,000 over 12 to 48."""
    return create_product(client, admin, lender_id, **overrides)


# The people of the stories: API key name -> role (partner keys belong to the MFI).
KEY_NAMES = {
    "admin": ("programme admin", "admin"),
    "officer_1": ("Sokha, NGO loan officer", "loan_officer"),
    "officer_2": ("Dara, NGO loan officer", "loan_officer"),
    "partner_1": ("MFI credit officer", "partner"),
    "partner_2": ("MFI branch manager", "partner"),
    "finance": ("programme finance lead", "finance_lead"),
}


def named_key(session, name: str, role: str, lender_id: str | None = None) -> dict[str, str]:
    issued = create_key(session, name=name, role=role, lender_id=lender_id, created_by="tests")
    session.commit()
    return {"Authorization": f"Bearer {issued.key}"}


def lending_world(client: TestClient, session, **household: Any) -> dict[str, Any]:
    """A materials bank with its product, a partner MFI with its product and two partner keys,
    two loan officers, an admin, a finance lead, and an eligible family on a site."""
    admin = named_key(session, *KEY_NAMES["admin"])
    bank = create_lender(client, admin, kind="materials_bank")
    mfi = create_lender(client, admin)
    world: dict[str, Any] = {"admin": admin, "bank": bank, "mfi": mfi}
    for who in ("officer_1", "officer_2", "finance"):
        world[who] = named_key(session, *KEY_NAMES[who])
    for who in ("partner_1", "partner_2"):
        world[who] = named_key(session, *KEY_NAMES[who], lender_id=mfi["id"])
    world["site"] = create_site(client, world["officer_1"])
    world["household"] = create_household(
        client, world["officer_1"], world["site"]["id"], **{**ELIGIBLE_FINANCES, **household}
    )
    world["materials_product"] = materials_product(client, admin, bank["id"])
    world["cash_product"] = cash_product(client, admin, mfi["id"])
    return world


def consent(on: date | str | None = None, method: str = "signed_form") -> dict[str, str]:
    """The household's consent to share its file with the lender, as an application carries it
    (given on `on`, default the service's today)."""
    given_on = on if isinstance(on, str) else (on or Clock().today()).isoformat()
    return {"given_on": given_on, "method": method, "reference": unique("CF").replace(" ", "-")}


def application(
    household_id: str, product_id: str, amount: str, term: int, *, with_consent: bool = True, **extra: Any
) -> dict[str, Any]:
    """An application's body; it carries the household's consent (given on the day it is submitted)
    unless `with_consent=False` or a `consent` is passed (None: send none)."""
    body = {
        "household_id": household_id,
        "product_id": product_id,
        "amount": amount,
        "term": term,
        "purpose": "build the core house",
        **extra,
    }
    if with_consent and "consent" not in extra:
        body["consent"] = consent(extra.get("submitted_on"))
    if body.get("consent") is None:
        body.pop("consent", None)
    return body


def another_family(client: TestClient, world: dict[str, Any], **overrides: Any) -> dict:
    """A second eligible family on the world's site (one open application per household and lender:
    a test that needs two open applications to one lender gives them two families)."""
    body = {**ELIGIBLE_FINANCES, **overrides}
    return create_household(client, world["officer_1"], world["site"]["id"], **body)


def apply(
    client: TestClient,
    headers: dict,
    household_id: str,
    product_id: str,
    amount: str,
    term: int,
    **extra: Any,
) -> dict:
    """Apply (a 201), carrying the household's consent unless told otherwise (see `application`)."""
    body = application(household_id, product_id, amount, term, **extra)
    response = client.post("/v1/loans", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def approve(client: TestClient, headers: dict, loan_id: str, **body: Any) -> dict:
    response = client.post(f"/v1/loans/{loan_id}/approve", headers=headers, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def disburse(client: TestClient, headers: dict, loan_id: str, body: dict, **kwargs: Any) -> dict:
    response = client.post(f"/v1/loans/{loan_id}/disbursements", headers=headers, json=body, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()


def deliver(client: TestClient, headers: dict, loan_id: str, lines: dict[str, str], milestone: str, on: date):
    body = {
        "kind": "materials",
        "lines": [{"sku": sku, "quantity": q} for sku, q in lines.items()],
        "milestone": milestone,
        "date": on.isoformat(),
    }
    return disburse(client, headers, loan_id, body)


def release(client: TestClient, headers: dict, loan_id: str, amount: str, milestone: str, on: date):
    body = {"kind": "cash", "amount": amount, "milestone": milestone, "date": on.isoformat()}
    return disburse(client, headers, loan_id, body)


def inspect(
    client: TestClient, headers: dict, loan_id: str, milestone: str, on: date, passed: bool = True
) -> dict:
    body = {
        "milestone": milestone,
        "inspected_on": on.isoformat(),
        "inspector": "Chan Vuthy, site engineer",
        "passed": passed,
        "notes": "as built" if passed else "cracks in the footings",
    }
    response = client.post(f"/v1/loans/{loan_id}/inspections", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def add_material(client: TestClient, headers: dict, sku: str, name: str, unit: str, unit_cost: str) -> dict:
    body = {"sku": sku, "name": name, "unit": unit, "unit_cost": unit_cost, "currency": "USD"}
    response = client.post("/v1/materials", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def receive(
    client: TestClient,
    headers: dict,
    sku: str,
    quantity: str,
    on: date,
    unit_cost: str | None = None,
    **kwargs: Any,
) -> dict:
    body: dict[str, Any] = {"quantity": quantity, "supplier": "Mean Chey building supplies"}
    body["received_on"] = on.isoformat()
    if unit_cost is not None:
        body["unit_cost"] = unit_cost
    response = client.post(f"/v1/materials/{sku}/receipts", headers=headers, json=body, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()


def installments(client: TestClient, headers: dict, loan_id: str) -> list[tuple]:
    """The current schedule as (number, due date, principal, interest, total, balance) rows."""
    response = client.get(f"/v1/loans/{loan_id}/schedule", headers=headers)
    assert response.status_code == 200, response.text
    return [
        (
            i["number"],
            i["due_date"],
            Decimal(i["principal"]),
            Decimal(i["interest"]),
            Decimal(i["total"]),
            Decimal(i["balance"]),
        )
        for i in response.json()["installments"]
    ]


def stock(client: TestClient, headers: dict, sku: str) -> tuple[Decimal, Decimal, Decimal]:
    """(quantity_on_hand, unit_cost, stock_value) of a catalog line."""
    response = client.get(f"/v1/materials/{sku}", headers=headers)
    assert response.status_code == 200, response.text
    m = response.json()
    return Decimal(m["quantity_on_hand"]), Decimal(m["unit_cost"]), Decimal(m["stock_value"])


def late_fee_loan(client: TestClient, session, monkeypatch) -> tuple[dict[str, Any], str]:
    """A 1,200.00 loan over 12 months on a product with a 5.00 late fee once an installment is more
    than 10 days overdue: applied on 5 January 2026, approved by the second partner key, released
    whole on 10 January (installments due on the 10th). The lending world and the loan's id."""
    world = lending_world(client, session)
    fee = {"late_fee": "5.00", "late_fee_after_days": 10}
    product = cash_product(client, world["admin"], world["mfi"]["id"], **fee)
    business_day(monkeypatch, date(2026, 1, 5))
    applied = apply(client, world["partner_1"], world["household"]["id"], product["id"], "1200", 12)
    approve(client, world["partner_2"], applied["id"])
    business_day(monkeypatch, date(2026, 1, 10))
    release(client, world["partner_1"], applied["id"], "1200", "foundation", date(2026, 1, 10))
    return world, applied["id"]
