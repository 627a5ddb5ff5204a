"""/docs that works offline and with a key: Swagger UI from the package's own copy, and an OpenAPI
document that declares the bearer scheme on every operation that needs a key.

`LOANSVC_DOCS_ENABLED=false` turns off /docs, its assets and /openapi.json (production).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request

from loansvc.config import Settings
from loansvc.web.deps import current_principal

ASSETS = Path(__file__).resolve().parent / "static" / "swagger-ui"
ASSETS_URL = "/docs/static"
SCHEME = "bearerAuth"
BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "an API key (`loansvc keys create`), sent as `Authorization: Bearer <key>`",
}


def app_options(settings: Settings) -> dict[str, Any]:
    """FastAPI's own docs routes are off (they load Swagger UI and ReDoc from a CDN); /openapi.json
    stays unless the docs are disabled."""
    return {
        "docs_url": None,
        "redoc_url": None,
        "openapi_url": "/openapi.json" if settings.docs_enabled else None,
    }


def _needs_key(dependant: Dependant) -> bool:
    pending = [dependant]
    while pending:
        current = pending.pop()
        if current.call is current_principal:
            return True
        pending.extend(current.dependencies)
    return False


def _open_operations(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(path, method) of each API route that asks for no key (GET /health)."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and not _needs_key(route.dependant):
            for method in context.methods or route.methods:
                yield context.path, method.lower()


def _with_security(app: FastAPI, build):
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = build()
            spec.setdefault("components", {}).setdefault("securitySchemes", {})[SCHEME] = BEARER
            open_ops = set(_open_operations(app))
            for path, operations in spec.get("paths", {}).items():
                for method, operation in operations.items():
                    if (path, method) not in open_ops:
                        operation["security"] = [{SCHEME: []}]
            app.openapi_schema = spec
        return app.openapi_schema

    return openapi


def install(app: FastAPI, settings: Settings) -> None:
    """Declare the bearer scheme; serve /docs from the packaged Swagger UI when the docs are on."""
    app.openapi = _with_security(app, app.openapi)  # type: ignore[method-assign]
    if not settings.docs_enabled:
        return
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="swagger-ui")

    async def swagger_ui(request: Request):
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
            # no call to the public validator; the key is kept while the page is open only
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": False},
        )

    async def oauth2_redirect(request: Request):
        return get_swagger_ui_oauth2_redirect_html()

    # plain routes, as FastAPI's own docs routes are: not API operations
    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/docs/oauth2-redirect", oauth2_redirect, include_in_schema=False)
