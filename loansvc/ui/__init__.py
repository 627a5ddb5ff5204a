"""The pages under /ui/ for loan officers, partner lenders and finance leads (Jinja2 + vendored HTMX).

The routes call the same services as the JSON routers, with the same roles and scoping, and show
the API's own values (`data-field` / `data-value` hooks). `install(app)` wires them into an app
made by `create_app`: the routes, the static files, the session cookie, `/` -> `/ui/`, and HTML
error pages for /ui/ (the API keeps its problem details).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from loansvc.ui import errors
from loansvc.ui.pages import ROUTERS
from loansvc.ui.render import TEMPLATES
from loansvc.ui.web import SESSION_COOKIE, SESSION_MAX_AGE, session_secret

STATIC = TEMPLATES.parent / "static"


def install(app: FastAPI) -> None:
    """Call after the API's error handlers are installed (create_app does)."""
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")

    @app.get("/", include_in_schema=False)
    async def _root():
        return RedirectResponse("/ui/", status_code=307)

    errors.install(app)
    app.add_middleware(errors.PageCrashMiddleware)  # inside the session: the error page has its language
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(app.state.settings),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        https_only=False,  # the pages also serve a local network without TLS (the programme's office)
    )
