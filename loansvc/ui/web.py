"""The pages' edge: who is signed in (a signed session cookie), the language, the CSRF token, which
role may open which page, and rendering a template in the reader's language.

The session cookie (Starlette's SessionMiddleware: itsdangerous-signed, HttpOnly, SameSite=Lax)
holds the SHA-256 hash of the API key the person signed in with (never the key), the language and
a per-session CSRF token. Each page reads the key's record again, so a revoked key signs its
sessions out at their next page. Every POST under /ui/ must carry the token in `csrf_token` (or
the `X-CSRF-Token` header): SameSite=Lax already keeps other sites' POSTs from carrying the cookie,
the token also stops a same-site page or an old tab from posting.
"""

from __future__ import annotations

import os
import secrets
import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from loansvc.auth.principal import Principal
from loansvc.auth.service import authenticate_hash
from loansvc.config import Settings
from loansvc.i18n import LANGUAGES, negotiate
from loansvc.ui.render import render_page

SESSION_COOKIE = "loansvc_ui"
SESSION_MAX_AGE = 8 * 3600  # a working day in the field
SECRET_FILE = Path(".loansvc-session-secret")
CSRF_FIELD = "csrf_token"

# the pages each role opens (admin opens all); any other page is 404, as the API hides what a
# caller may not see
OFFICER_PAGES = ("loan_officer", "partner")
HOME = {
    "admin": "/ui/households",
    "loan_officer": "/ui/households",
    "partner": "/ui/households",
    "finance_lead": "/ui/dashboard",
}


class LoginRequired(Exception):
    def __init__(self, next_path: str):
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    pass


class PageNotFound(Exception):
    pass


def session_secret(settings: Settings) -> str:
    """The setting, else a random secret made once in ./.loansvc-session-secret (O_EXCL: the
    first worker writes it, the others read it), so sessions survive a restart of the demo."""
    if settings.session_secret:
        return settings.session_secret
    try:
        fd = os.open(SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(40):  # another worker may be writing it this instant
            secret = SECRET_FILE.read_text().strip()
            if len(secret) >= 32:
                return secret
            time.sleep(0.05)
        raise RuntimeError(f"{SECRET_FILE} is too short: delete it or set LOANSVC_SESSION_SECRET") from None
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as out:
        out.write(secret)
    return secret


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def check_csrf(request: Request) -> None:
    """Every POST carries the session's token (router dependency of every page)."""
    if request.method != "POST":
        return
    expected = request.session.get("csrf")
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not secrets.compare_digest(expected, sent):
        raise CsrfRefused()


def language(request: Request) -> str:
    chosen = request.session.get("lang")
    return chosen if chosen in LANGUAGES else negotiate(request.headers.get("accept-language"))


def principal_of(request: Request, key_hash: str) -> Principal | None:
    session: Session = request.app.state.db.session_factory()
    try:
        return authenticate_hash(session, key_hash)
    finally:
        session.rollback()
        session.close()


def here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def signed_in(request: Request) -> Principal:
    """The person signed in on this session; none: to the login page, back here after."""
    key_hash = request.session.get("key")
    principal = await run_in_threadpool(principal_of, request, key_hash) if key_hash else None
    if principal is None:
        request.session.pop("key", None)
        raise LoginRequired(here(request) if request.method == "GET" else "/ui/")
    request.state.role = principal.role  # the request log's role
    request.state.principal = principal
    return principal


SignedIn = Annotated[Principal, Depends(signed_in)]


def page_for(*roles: str):
    """A dependency: the signed-in person, when their role opens this page (admin always)."""
    allowed = set(roles) | {"admin"}

    async def _check(principal: SignedIn) -> Principal:
        if principal.role not in allowed:
            raise PageNotFound()
        return principal

    return Depends(_check)


def safe_next(value: str | None) -> str | None:
    """A page of ours to go back to (never another host: //evil.example or a scheme)."""
    if value and value.startswith("/ui") and not value.startswith("//") and "\\" not in value:
        return value
    return None


def login_url(next_path: str | None) -> str:
    target = safe_next(next_path)
    return "/ui/login" + (f"?next={quote(target, safe='/')}" if target and target != "/ui/" else "")


def flash(request: Request, message: str) -> None:
    request.session["flash"] = message


def render(
    request: Request, template: str, *, status_code: int = 200, today: date | None = None, **context: Any
) -> HTMLResponse:
    lang = language(request)
    principal = getattr(request.state, "principal", None)
    html = render_page(
        lang,
        template,
        request_path=here(request),
        principal=principal,
        csrf_token=csrf_token(request),
        flash=request.session.pop("flash", None),
        today=today,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)
