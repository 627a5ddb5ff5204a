"""Request dependencies: the database session (one transaction per request) and the caller."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from loansvc.auth.principal import Principal
from loansvc.auth.service import authenticate, cached_principal
from loansvc.config import Settings
from loansvc.domain.errors import InvalidInput
from loansvc.web.problems import Forbidden, Unauthorized

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    """Commit when the endpoint returns, roll back when it raises: the request is the transaction.
    A request that may write (any method but GET, HEAD, OPTIONS) takes SQLite's write lock when its
    transaction begins (at its first statement, after authentication), so writers queue."""
    db = request.app.state.db
    writes = request.method not in SAFE_METHODS
    factory = getattr(db, "write_session_factory", db.session_factory) if writes else db.session_factory
    yield from _unit_of_work(factory)


def _unit_of_work(factory) -> Iterator[Session]:
    """A request's session: committed when the endpoint returns, rolled back when it raises."""
    session: Session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": the commit happens before the response is sent, so a client never sees
# a success that was not committed.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_read_session(request: Request) -> Iterator[Session]:
    """Reports, charts and exports: a session on the read replica when `LOANSVC_READ_DATABASE_URL`
    names one (read-only transactions, `session.info["read_only"]`), else the primary's ordinary
    session (then committed like any GET's, so a report may store what it computed once)."""
    db = request.app.state.db
    yield from _unit_of_work(getattr(db, "read_session_factory", db.session_factory))


ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]


def _lookup(request: Request, token: str) -> Principal | None:
    session: Session = request.app.state.db.session_factory()
    try:
        return authenticate(session, token)
    finally:
        session.rollback()  # a read only: the connection goes straight back to the pool
        session.close()


async def current_principal(request: Request) -> Principal:
    """The caller, from `Authorization: Bearer <key>`. A key verified in the last seconds is not
    looked up again; otherwise its own short session reads it, so no request holds one pooled
    connection while waiting for another."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized()
    principal = cached_principal(token) or await run_in_threadpool(_lookup, request, token)
    if principal is None:
        raise Unauthorized("the API key is unknown or revoked")
    request.state.role = principal.role
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def get_write_session(request: Request, _caller: PrincipalDep) -> Iterator[Session]:
    """A session for money and stock movements: on SQLite the transaction is `BEGIN IMMEDIATE`,
    so concurrent writers queue instead of racing; on PostgreSQL the services lock rows.

    The caller is authenticated first (and the authenticating session lets go of its connection),
    so a request never holds one pooled connection while waiting for another: 20 writers at once
    on a pool of 15 would otherwise all wait for each other until the pool timeout."""
    session: Session = request.app.state.db.session_factory()
    try:
        session.connection(execution_options={"sqlite_begin": "BEGIN IMMEDIATE"})
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


WriteSessionDep = Annotated[Session, Depends(get_write_session, scope="function")]

ALL_ROLES = ("admin", "loan_officer", "finance_lead", "partner")


def require(*roles: str):
    """A dependency that admits the given roles (admin always) and refuses the rest with 403."""
    allowed = set(roles) | {"admin"}

    async def _check(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(f"the {principal.role} role may not do this", code="ROLE_NOT_ALLOWED")
        return principal

    _check.allowed_roles = tuple(sorted(allowed))  # type: ignore[attr-defined]
    return Depends(_check)


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int


async def page_params(
    request: Request,
    limit: Annotated[
        int | None, Query(ge=1, description="page size (the default and the most: settings)")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> PageParams:
    settings: Settings = request.app.state.settings
    limit = settings.default_page_limit if limit is None else limit
    if limit > settings.max_page_limit:
        raise InvalidInput(
            f"limit must be at most {settings.max_page_limit}", code="LIMIT_TOO_LARGE", field="limit"
        )
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with (`create_app(Settings(...))`), never the global."""
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def get_today(request: Request) -> date:
    """Today's business date, from the app's clock (tests and the demo set their own)."""
    return request.app.state.clock.today()


TodayDep = Annotated[date, Depends(get_today)]
