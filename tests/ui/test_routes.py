"""The pages' edge through the app (no browser): forms to API bodies, the language switch, the
session, error pages in HTML while the API keeps its problem details, and nothing loaded from
another host."""

from __future__ import annotations

import re

import pytest

from loansvc.config import Settings
from loansvc.ui import forms, web
from loansvc.ui.pages import ROUTERS


def _token(html: str) -> str:
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_form_names_are_the_apis_field_paths():
    pairs = [
        ("csrf_token", "t"),
        ("incomes[0].source", "garment wage"),
        ("incomes[0].amount", " 400 "),
        ("incomes[0].frequency", "monthly"),
        ("incomes[1].source", ""),  # a blank row: its select still holds a value
        ("incomes[1].amount", ""),
        ("incomes[1].frequency", "monthly"),
        ("expenses[0].category", ""),
        ("loan.product_id", ""),
        ("loan.term", ""),
        ("currency", "USD"),
    ]
    assert forms.nested(pairs) == {
        "incomes": [{"source": "garment wage", "amount": "400", "frequency": "monthly"}],
        "expenses": [],  # every row blank: the household has none
        "currency": "USD",  # `loan` left blank is left out
    }
    assert forms.name_of(["body", "incomes", 0, "amount"]) == "incomes[0].amount"
    assert forms.name_of(["body", "loan", "term"]) == "loan.term"


def test_the_pages_are_not_in_the_api_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/ui") or p == "/"]
    assert all(route.include_in_schema is False for router in ROUTERS for route in router.routes)


def test_the_root_goes_to_the_pages_and_they_to_the_login(client):
    root = client.get("/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/ui/"
    home = client.get("/ui/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/ui/login"
    htmx = client.get("/ui/visits", headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.status_code == 204 and htmx.headers["hx-redirect"] == "/ui/login?next=/ui/visits"


def test_the_language_follows_the_browser_then_the_switch(client):
    assert '<html lang="km">' in client.get("/ui/login", headers={"Accept-Language": "km-KH"}).text
    assert '<html lang="en">' in client.get("/ui/login", headers={"Accept-Language": "en-GB,en"}).text
    switched = client.get("/ui/lang?lang=km&next=/ui/login", follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/ui/login"
    page = client.get("/ui/login", headers={"Accept-Language": "en-US"})  # the session's choice wins
    assert '<html lang="km">' in page.text and "ចូលប្រើ" in page.text
    # never back to another site
    away = client.get("/ui/lang?lang=en&next=//evil.example/x", follow_redirects=False)
    assert away.headers["location"] == "/ui/"


def test_the_pages_answer_in_html_and_the_api_in_problem_details(client, officer):
    missing = client.get("/ui/no-such-page", headers={"Accept-Language": "en"})
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "Page not found" in missing.text
    api = client.get("/v1/no-such-endpoint")
    assert api.status_code == 404 and api.headers["content-type"].startswith("application/problem+json")
    assert client.get("/v1/households").status_code == 401  # a session cookie is no API key


def test_a_page_refuses_an_unknown_query_parameter_as_the_api_does(client, officer):
    key = officer["Authorization"].removeprefix("Bearer ")
    token = _token(client.get("/ui/login").text)
    assert (
        client.post(
            "/ui/login", data={"csrf_token": token, "api_key": key}, follow_redirects=False
        ).status_code
        == 303
    )
    assert client.get("/ui/households?q=SMC").status_code == 200
    refused = client.get("/ui/households?idpor_level=2")
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("text/html")


def test_every_asset_comes_from_loansvc_itself(client):
    html = client.get("/ui/login").text
    external = re.findall(r'(?:src|href)="(https?:)?//', html)
    assert external == []
    script = client.get("/ui/static/htmx.min.js")
    assert script.status_code == 200 and "htmx" in script.text[:200]
    assert client.get("/ui/static/style.css").status_code == 200


def test_the_session_secret_is_made_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = web.session_secret(Settings(session_secret=None))
    assert len(first) >= 32 and (tmp_path / web.SECRET_FILE).read_text() == first
    assert web.session_secret(Settings(session_secret=None)) == first  # another worker, a restart
    assert web.session_secret(Settings(session_secret="s" * 20)) == "s" * 20
    with pytest.raises(ValueError):
        Settings(session_secret="short")
