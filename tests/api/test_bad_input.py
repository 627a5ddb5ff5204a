"""Bad input is refused with 4xx problem details, never a 500, and leaves the database unchanged.

Each case starts from a body that is accepted (see the control tests) and breaks one thing in it,
so the refusal can only be about that thing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.helpers import (
    assert_problem,
    create_household,
    create_lender,
    create_site,
    household_body,
    lender_body,
    product_body,
    site_body,
)

TEN_MB = 10 * 1024 * 1024


@pytest.fixture()
def seeded(client, admin, officer):
    """A lender, a site and a household already recorded, so 'unchanged' means something."""
    lender = create_lender(client, admin)
    site = create_site(client, officer)
    household = create_household(client, officer, site["id"])
    return {"lender": lender, "site": site, "household": household, "admin": admin, "officer": officer}


@dataclass
class Case:
    """A request built from the seeded world; `field` is the input the refusal must point at."""

    method: str
    path: Callable[[dict], str]
    body: Callable[[dict], Any] | None = None
    raw: bytes | None = None
    status: int = 422
    field: str | None = None
    as_role: str = "admin"


def _product(**changes):
    return Case("POST", lambda w: "/v1/products", lambda w: product_body(w["lender"]["id"], **changes))


def _product_field(name: str, value: Any, status: int = 422) -> Case:
    case = _product(**{name: value})
    case.field, case.status = name, status
    return case


def _household(field_name: str | None, **changes) -> Case:
    return Case(
        "POST",
        lambda w: "/v1/households",
        lambda w: household_body(w["site"]["id"], **changes),
        field=field_name,
        as_role="officer",
    )


def _patch(field_name: str | None, body: dict) -> Case:
    return Case(
        "PATCH",
        lambda w: f"/v1/households/{w['household']['id']}",
        lambda w: body,
        field=field_name,
        as_role="officer",
    )


NEGATIVE_EXPENSE = [{"category": "food", "amount": "-20", "frequency": "monthly"}]

CASES: dict[str, Case] = {
    # products: amounts, currency, terms, enums
    "product min_amount zero": _product_field("min_amount", "0"),
    "product min_amount negative": _product_field("min_amount", "-5"),
    "product max_amount zero": _product_field("max_amount", "0"),
    "product amount as a JSON float": _product_field("min_amount", 1.5),
    "product amount as a boolean": _product_field("min_amount", True),
    "product amount NaN": _product_field("min_amount", "NaN"),
    "product amount Infinity": _product_field("max_amount", "Infinity"),
    "product amount not a number": _product_field("min_amount", "two hundred"),
    "product amount over the bound": _product_field("max_amount", "10000000000000"),
    "product amount with a cent fraction in USD": _product_field("min_amount", "10.001"),
    "product fee with a fraction of a cent": _product_field(
        "fees", [{"name": "insurance", "amount": "2.255"}]
    ),
    "product installment multiple with a fraction of a cent": _product_field("installment_multiple", "0.001"),
    "product negative rate": _product_field("annual_rate_percent", "-1"),
    "product unknown currency": _product_field("currency", "XXX"),
    "product min_term zero": _product_field("min_term", 0),
    "product negative term": _product_field("max_term", -12),
    "product unknown frequency": _product_field("frequency", "fortnightly"),
    "product unknown interest method": _product_field("interest_method", "add_on"),
    "product name over 200 characters": _product_field("name", "H" * 201),
    "product empty name": _product_field("name", "   "),
    "product unknown field": _product_field("colour", "red"),
    "product unknown lender": Case(
        "POST", lambda w: "/v1/products", lambda w: product_body(str(uuid.uuid4())), field="lender_id"
    ),
    "product max_amount below min_amount": _product(min_amount="5000", max_amount="250"),
    "product max_term below min_term": _product(min_term=48, max_term=12),
    "product negative fee": _product_field("fees", [{"name": "administration", "amount": "-1"}]),
    "product fee percent over 100": _product_field("fees", [{"name": "administration", "percent": "101"}]),
    "riel product with a fraction of a riel": Case(
        "POST",
        lambda w: "/v1/products",
        lambda w: product_body(
            w["lender"]["id"], currency="KHR", min_amount="1000000.5", max_amount="4000000"
        ),
        field="min_amount",
    ),
    # lenders and sites
    "lender unknown kind": Case(
        "POST", lambda w: "/v1/lenders", lambda w: lender_body(kind="bank"), field="kind"
    ),
    "lender unknown currency": Case(
        "POST",
        lambda w: "/v1/lenders",
        lambda w: lender_body(default_currency="XXX"),
        field="default_currency",
    ),
    "lender name over 200 characters": Case(
        "POST", lambda w: "/v1/lenders", lambda w: lender_body(name="M" * 201), field="name"
    ),
    "site unknown field": Case(
        "POST", lambda w: "/v1/sites", lambda w: site_body(owner="city hall"), field="owner"
    ),
    "site city over 200 characters": Case(
        "POST", lambda w: "/v1/sites", lambda w: site_body(city="P" * 201), field="city", as_role="officer"
    ),
    # households
    "household idpoor_level 3": _household("idpoor_level", idpoor_level=3),
    "household unknown site": Case(
        "POST",
        lambda w: "/v1/households",
        lambda w: household_body(str(uuid.uuid4())),
        field="site_id",
        as_role="officer",
    ),
    "household negative expense": _household("expenses", expenses=NEGATIVE_EXPENSE),
    "household income as a JSON float": _household(
        "incomes", incomes=[{"source": "garment wage", "amount": 208.5, "frequency": "monthly"}]
    ),
    "household income fortnightly": _household(
        "incomes", incomes=[{"source": "garment wage", "amount": "208", "frequency": "fortnightly"}]
    ),
    "household income unknown currency": _household(
        "incomes", incomes=[{"source": "garment wage", "amount": "208", "currency": "XXX"}]
    ),
    "household debt installment zero": _household(
        "existing_debts", existing_debts=[{"lender": "an MFI", "installment": "0", "outstanding": "100"}]
    ),
    "household size zero": _household("household_size", household_size=0),
    "household unknown vulnerability": _household("vulnerabilities", vulnerabilities=["unlucky"]),
    "household head name over 200 characters": _household("head_name", head_name="S" * 201),
    "household parcel code over 50 characters": _household("parcel_code", parcel_code="P" * 51),
    "household phone with letters": _household("phone", phone="call me maybe"),
    "household unknown field": _household("religion", religion="none of your business"),
    # patches
    "patch idpoor_level 3": _patch("idpoor_level", {"idpoor_level": 3}),
    "patch negative expense": _patch("expenses", {"expenses": NEGATIVE_EXPENSE}),
    "patch unknown field": _patch("site", {"site": "elsewhere"}),
    "patch head name to null": _patch("head_name", {"head_name": None}),
    "patch household size to null": _patch("household_size", {"household_size": None}),
    # NUL characters: PostgreSQL cannot store or compare them
    "a NUL character in a lender name": Case(
        "POST", lambda w: "/v1/lenders", lambda w: lender_body(name="Angkor\u0000Housing")
    ),
    "a NUL character in an income source": _household(
        None, incomes=[{"source": "garment\u0000wage", "amount": "208", "frequency": "monthly"}]
    ),
    "a NUL character in a patched name": _patch(None, {"head_name": "Sok\u0000Dara"}),
    "a NUL character in an id": Case("GET", lambda w: f"/v1/lenders/{w['lender']['id']}%00", status=400),
    "a NUL character in a query": Case(
        "GET", lambda w: "/v1/households?site_id=%00", status=400, as_role="officer"
    ),
    "a NUL character in a key name": Case("DELETE", lambda w: "/v1/api-keys/demo%00admin", status=400),
    "an api key for an over-long lender id": Case(
        "POST",
        lambda w: "/v1/api-keys",
        lambda w: {"name": "p", "role": "partner", "lender_id": "x" * 37},
        field="lender_id",
    ),
    # bodies that are not JSON objects, or far too large
    "malformed JSON": Case("POST", lambda w: "/v1/products", raw=b"{bad", status=400),
    "truncated JSON": Case(
        "POST", lambda w: "/v1/households", raw=b'{"site_id": "', status=400, as_role="officer"
    ),
    "a JSON array instead of an object": Case("POST", lambda w: "/v1/lenders", lambda w: [lender_body()]),
    "an empty body": Case("POST", lambda w: "/v1/lenders", raw=b""),
    "a 10 MB product": Case(
        "POST", lambda w: "/v1/products", raw=b'{"name": "' + b"x" * TEN_MB + b'"}', status=413
    ),
    "a 10 MB household patch": Case(
        "PATCH",
        lambda w: f"/v1/households/{w['household']['id']}",
        raw=b'{"head_name": "' + b"x" * TEN_MB + b'"}',
        status=413,
        as_role="officer",
    ),
}


def _send(client, case: Case, world: dict):
    headers = dict(world[case.as_role])
    kwargs: dict[str, Any] = {}
    if case.raw is not None:
        headers["content-type"] = "application/json"
        kwargs["content"] = case.raw
    elif case.body is not None:
        kwargs["json"] = case.body(world)
    return client.request(case.method, case.path(world), headers=headers, **kwargs)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_refused_and_changes_nothing(client, seeded, db_state, name):
    case = CASES[name]
    before = db_state()

    response = _send(client, case, seeded)

    body = assert_problem(response, case.status)
    if case.field is not None:
        locs = [error["loc"] for error in body.get("errors") or []]
        assert any(case.field in loc for loc in locs), f"no error points at {case.field}: {body}"
    assert db_state() == before


def test_a_streamed_10_mb_body_is_refused_and_changes_nothing(client, seeded, db_state):
    """Without a Content-Length the limit is enforced while reading, with the same 413."""

    def ten_mb():
        yield b'{"name": "'
        for _ in range(10):
            yield b"x" * (1024 * 1024)
        yield b'", "kind": "mfi"}'

    before = db_state()
    headers = {**seeded["admin"], "content-type": "application/json"}
    assert_problem(client.post("/v1/lenders", headers=headers, content=ten_mb()), 413)
    assert db_state() == before


# Controls: the bodies the cases break are accepted as they are -----------------------------------


def test_the_unbroken_bodies_are_accepted(client, seeded):
    admin, officer = seeded["admin"], seeded["officer"]
    assert (
        client.post("/v1/products", headers=admin, json=product_body(seeded["lender"]["id"])).status_code
        == 201
    )
    riel = product_body(seeded["lender"]["id"], currency="KHR", min_amount="1000000", max_amount="4000000")
    assert client.post("/v1/products", headers=admin, json=riel).status_code == 201
    assert client.post("/v1/lenders", headers=admin, json=lender_body()).status_code == 201
    assert client.post("/v1/sites", headers=officer, json=site_body()).status_code == 201
    household = household_body(seeded["site"]["id"])
    assert client.post("/v1/households", headers=officer, json=household).status_code == 201
    patch = {"idpoor_level": 2, "expenses": [{"category": "food", "amount": "20", "frequency": "monthly"}]}
    url = f"/v1/households/{seeded['household']['id']}"
    assert client.patch(url, headers=officer, json=patch).status_code == 200


def test_amounts_at_the_edges_are_accepted(client, seeded):
    """Four decimals are fine where the currency has them (rates); zero is a fine expense."""
    admin, officer = seeded["admin"], seeded["officer"]
    body = product_body(
        seeded["lender"]["id"],
        annual_rate_percent="17.9999",
        min_amount="0.01",
        installment_multiple="0.05",
        fees=[{"name": "insurance", "amount": "2.25"}, {"name": "administration", "percent": "1.25"}],
    )
    assert client.post("/v1/products", headers=admin, json=body).status_code == 201
    free = [{"category": "water (free standpipe)", "amount": "0", "frequency": "monthly"}]
    household = household_body(seeded["site"]["id"], expenses=free)
    assert client.post("/v1/households", headers=officer, json=household).status_code == 201
