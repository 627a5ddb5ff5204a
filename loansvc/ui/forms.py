"""HTML forms to API request bodies and back: input names are the API's field paths.

A name is the path of the field in the API's JSON body, as the API's errors name it:
`loan.product_id`, `incomes[0].amount`. A blank input is left out (the API's default applies), a
list row left blank is dropped, so an officer clears a line to remove it. The body is then
validated by the API's own request model: the page accepts and refuses exactly what the API does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from loansvc.domain.errors import DomainError

SKIPPED = {"csrf_token", "action", "idempotency_key"}
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def path_of(name: str) -> list[str | int]:
    return [int(index) if index else key for key, index in _TOKEN.findall(name)]


def name_of(loc: Iterable[str | int]) -> str:
    """An error's location as an input name (the body's own fields, without `body`)."""
    out = ""
    for part in loc:
        if part == "body" and not out:
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _put(tree: dict, path: list[str | int], value: str) -> None:
    node: dict = tree
    for key in path[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            return  # a name that is both a value and a group: the value wins
        node = child
    node[path[-1]] = value


# inputs that always hold a value (selects with a default): a row with only these is still blank
CHOICES = {"frequency", "currency", "timing", "method"}


def _blank(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_blank(v) for k, v in value.items() if k not in CHOICES)
    return value is None or value == ""


def _lists(node: Any) -> Any:
    """Dicts keyed by row numbers become lists in row order; blank values and rows are dropped."""
    if not isinstance(node, dict):
        return None if node == "" else node
    if node and all(isinstance(k, int) for k in node):
        rows = [_lists(node[k]) for k in sorted(node) if not _blank(node[k])]
        return rows
    return {k: v for k, v in ((k, _lists(v)) for k, v in node.items()) if v is not None and v != {}}


def nested(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Form pairs -> the JSON body. A group left blank is left out (`loan` with no value); a list
    whose rows are all blank is sent empty (`incomes: []`: the household has none)."""
    tree: dict[Any, Any] = {}
    for name, value in pairs:
        if name in SKIPPED or not isinstance(value, str):
            continue
        path = path_of(name)
        if path:
            _put(tree, path, value.strip())
    return _lists(tree)


@dataclass
class FormErrors:
    """What to show next to the inputs: a message per input name, and the summary."""

    fields: dict[str, str] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)
    code: str | None = None

    def __bool__(self) -> bool:
        return bool(self.summary)


def from_validation(exc: ValidationError) -> FormErrors:
    errors = FormErrors(code="VALIDATION_ERROR")
    for err in exc.errors():
        name = name_of(err.get("loc", ()))
        msg = "unknown field" if err.get("type") == "extra_forbidden" else err.get("msg", "invalid")
        errors.fields.setdefault(name, msg)
        errors.summary.append(f"{name}: {msg}" if name else msg)
    return errors


def from_domain(exc: DomainError) -> FormErrors:
    errors = FormErrors(code=exc.code)
    if exc.field:
        errors.fields[exc.field] = exc.message
    errors.summary.append(exc.message)
    return errors


def parse(model: type[BaseModel], body: dict[str, Any]) -> tuple[BaseModel | None, FormErrors]:
    try:
        return model.model_validate(body), FormErrors()
    except ValidationError as exc:
        return None, from_validation(exc)


def raw_rows(pairs: Iterable[tuple[str, Any]], name: str) -> list[dict[str, str]]:
    """The rows of list `name` as typed (blank ones too), to show a refused form again."""
    rows: dict[int, dict[str, str]] = {}
    for key, value in pairs:
        path = path_of(key)
        if len(path) == 3 and path[0] == name and isinstance(path[1], int) and isinstance(value, str):
            rows.setdefault(path[1], {})[str(path[2])] = value
    return [rows[k] for k in sorted(rows)]
