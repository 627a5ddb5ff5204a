"""RFC 9457 problem details for every error: domain errors, validation, HTTP errors and crashes.

One place maps each error class to its HTTP status. No stack trace ever reaches a client.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from loansvc.domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound

log = logging.getLogger("loansvc.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class HTTPProblem(Exception):
    """An error of the HTTP edge (auth, roles, payload size) that carries its own status."""

    http_status = 400
    code = "BAD_REQUEST"

    def __init__(self, detail: str, *, code: str | None = None, headers=None):
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.code
        self.headers = headers


class Unauthorized(HTTPProblem):
    http_status = 401
    code = "UNAUTHORIZED"

    def __init__(self, detail: str = "a valid API key is required (Authorization: Bearer <key>)"):
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


DOMAIN_STATUS: list[tuple[type[DomainError], int]] = [
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (DomainError, 422),
]


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details, with a stable `code` and field-level `errors`."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    code: str
    instance: str | None = None
    errors: list[FieldError] | None = None


def problem_response(
    request: Request | None,
    status: int,
    code: str,
    detail: str | None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://loansvc.example/problems/{code.lower().replace('_', '-')}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if request is not None:
        body["instance"] = request.url.path
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _loc_of(field: str | None) -> list[str | int]:
    if not field:
        return ["body"]
    parts: list[str | int] = ["body"]
    for piece in field.replace("]", "").split("."):
        name, _, index = piece.partition("[")
        if name:
            parts.append(int(name) if name.isdigit() else name)
        if index:
            parts.append(int(index))
    return parts


def domain_error_response(request: Request | None, exc: DomainError) -> JSONResponse:
    status = next(s for cls, s in DOMAIN_STATUS if isinstance(exc, cls))
    errors = [{"loc": _loc_of(exc.field), "msg": exc.message, "type": exc.code}] if exc.field else None
    extra = getattr(exc, "extra", None) or {}
    return problem_response(request, status, exc.code, exc.message, errors, **extra)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "unknown field"
        elif err.get("type") == "json_invalid":
            msg = "malformed JSON: " + str(err.get("ctx", {}).get("error", "cannot be parsed"))
        out.append({"loc": [p for p in err.get("loc", ())], "msg": msg, "type": err.get("type")})
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError):
        return domain_error_response(request, exc)

    @app.exception_handler(HTTPProblem)
    async def _http_problem(request: Request, exc: HTTPProblem):
        return problem_response(request, exc.http_status, exc.code, exc.detail, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = _validation_errors(exc)
        malformed = any(e["type"] == "json_invalid" for e in errors)
        detail = "the request body is not valid JSON" if malformed else "the request has invalid fields"
        code = "MALFORMED_JSON" if malformed else "VALIDATION_ERROR"
        status = 400 if malformed else 422
        return problem_response(request, status, code, detail, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        phrase = HTTPStatus(exc.status_code).phrase
        code = phrase.upper().replace(" ", "_").replace("-", "_")
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
        if exc.status_code == 404 and detail is None:
            detail = f"no resource at {request.url.path}"
        if exc.status_code == 405 and detail is None:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return problem_response(request, exc.status_code, code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(
            request, 500, "INTERNAL_ERROR", "an unexpected error occurred; it has been logged"
        )


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the problem details an endpoint can return."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
    return out


AUTH_ERRORS = (401, 403)
