"""Every endpoint refuses a query parameter it does not declare: 422 UNKNOWN_QUERY_PARAMETER, with a
field error per unknown name, instead of ignoring it (`?idpor_level=2` would otherwise list every
family, and the caller would take the page for the filtered one).

One dependency on every API route does it (`install` wires it in create_app). The names a route
declares are its own query parameters and those of its dependencies, all the way down (the page's
`limit`/`offset`, the reports' `as_of`), so a parameter is never refused by one route and silently
used by another. Pages that are not API routes (`/docs`, `/openapi.json`) are left alone.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from loansvc.web.problems import problem_response, responses

CODE = "UNKNOWN_QUERY_PARAMETER"


class UnknownQueryParameters(Exception):
    def __init__(self, names: list[str]):
        super().__init__(", ".join(names))
        self.names = names


def declared_query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameter names of a route: its own and its dependencies', recursively."""
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        for field in current.query_params:
            model = field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):  # a model of query parameters
                names.update(f.alias or name for name, f in model.model_fields.items())
            else:
                names.add(field.alias)
        pending.extend(current.dependencies)
    return frozenset(names)


async def reject_unknown_query_parameters(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    unknown = sorted(set(request.query_params) - declared_query_names(route.dependant))
    if unknown:
        raise UnknownQueryParameters(unknown)


def install(app: FastAPI) -> None:
    """Check every API route of `app` (call before the routers are included) and answer 422."""
    app.router.dependencies.append(Depends(reject_unknown_query_parameters))
    app.router.responses.update(responses(422))  # so every route documents the 422 it can answer

    @app.exception_handler(UnknownQueryParameters)
    async def _unknown(request: Request, exc: UnknownQueryParameters):
        listed = ", ".join(exc.names)
        errors = [
            {"loc": ["query", name], "msg": "unknown query parameter", "type": CODE} for name in exc.names
        ]
        detail = f"unknown query parameter{'s' if len(exc.names) > 1 else ''}: {listed}"
        return problem_response(request, 422, CODE, detail, errors)
