"""Errors on the pages: HTML in the reader's language, never a trace; the API keeps its problems.

Each handler the API installed is wrapped: a request under /ui/ gets a page, any other the API's
problem details as before. A page without a session goes to the login (303, back after signing
in; an HTMX request gets `HX-Redirect`); a POST without the session's CSRF token is 403; a page
the role may not open, or a record the caller may not see, is 404 (its existence is not told).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from loansvc.domain.errors import Conflict, DomainError, Forbidden, NotFound
from loansvc.i18n import negotiate
from loansvc.ui.render import render_page
from loansvc.ui.web import CsrfRefused, LoginRequired, PageNotFound, login_url, render
from loansvc.web.failures import database_answer, log_crash
from loansvc.web.problems import HTTPProblem
from loansvc.web.query_check import UnknownQueryParameters

log = logging.getLogger("loansvc.ui")


def is_page(request: Request) -> bool:
    return request.url.path == "/ui" or request.url.path.startswith("/ui/")


def error_page(
    request: Request, status: int, code: str, detail: str | None = None, headers: dict | None = None
) -> Response:
    try:
        response = render(request, "error.html", status_code=status, status=status, code=code, detail=detail)
        response.headers.update(headers or {})
        return response
    except AssertionError:  # no session on this request: the browser's language
        lang = negotiate(request.headers.get("accept-language"))
        html = render_page(
            lang,
            "error.html",
            request_path=request.url.path,
            principal=None,
            csrf_token="",
            flash=None,
            today=None,
            status=status,
            code=code,
            detail=detail,
        )
        return HTMLResponse(html, status_code=status)


def _status_of(exc: Exception) -> tuple[int, str, str | None]:
    if isinstance(exc, NotFound | PageNotFound):
        return 404, "NOT_FOUND", None
    if isinstance(exc, Forbidden):
        return 403, exc.code, exc.message
    if isinstance(exc, DomainError):
        return (409 if isinstance(exc, Conflict) else 422), exc.code, exc.message
    if isinstance(exc, HTTPProblem):
        return exc.http_status, exc.code, exc.detail
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code, "HTTP_ERROR", None
    if isinstance(exc, RequestValidationError | UnknownQueryParameters):
        return 422, "VALIDATION_ERROR", None
    return 500, "INTERNAL_ERROR", None


def install(app: FastAPI) -> None:
    for cls in (
        DomainError,
        HTTPProblem,
        RequestValidationError,
        StarletteHTTPException,
        UnknownQueryParameters,
    ):
        api_handler = app.exception_handlers.get(cls)

        async def handler(request: Request, exc: Exception, api_handler=api_handler):
            if not is_page(request) and api_handler is not None:
                return await api_handler(request, exc)
            return error_page(request, *_status_of(exc))

        app.add_exception_handler(cls, handler)

    api_database = app.exception_handlers.get(sa_exc.SQLAlchemyError)

    async def database(request: Request, exc: Exception):
        if not is_page(request) and api_database is not None:
            return await api_database(request, exc)
        answer = database_answer(exc)
        if answer is None:
            raise exc  # a crash: PageCrashMiddleware answers
        return error_page(request, answer.status, answer.code, answer.detail, answer.headers)

    app.add_exception_handler(sa_exc.SQLAlchemyError, database)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired):
        target = login_url(exc.next_path)
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, exc: CsrfRefused):
        return error_page(request, 403, "CSRF_TOKEN_MISSING")

    @app.exception_handler(PageNotFound)
    async def _hidden(request: Request, exc: PageNotFound):
        return error_page(request, 404, "NOT_FOUND")


class PageCrashMiddleware:
    """A crash on a page is answered with the HTML error page (500), logged as the API logs its
    crashes: one line with the type, where, the path and the request id, never the error's text."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (scope["path"] == "/ui" or scope["path"].startswith("/ui/")):
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            request = Request(scope, receive)
            log_crash(exc, getattr(request.state, "request_id", None), scope["path"])
            response = error_page(request, 500, "INTERNAL_ERROR")
            await response(scope, receive, send)
