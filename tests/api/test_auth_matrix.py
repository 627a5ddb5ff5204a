"""Who may call what: every route against every kind of caller, and partner scoping by lender.

The table below is the contract. A new endpoint fails `test_the_table_lists_every_route` until it
is added here with the roles that may call it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid

import pytest
from fastapi.routing import APIRoute

from loansvc.auth.service import create_key, revoke_key
from tests.api.helpers import (
    assert_problem,
    create_household,
    create_lender,
    create_product,
    create_site,
    link_household,
    product_body,
)

ADMIN, OFFICER, FINANCE, PARTNER = "admin", "loan_officer", "finance_lead", "partner"
EVERYONE = frozenset({ADMIN, OFFICER, FINANCE, PARTNER})

# (method, path template) -> the roles that may call it. Admin may do everything.
ROUTES: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/v1/api-keys"): frozenset({ADMIN}),
    ("GET", "/v1/api-keys"): frozenset({ADMIN}),
    ("DELETE", "/v1/api-keys/{name}"): frozenset({ADMIN}),
    ("POST", "/v1/lenders"): frozenset({ADMIN}),
    ("GET", "/v1/lenders"): EVERYONE,
    ("GET", "/v1/lenders/{lender_id}"): EVERYONE,
    ("POST", "/v1/products"): frozenset({ADMIN, PARTNER}),
    ("GET", "/v1/products"): EVERYONE,
    ("GET", "/v1/products/{product_id}"): EVERYONE,
    ("POST", "/v1/sites"): frozenset({ADMIN, OFFICER}),
    ("GET", "/v1/sites"): EVERYONE,
    ("GET", "/v1/sites/{site_id}"): EVERYONE,
    ("POST", "/v1/households"): frozenset({ADMIN, OFFICER}),
    ("GET", "/v1/households"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("GET", "/v1/households/{household_id}"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("PATCH", "/v1/households/{household_id}"): frozenset({ADMIN, OFFICER}),
    # consent to share a family's file: NGO loan officers record it and its withdrawal
    ("POST", "/v1/households/{household_id}/consents"): frozenset({ADMIN, OFFICER}),
    ("DELETE", "/v1/households/{household_id}/consents/{consent_id}"): frozenset({ADMIN, OFFICER}),
    ("POST", "/v1/schedules/simulate"): EVERYONE,
    ("POST", "/v1/schedules/key-facts.pdf"): EVERYONE,
    ("POST", "/v1/schedules/compare"): EVERYONE,
    ("POST", "/v1/rates/apr"): EVERYONE,
    # the materials bank: NGO staff run it; finance leads may audit stock movements
    ("POST", "/v1/materials"): frozenset({ADMIN, OFFICER}),
    ("GET", "/v1/materials"): EVERYONE,
    ("GET", "/v1/materials/{sku}"): EVERYONE,
    ("POST", "/v1/materials/{sku}/receipts"): frozenset({ADMIN, OFFICER}),
    ("GET", "/v1/materials/{sku}/movements"): frozenset({ADMIN, OFFICER, FINANCE}),
    # affordability: NGO staff and partners assess; finance leads read policies only
    ("POST", "/v1/affordability/assess"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("POST", "/v1/households/{household_id}/assessments"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("GET", "/v1/households/{household_id}/assessments"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("GET", "/v1/assessments/{assessment_id}"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("POST", "/v1/assessments/{assessment_id}/replay"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("GET", "/v1/policies"): EVERYONE,
    ("GET", "/v1/policies/{version}"): EVERYONE,
    ("POST", "/v1/policies"): frozenset({ADMIN}),
    ("POST", "/v1/housing-models"): frozenset({ADMIN, OFFICER}),
    ("GET", "/v1/housing-models"): EVERYONE,
    ("GET", "/v1/housing-models/{code}"): EVERYONE,
    # financing plans: NGO staff, and partners for the households that applied to them
    ("POST", "/v1/households/{household_id}/financing-plan"): frozenset({ADMIN, OFFICER, PARTNER}),
    # programme coverage: the programme's designers and finance leads, never a partner
    ("POST", "/v1/analysis/coverage"): frozenset({ADMIN, OFFICER, FINANCE}),
    # loans: finance leads read them (no personal data); officers and partners act on them
    ("POST", "/v1/loans"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("GET", "/v1/loans"): EVERYONE,
    ("GET", "/v1/loans/{loan_id}"): EVERYONE,
    ("POST", "/v1/loans/{loan_id}/approve"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("POST", "/v1/loans/{loan_id}/reject"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("POST", "/v1/loans/{loan_id}/withdraw"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("POST", "/v1/loans/{loan_id}/disbursements"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("GET", "/v1/loans/{loan_id}/disbursements"): EVERYONE,
    ("POST", "/v1/loans/{loan_id}/inspections"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("GET", "/v1/loans/{loan_id}/inspections"): EVERYONE,
    ("GET", "/v1/loans/{loan_id}/milestones"): EVERYONE,
    ("GET", "/v1/loans/{loan_id}/schedule"): EVERYONE,
    ("GET", "/v1/loans/{loan_id}/schedule.pdf"): EVERYONE,
    ("GET", "/v1/loans/{loan_id}/key-facts.pdf"): EVERYONE,
    ("GET", "/v1/loans/{loan_id}/history"): frozenset({ADMIN, OFFICER, PARTNER}),
    # the loan officer's review an assessment asks for (ID Poor): officers record, everyone reads
    ("POST", "/v1/loans/{loan_id}/reviews"): frozenset({ADMIN, OFFICER}),
    ("GET", "/v1/loans/{loan_id}/reviews"): EVERYONE,
    # repayments: partners collect on their loans, loan officers on materials-bank loans
    ("POST", "/v1/loans/{loan_id}/repayments"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("GET", "/v1/loans/{loan_id}/repayments"): EVERYONE,
    ("POST", "/v1/repayments/{repayment_id}/reverse"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("POST", "/v1/loans/{loan_id}/restructures"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("GET", "/v1/loans/{loan_id}/restructures"): EVERYONE,
    ("GET", "/v1/restructures/{restructure_id}"): EVERYONE,
    ("POST", "/v1/restructures/{restructure_id}/approve"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("POST", "/v1/restructures/{restructure_id}/reject"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("GET", "/v1/loans/{loan_id}/payoff"): EVERYONE,
    ("GET", "/v1/loans/{loan_id}/schedule/versions"): EVERYONE,
    ("GET", "/v1/holidays"): EVERYONE,
    ("POST", "/v1/holidays"): frozenset({ADMIN}),
    ("DELETE", "/v1/holidays/{holiday_id}"): frozenset({ADMIN}),
    ("PUT", "/v1/lenders/{lender_id}/working-days"): frozenset({ADMIN}),
    ("POST", "/v1/repayments/import"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("GET", "/v1/loans/{loan_id}/arrears"): EVERYONE,
    ("POST", "/v1/loans/{loan_id}/write-off"): frozenset({ADMIN, OFFICER, PARTNER}),
    # reports: partners see their own lender only; finance leads get the delinquent list without
    # names, phones or parcel codes (no personal data)
    ("GET", "/v1/reports/portfolio"): EVERYONE,
    ("GET", "/v1/reports/delinquent-loans"): EVERYONE,
    ("GET", "/v1/reports/charts/par-trend.png"): EVERYONE,
    ("GET", "/v1/reports/charts/aging.png"): EVERYONE,
    # client protection: the holding lender's partner keys and loan officers record and release
    # collateral, record contacts and complaints; finance leads get the reports only
    ("POST", "/v1/loans/{loan_id}/collateral"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("GET", "/v1/loans/{loan_id}/collateral"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("POST", "/v1/collateral/{collateral_id}/release"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("POST", "/v1/loans/{loan_id}/contacts"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("GET", "/v1/loans/{loan_id}/contacts"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("POST", "/v1/complaints"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("GET", "/v1/complaints"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("GET", "/v1/complaints/{complaint_id}"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("PATCH", "/v1/complaints/{complaint_id}"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("GET", "/v1/reports/titles"): EVERYONE,
    ("GET", "/v1/reports/complaints"): EVERYONE,
    ("GET", "/v1/reports/collections"): EVERYONE,
    # reminders and webhooks: an admin runs reminders; a lender's partner keys set its rules and
    # register its webhooks; officers and partners record a household's opt-out
    ("POST", "/v1/reminders/run"): frozenset({ADMIN}),
    ("GET", "/v1/reminders/outbox"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("GET", "/v1/households/{household_id}/messages"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("GET", "/v1/lenders/{lender_id}/reminder-rules"): EVERYONE,
    ("PUT", "/v1/lenders/{lender_id}/reminder-rules"): frozenset({ADMIN, PARTNER}),
    ("GET", "/v1/households/{household_id}/reminders-opt-out"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("POST", "/v1/households/{household_id}/reminders-opt-out"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("DELETE", "/v1/households/{household_id}/reminders-opt-out"): frozenset({ADMIN, OFFICER, PARTNER}),
    ("POST", "/v1/webhooks"): frozenset({ADMIN, PARTNER}),
    ("GET", "/v1/webhooks"): frozenset({ADMIN, PARTNER}),
    ("GET", "/v1/webhooks/{webhook_id}"): frozenset({ADMIN, PARTNER}),
    ("DELETE", "/v1/webhooks/{webhook_id}"): frozenset({ADMIN, PARTNER}),
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): frozenset({ADMIN, PARTNER}),
}

OPEN_PATHS = {"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _api_routes(app) -> list[tuple[str, str]]:
    """(method, path) of every APIRoute, looking inside included routers where FastAPI nests them."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI keeps included routes flat in app.routes
        contexts = [(route, route.path, route.methods) for route in app.routes]
    else:
        contexts = [(rc.original_route, rc.path, rc.methods) for rc in iter_route_contexts(app.routes)]
    found = []
    for route, path, methods in contexts:
        if not isinstance(route, APIRoute) or path in OPEN_PATHS or path == "/" or path.startswith("/ui/"):
            continue  # the pages (/ui/) sign in with a session cookie, not an API key
        found.extend((method, path) for method in methods if method != "HEAD")
    return found


def test_the_table_lists_every_route(app):
    routes = _api_routes(app)
    assert len(routes) == len(set(routes)), "a (method, path) pair is declared twice"
    assert set(routes) == set(ROUTES)


def test_admin_is_allowed_everywhere():
    assert all(ADMIN in roles for roles in ROUTES.values())


@pytest.fixture()
def world(client, session, make_key, admin, officer):
    """Lender A with a partner key, lender B, a product of each, a site and a household linked to A."""
    lender_a = create_lender(client, admin)
    lender_b = create_lender(client, admin)
    product_a = create_product(client, admin, lender_a["id"])
    product_b = create_product(client, admin, lender_b["id"])
    site = create_site(client, officer)
    household = create_household(client, officer, site["id"])
    link_household(session, household["id"], lender_a["id"])
    victim = create_key(session, name="matrix-victim", role=FINANCE, lender_id=None, created_by="tests")
    revoked = create_key(session, name="matrix-revoked", role=ADMIN, lender_id=None, created_by="tests")
    revoke_key(session, "matrix-revoked")
    session.commit()
    keys = {
        ADMIN: admin,
        OFFICER: officer,
        FINANCE: make_key(FINANCE),
        PARTNER: make_key(PARTNER, lender_a["id"]),
    }
    return {
        "keys": keys,
        "lender_a": lender_a,
        "lender_b": lender_b,
        "product_a": product_a,
        "product_b": product_b,
        "site": site,
        "household": household,
        "victim": victim,
        "revoked_key": revoked.key,
    }


def _url(template: str, world) -> tuple[str, bool]:
    """The route's URL with real ids where the world has them; False when a parameter had to be
    made up (the role check must still answer first, but a GET cannot be expected to find it)."""
    known = {
        "name": world["victim"].record.name,
        "lender_id": world["lender_a"]["id"],
        "product_id": world["product_a"]["id"],
        "site_id": world["site"]["id"],
        "household_id": world["household"]["id"],
    }
    params = re.findall(r"{(\w+)}", template)
    values = {param: known.get(param, f"no-such-{param}") for param in params}
    return template.format(**values), all(param in known for param in params)


def _call(client, method: str, url: str, headers: dict[str, str]):
    # An empty JSON object: the role check must answer before the body is validated.
    body = {"json": {}} if method in {"POST", "PATCH", "PUT"} else {}
    return client.request(method, url, headers=headers, **body)


@pytest.mark.parametrize(("method", "template"), sorted(ROUTES), ids=lambda v: str(v))
def test_route_admits_exactly_its_roles(client, world, method, template):
    url, all_known = _url(template, world)
    valid_admin_key = world["keys"][ADMIN]["Authorization"].removeprefix("Bearer ")

    refused = {
        "no key": {},
        "another scheme": {"Authorization": f"Token {valid_admin_key}"},
        "bare token": {"Authorization": valid_admin_key},
        "empty bearer": {"Authorization": "Bearer "},
        "unknown key": {"Authorization": f"Bearer lsk_{secrets.token_urlsafe(32)}"},
        "revoked key": {"Authorization": f"Bearer {world['revoked_key']}"},
    }
    for label, headers in refused.items():
        response = _call(client, method, url, headers)
        assert response.status_code == 401, f"{label}: {response.status_code} {response.text}"
        assert_problem(response, 401)
        assert response.headers.get("www-authenticate", "").lower().startswith("bearer")

    allowed = ROUTES[(method, template)]
    for role in sorted(EVERYONE - allowed):
        response = _call(client, method, url, world["keys"][role])
        assert response.status_code == 403, f"{role}: {response.status_code} {response.text}"
        assert_problem(response, 403)

    # a refused DELETE must not have revoked the key it named
    assert (
        client.get("/v1/lenders", headers={"Authorization": f"Bearer {world['victim'].key}"}).status_code
        == 200
    )

    for role in sorted(allowed):
        response = _call(client, method, url, world["keys"][role])
        assert response.status_code not in (401, 403), f"{role}: {response.status_code} {response.text}"
        assert response.status_code < 500, response.text
        if method == "GET" and all_known:
            assert response.status_code == 200, f"{role}: {response.text}"


# Partner scoping -----------------------------------------------------------------------------------


def test_partner_gets_404_on_another_lenders_product_exactly_as_on_a_missing_one(client, world):
    partner = world["keys"][PARTNER]
    hidden = assert_problem(client.get(f"/v1/products/{world['product_b']['id']}", headers=partner), 404)
    missing = assert_problem(client.get(f"/v1/products/{uuid.uuid4()}", headers=partner), 404)
    assert hidden["code"] == missing["code"]
    assert world["product_b"]["name"] not in str(hidden)


def test_partner_sees_its_own_lenders_product(client, world):
    response = client.get(f"/v1/products/{world['product_a']['id']}", headers=world["keys"][PARTNER])
    assert response.status_code == 200
    assert response.json()["id"] == world["product_a"]["id"]
    assert response.json()["lender_id"] == world["lender_a"]["id"]


def test_partner_lists_only_its_lenders_products(client, world, admin):
    second_a = create_product(client, admin, world["lender_a"]["id"])
    partner = world["keys"][PARTNER]
    listed = client.get("/v1/products", headers=partner).json()
    assert {p["id"] for p in listed["items"]} == {world["product_a"]["id"], second_a["id"]}
    assert listed["total"] == 2
    # asking for the other lender's products reveals nothing
    other = client.get("/v1/products", headers=partner, params={"lender_id": world["lender_b"]["id"]}).json()
    assert other["items"] == []
    assert other["total"] == 0
    # an admin sees both lenders' products
    everything = client.get("/v1/products", headers=admin, params={"limit": 500}).json()
    assert {world["product_a"]["id"], world["product_b"]["id"]} <= {p["id"] for p in everything["items"]}


def test_partner_sees_a_household_only_once_it_consented_to_its_lender(client, session, world, officer):
    partner = world["keys"][PARTNER]
    applied_to_b = create_household(client, officer, world["site"]["id"])
    link_household(session, applied_to_b["id"], world["lender_b"]["id"])  # consented to B, applied to B

    hidden = assert_problem(client.get(f"/v1/households/{applied_to_b['id']}", headers=partner), 404)
    missing = assert_problem(client.get(f"/v1/households/{uuid.uuid4()}", headers=partner), 404)
    assert hidden["code"] == missing["code"]
    assert applied_to_b["head_name"] not in str(hidden)
    listed = client.get("/v1/households", headers=partner).json()
    assert [h["id"] for h in listed["items"]] == [world["household"]["id"]]
    assert listed["total"] == 1

    # the family now consents to share its file with lender A as well: A's partner may see it
    consent = {"lender_id": world["lender_a"]["id"], "given_on": "2025-01-06", "method": "thumbprint"}
    response = client.post(f"/v1/households/{applied_to_b['id']}/consents", headers=officer, json=consent)
    assert response.status_code == 201, response.text
    seen = client.get(f"/v1/households/{applied_to_b['id']}", headers=partner)
    assert seen.status_code == 200
    # A's partner sees A's consent only, not the one the family gave B
    assert [c["lender_id"] for c in seen.json()["consents"]] == [world["lender_a"]["id"]]
    listed = client.get("/v1/households", headers=partner).json()
    assert {h["id"] for h in listed["items"]} == {world["household"]["id"], applied_to_b["id"]}
    assert listed["total"] == 2


def test_partner_cannot_create_a_product_for_another_lender(client, world, db_state):
    before = db_state()
    body = product_body(world["lender_b"]["id"])
    assert_problem(client.post("/v1/products", headers=world["keys"][PARTNER], json=body), 403)
    assert db_state() == before


def test_partner_creates_a_product_for_its_own_lender(client, world):
    product = create_product(client, world["keys"][PARTNER], world["lender_a"]["id"])
    assert product["lender_id"] == world["lender_a"]["id"]


def test_finance_lead_is_refused_every_household_route(client, world):
    finance = world["keys"][FINANCE]
    household_url = f"/v1/households/{world['household']['id']}"
    assert_problem(client.get("/v1/households", headers=finance), 403)
    assert_problem(client.get(household_url, headers=finance), 403)
    assert_problem(client.patch(household_url, headers=finance, json={"household_size": 5}), 403)
    assert_problem(client.post("/v1/households", headers=finance, json={}), 403)


# API keys over HTTP --------------------------------------------------------------------------------


def test_admin_issues_a_key_that_works_and_is_shown_only_once(client, admin, world):
    lender_a = world["lender_a"]["id"]
    response = client.post(
        "/v1/api-keys",
        headers=admin,
        json={"name": "partner-onboarded", "role": PARTNER, "lender_id": lender_a},
    )
    assert response.status_code == 201, response.text
    issued = response.json()
    key = issued["key"]
    assert issued["role"] == PARTNER and issued["lender_id"] == lender_a
    assert len(key) >= 43  # 32 random bytes are 43 characters of urlsafe base64

    new_partner = {"Authorization": f"Bearer {key}"}
    assert client.get(f"/v1/products/{world['product_a']['id']}", headers=new_partner).status_code == 200
    assert client.get(f"/v1/products/{world['product_b']['id']}", headers=new_partner).status_code == 404

    listing = client.get("/v1/api-keys", headers=admin)
    assert listing.status_code == 200
    assert key not in listing.text
    assert hashlib.sha256(key.encode()).hexdigest() not in listing.text
    items = listing.json()["items"]
    assert "partner-onboarded" in {item["name"] for item in items}
    for item in items:
        assert "key" not in item and "key_hash" not in item


def test_admin_cannot_issue_a_partner_key_without_a_lender(client, admin, db_state):
    before = db_state()
    response = client.post("/v1/api-keys", headers=admin, json={"name": "orphan", "role": PARTNER})
    assert 400 <= response.status_code < 500
    assert_problem(response, response.status_code)
    assert db_state() == before


def test_a_duplicate_key_name_is_a_conflict(client, admin):
    body = {"name": "twice", "role": OFFICER}
    assert client.post("/v1/api-keys", headers=admin, json=body).status_code == 201
    assert_problem(client.post("/v1/api-keys", headers=admin, json=body), 409)


def test_a_key_revoked_over_http_is_refused_at_once(client, admin):
    issued = client.post("/v1/api-keys", headers=admin, json={"name": "short-lived", "role": OFFICER}).json()
    officer = {"Authorization": f"Bearer {issued['key']}"}
    assert client.get("/v1/sites", headers=officer).status_code == 200

    response = client.delete("/v1/api-keys/short-lived", headers=admin)
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None

    assert_problem(client.get("/v1/sites", headers=officer), 401)
    listed = {k["name"]: k for k in client.get("/v1/api-keys", headers=admin).json()["items"]}
    assert listed["short-lived"]["revoked_at"] is not None


def test_revoking_an_unknown_key_is_a_404(client, admin):
    assert_problem(client.delete("/v1/api-keys/never-issued", headers=admin), 404)
