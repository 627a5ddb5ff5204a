"""Signing in with an API key, signing out, the language switch, and each role's first page."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from loansvc.auth.service import hash_key
from loansvc.i18n import LANGUAGES
from loansvc.ui.pages.base import page_router
from loansvc.ui.web import HOME, SignedIn, csrf_token, principal_of, render, safe_next

router = page_router()
NextQuery = Annotated[str | None, Query(max_length=500)]


@router.get("/")
async def home(principal: SignedIn):
    return RedirectResponse(HOME.get(principal.role, "/ui/dashboard"), status_code=303)


@router.get("/login")
async def login_page(request: Request, next: NextQuery = None):
    return render(request, "login.html", next=safe_next(next) or "", error=None)


@router.post("/login")
async def login(
    request: Request,
    api_key: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
):
    key = api_key.strip()
    key_hash = hash_key(key) if key else None
    principal = await run_in_threadpool(principal_of, request, key_hash) if key_hash else None
    if principal is None:
        return render(request, "login.html", status_code=401, next=safe_next(next) or "", error="unknown_key")
    lang = request.session.get("lang")
    request.session.clear()  # a new session: no token or page of the one before survives
    if lang:
        request.session["lang"] = lang
    request.session["key"] = key_hash
    csrf_token(request)  # a fresh token for the new session
    return RedirectResponse(safe_next(next) or HOME.get(principal.role, "/ui/"), status_code=303)


def _logout(request: Request) -> RedirectResponse:
    lang = request.session.get("lang")
    request.session.clear()
    if lang:
        request.session["lang"] = lang
    return RedirectResponse("/ui/login", status_code=303)


@router.post("/logout")
async def logout(request: Request):
    return _logout(request)


@router.get("/logout")
async def logout_link(request: Request):
    return _logout(request)


@router.get("/lang")
async def switch_language(
    request: Request, lang: Annotated[str, Query(max_length=5)], next: NextQuery = None
):
    """`/ui/lang?lang=km|en`: remembered in the session; back to the page it was asked from."""
    if lang in LANGUAGES:
        request.session["lang"] = lang
    referer = request.headers.get("referer", "")
    back = safe_next(next) or safe_next(referer.split(request.url.netloc, 1)[-1] if referer else None)
    return RedirectResponse(back or "/ui/", status_code=303)
