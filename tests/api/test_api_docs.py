"""/docs works with no internet and with a key: Swagger UI comes from loansvc itself, the OpenAPI
document declares the bearer scheme, and production can turn both off."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from fastapi.testclient import TestClient

from loansvc.config import Settings
from loansvc.main import create_app

CHROMIUM = Path("/usr/bin/chromium")


def _references(html: str) -> list[str]:
    """Every URL the page names: attributes, and the quoted strings of its inline script."""
    attributes = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    script = re.findall(r"""(?:url|oauth2RedirectUrl)\s*:\s*["']([^"']+)["']""", html)
    return attributes + script


def test_the_docs_page_loads_nothing_from_another_host(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "http://" not in html and "https://" not in html  # no CDN, no validator, no font service
    urls = _references(html)
    assert len(urls) >= 4, urls  # the script, the stylesheet, the icon, the spec
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), url
        assert client.get(url).status_code == 200, url
    assert "/docs/static/swagger-ui-bundle.js" in urls and "/openapi.json" in urls
    script = client.get("/docs/static/swagger-ui-bundle.js")
    assert "javascript" in script.headers["content-type"] and len(script.content) > 500_000
    assert client.get("/docs/static/swagger-ui.css").headers["content-type"].startswith("text/css")
    # ReDoc would come from a CDN: it is not served
    assert client.get("/redoc").status_code == 404


def test_every_operation_but_health_declares_the_bearer_key(app):
    spec = app.openapi()
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key (`loansvc keys create`), sent as `Authorization: Bearer <key>`",
    }
    operations = [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]
    assert len(operations) > 50
    for path, method, op in operations:
        expected = None if path == "/health" else [{"bearerAuth": []}]
        assert op.get("security") == expected, (method, path)


def test_production_turns_the_docs_and_the_spec_off(db, database_url, admin):
    settings = Settings(database_url=database_url, docs_enabled=False)
    with TestClient(create_app(settings, database=db)) as client:
        for path in (
            "/docs",
            "/docs/oauth2-redirect",
            "/openapi.json",
            "/docs/static/swagger-ui-bundle.js",
            "/redoc",
        ):
            assert client.get(path).status_code == 404, path
        assert client.get("/health").status_code == 200
        assert client.get("/v1/lenders", headers=admin).status_code == 200


@pytest.fixture()
def server(app):
    """The app behind a real uvicorn on a free loopback port."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield instance.servers[0].sockets[0].getsockname()[1]
    instance.should_exit = True
    thread.join(timeout=10)


def test_try_it_out_works_offline_with_an_authorized_key(server, admin):
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs Debian's chromium for the browser tests")
        pytest.skip("no /usr/bin/chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    base = f"http://127.0.0.1:{server}"
    elsewhere: list[str] = []
    key = admin["Authorization"].removeprefix("Bearer ")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        try:
            page = browser.new_page()

            def only_loansvc(route):
                if route.request.url.startswith(base + "/"):
                    return route.continue_()
                elsewhere.append(route.request.url)
                return route.abort()

            page.route("**/*", only_loansvc)
            page.goto(f"{base}/docs")
            page.get_by_role("button", name="Authorize").first.click()
            page.locator(".modal-ux input").first.fill(key)
            page.locator(".modal-ux button.authorize").click()
            page.locator(".modal-ux button.btn-done").click()
            operation = page.locator("#operations-registry-list_lenders_v1_lenders_get")
            operation.locator(".opblock-summary").click()
            operation.get_by_role("button", name="Try it out").click()
            operation.get_by_role("button", name="Execute").click()
            status = operation.locator(".live-responses-table .response .response-col_status").first
            status.wait_for(timeout=10_000)
            assert status.inner_text().strip() == "200"
            assert f"Bearer {key}" in operation.locator(".curl").inner_text()
        finally:
            browser.close()
    assert elsewhere == []
