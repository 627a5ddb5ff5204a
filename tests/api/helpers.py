"""Small factories that build registry data through HTTP, so every API test starts from real requests.

Each factory asserts the 201 and returns the created resource as JSON. Names are unique per call,
so tests can create as many as they need without tripping the uniqueness rules.
"""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from loansvc.db.models import Consent
from loansvc.registry.service import link_household_to_lender

PROBLEM = "application/problem+json"

_serial = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix} {next(_serial)}"


def _created(response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return response.json()


def lender_body(**overrides: Any) -> dict[str, Any]:
    return {"name": unique("Test MFI"), "kind": "mfi", "default_currency": "USD", **overrides}


def product_body(lender_id: str, **overrides: Any) -> dict[str, Any]:
    """An 18 %/year declining-balance USD home loan of 250 to 5,000 over 12 to 48 months."""
    return {
        "lender_id": lender_id,
        "name": unique("Home building loan"),
        "currency": "USD",
        "annual_rate_percent": "18",
        "interest_method": "declining_balance",
        "amortization": "equal_installments",
        "frequency": "monthly",
        "interest_calculation": "per_period",
        "day_count": "actual/365",
        "min_amount": "250",
        "max_amount": "5000",
        "min_term": 12,
        "max_term": 48,
        "fees": [],
        "max_grace_principal_periods": 3,
        **overrides,
    }


def site_body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": unique("Stung Mean Chey block"),
        "district": "Mean Chey",
        "city": "Phnom Penh",
        **overrides,
    }


def household_body(site_id: str, **overrides: Any) -> dict[str, Any]:
    """A garment worker's family of four on a titled parcel, with one small MFI debt."""
    return {
        "site_id": site_id,
        "parcel_code": unique("SMC").replace(" ", "-"),
        "title_number": unique("PP-MC-2024").replace(" ", "-"),
        "head_name": "Sok Sreymom",
        "phone": "012 345 678",
        "household_size": 4,
        "idpoor_level": 0,
        "vulnerabilities": ["female_headed"],
        "temporary_shelter": True,
        "incomes": [
            {"source": "garment wage", "amount": "208", "frequency": "monthly", "currency": "USD"},
            {"source": "moto-taxi", "amount": "10.50", "frequency": "daily", "currency": "USD"},
        ],
        "expenses": [
            {"category": "food", "amount": "120", "frequency": "monthly"},
            {"category": "health", "amount": "15.25", "frequency": "monthly"},
        ],
        "existing_debts": [
            {
                "lender": "an MFI outside the programme",
                "installment": "45",
                "frequency": "monthly",
                "outstanding": "900",
            },
        ],
        **overrides,
    }


def create_lender(client: TestClient, admin: dict[str, str], **overrides: Any) -> dict[str, Any]:
    return _created(client.post("/v1/lenders", headers=admin, json=lender_body(**overrides)))


def create_product(
    client: TestClient, headers: dict[str, str], lender_id: str, **overrides: Any
) -> dict[str, Any]:
    return _created(client.post("/v1/products", headers=headers, json=product_body(lender_id, **overrides)))


def create_site(client: TestClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    return _created(client.post("/v1/sites", headers=headers, json=site_body(**overrides)))


def create_household(
    client: TestClient, headers: dict[str, str], site_id: str, **overrides: Any
) -> dict[str, Any]:
    return _created(client.post("/v1/households", headers=headers, json=household_body(site_id, **overrides)))


def link_household(session: Session, household_id: str, lender_id: str) -> None:
    """The household consented (long ago, on a signed form) to share its file with the lender and
    applied to it, so the lender's partner keys see it."""
    session.add(
        Consent(
            household_id=household_id,
            lender_id=lender_id,
            given_on=date(2020, 1, 1),
            method="signed_form",
            reference=unique("CF").replace(" ", "-"),
            recorded_by="tests",
        )
    )
    link_household_to_lender(session, household_id, lender_id)
    session.commit()


def assert_problem(response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is RFC 9457 problem details with the given status (and code, when given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    body = response.json()
    for field in ("type", "title", "status", "detail", "code"):
        assert field in body, f"{field} missing from {body}"
    assert body["status"] == status
    assert body["code"] and body["code"] == body["code"].upper()
    if code is not None:
        assert body["code"] == code, body
    return body
