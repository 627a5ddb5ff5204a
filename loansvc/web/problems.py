"""RFC 9457 problem details for every error: domain errors, validation, HTTP errors, database
refusals (mapped in `web/failures.py`) and crashes, and the problem responses of the OpenAPI
document.

One place maps each error class to its HTTP status. No stack trace ever reaches a client, and no
log line carries an error's text: a crash is logged as its type, where and the request id.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from loansvc.domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from loansvc.web.failures import database_answer, log_crash

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


def _loc_of(field: str | None, where: str = "body") -> list[str | int]:
    """Where the field was sent: `where` ("body", or "query" for a query parameter), then its path."""
    if not field:
        return [where]
    parts: list[str | int] = [where]
    for piece in field.replace("]", "").split("."):
        name, _, index = piece.partition("[")
        if name:
            parts.append(int(name) if name.isdigit() else name)
        if index:
            parts.append(int(index))
    return parts


def domain_error_response(request: Request | None, exc: DomainError) -> JSONResponse:
    status = next(s for cls, s in DOMAIN_STATUS if isinstance(exc, cls))
    top = (exc.field or "").split(".")[0].split("[")[0]
    where = "query" if request is not None and top and top in request.query_params else "body"
    errors = [{"loc": _loc_of(exc.field, where), "msg": exc.message, "type": exc.code}] if exc.field else None
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

    @app.exception_handler(sa_exc.SQLAlchemyError)
    async def _database(request: Request, exc: sa_exc.SQLAlchemyError):
        answer = database_answer(exc)
        if answer is None:
            raise exc  # a crash: RequestLogMiddleware logs it (type and request id) and answers 500
        return problem_response(
            request, answer.status, answer.code, answer.detail, headers=answer.headers, **answer.extra
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        # reached only when no middleware answered first; the text of the error is never logged
        log_crash(exc, getattr(request.state, "request_id", None), request.url.path)
        return problem_response(
            request, 500, "INTERNAL_ERROR", "an unexpected error occurred; it has been logged"
        )

    document_problems(app)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the problem details an endpoint can return."""
    return {status: _problem_entry(status) for status in statuses}


AUTH_ERRORS = (401, 403)


# The problems any operation can answer, whatever its own `responses=` list: the HTTP edge refuses
# a URL with NUL (400) or a malformed body (400), a missing key (401) or a role (403), unknown query
# parameters and invalid fields (422), and sheds load (503); a path with ids can be 404, a write
# can meet a race (409) or an oversized body (413).
_EVERY_OPERATION = (400, 422, 503)
_AUTHENTICATED = (401, 403)
_WRITES = (409, 413)
_WITH_PATH_IDS = (404,)


def _problem_media() -> dict[str, Any]:
    return {"schema": {"$ref": "#/components/schemas/Problem"}}


def _problem_entry(status: int) -> dict[str, Any]:
    return {"description": HTTPStatus(status).phrase, "content": {PROBLEM_MEDIA_TYPE: _problem_media()}}


def _is_problem(entry: dict[str, Any]) -> bool:
    content = entry.get("content") or {}
    refs = {str((media.get("schema") or {}).get("$ref", "")) for media in content.values()}
    return PROBLEM_MEDIA_TYPE in content or any(
        ref.endswith(("/Problem", "/HTTPValidationError")) for ref in refs
    )


def document_problems(app: FastAPI) -> None:
    """Add to the OpenAPI document the problem responses each operation can return."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        if "Problem" not in components:
            components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in components["Problem"].pop("$defs", {}).items():
                components.setdefault(name, definition)
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                statuses = list(_EVERY_OPERATION)
                if path.startswith("/v1/"):
                    statuses += _AUTHENTICATED
                if method in ("post", "put", "patch", "delete"):
                    statuses += _WRITES
                if "{" in path:
                    statuses += _WITH_PATH_IDS
                documented = operation.setdefault("responses", {})
                for entry in documented.values():
                    if _is_problem(entry):  # one media type, the one sent, with the Problem schema
                        given = (entry.get("content") or {}).get(PROBLEM_MEDIA_TYPE) or {}
                        media = given if given.get("schema") else _problem_media()
                        entry["content"] = {PROBLEM_MEDIA_TYPE: media}
                for status in statuses:
                    documented.setdefault(str(status), _problem_entry(status))
                if "503" in documented and path.startswith("/v1/"):
                    documented["503"].setdefault("headers", {})["Retry-After"] = {
                        "description": "seconds to wait before trying again",
                        "schema": {"type": "integer"},
                    }
                operation["responses"] = dict(sorted(documented.items()))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
