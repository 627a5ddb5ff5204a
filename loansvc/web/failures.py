"""What the HTTP edge answers to failures beneath it, and how it logs a crash.

Database refusals are answers, not crashes:
- a unique index that refuses a row another request committed first (a race the service's own
  check could not see) is 409 with the code of that rule, by constraint name (UNIQUE_RULES);
  any other constraint is 409 CONFLICT;
- a lock or a pooled connection that cannot be had in time (SQLite's "database is locked", a
  PostgreSQL deadlock or lock timeout, the pool's timeout) is 503 with Retry-After: try again;
- a value the column cannot hold is 422.

A crash is logged as one line: its type, where it happened, the route and the request id, never
its message (a database error's text quotes the values it refused: names, phones, title numbers).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Index, PrimaryKeyConstraint, UniqueConstraint
from sqlalchemy import exc as sa_exc

from loansvc.db import models as _models  # noqa: F401  (every table's constraints, for UNIQUE_RULES)
from loansvc.db.base import Base

log = logging.getLogger("loansvc.errors")

# Unique rules by constraint name: the code and words of the 409 each one answers (the same codes
# as the services' own checks, documented on the endpoints).
UNIQUE_RULES: dict[str, tuple[str, str]] = {
    "uq_households_site_parcel": ("PARCEL_TAKEN", "this parcel of the site already has a household"),
    "uq_households_title_number": (
        "TITLE_TAKEN",
        "this title number already belongs to another household's parcel",
    ),
    "uq_api_keys_name": ("KEY_NAME_TAKEN", "an API key with this name already exists"),
    "uq_materials_sku": ("SKU_TAKEN", "the catalog already has this sku"),
    "uq_loans_open_application": (
        "DUPLICATE_APPLICATION",
        "the household already has an open application to this lender",
    ),
    "pk_household_lenders": (
        "DUPLICATE_APPLICATION",
        "the household applied to this lender in another request at the same moment",
    ),
    "uq_repayments_loan_reference": (
        "DUPLICATE_REFERENCE",
        "this payment reference is already recorded for this loan",
    ),
    "uq_repayment_reversals_repayment_id": ("ALREADY_REVERSED", "this payment is already reversed"),
    "uq_lenders_name": ("LENDER_NAME_TAKEN", "a lender with this name already exists"),
    "uq_sites_name": ("SITE_NAME_TAKEN", "a site with this name already exists"),
    "uq_products_lender_name": ("PRODUCT_NAME_TAKEN", "the lender already has a product with this name"),
    "uq_housing_models_code": ("HOUSING_MODEL_EXISTS", "a housing model with this code exists"),
}

RETRY_AFTER_SECONDS = 1


def _sqlite_unique_names() -> dict[str, str]:
    """SQLite names the columns, not the constraint: "households.site_id, households.parcel_code"."""
    out = {}
    for table in Base.metadata.sorted_tables:
        uniques = [c for c in table.constraints if isinstance(c, UniqueConstraint | PrimaryKeyConstraint)]
        uniques += [i for i in table.indexes if isinstance(i, Index) and i.unique]
        for constraint in uniques:
            columns = ", ".join(f"{table.name}.{c.name}" for c in constraint.columns)
            out.setdefault(columns, str(constraint.name))
    return out


_SQLITE_UNIQUE: dict[str, str] = {}


def constraint_of(exc: sa_exc.DBAPIError) -> str | None:
    """The name of the constraint a database refused a statement for, on either database."""
    orig = exc.orig
    diag = getattr(orig, "diag", None)  # psycopg
    if diag is not None:
        return diag.constraint_name
    text = str(orig)
    for prefix in ("UNIQUE constraint failed: ", "CHECK constraint failed: "):
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            if prefix.startswith("UNIQUE"):
                if not _SQLITE_UNIQUE:
                    _SQLITE_UNIQUE.update(_sqlite_unique_names())
                return _SQLITE_UNIQUE.get(rest, rest.removeprefix("index ").strip("'"))
            return rest
    return None


@dataclass(frozen=True)
class Answer:
    """The problem to answer: status, code, detail, headers and extra members."""

    status: int
    code: str
    detail: str
    headers: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _integrity(exc: sa_exc.IntegrityError) -> Answer:
    name = constraint_of(exc)
    if name in UNIQUE_RULES:
        code, detail = UNIQUE_RULES[name]
        return Answer(409, code, detail)
    return Answer(
        409,
        "CONFLICT",
        "the request clashes with data another request recorded at the same moment; read it again",
        extra={"constraint": name},
    )


def _retry_later(code: str, detail: str) -> Answer:
    return Answer(503, code, detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _transient(exc: sa_exc.OperationalError) -> bool:
    """SQLite: "database is locked" past the busy timeout (its other operational errors, such as a
    missing table, are bugs). PostgreSQL: a deadlock, a lock or statement timeout, a serialization
    failure or the server gone: none of them is the client's fault, and a retry can succeed."""
    if type(exc.orig).__module__.startswith("sqlite3"):
        text = str(exc.orig).lower()
        return "locked" in text or "busy" in text
    return True


def database_answer(exc: Exception) -> Answer | None:
    """The answer to a database error, or None when it is a crash (a bug)."""
    if isinstance(exc, sa_exc.IntegrityError):
        return _integrity(exc)
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection within db_pool_timeout_seconds
        return _retry_later("SERVICE_BUSY", "every database connection is busy; retry shortly")
    if isinstance(exc, sa_exc.OperationalError) and _transient(exc):
        detail = "the database could not take this request in time; retry shortly"
        return _retry_later("DATABASE_BUSY", detail)
    if isinstance(exc, sa_exc.DataError):
        return Answer(422, "INVALID_VALUE", "a value is out of the range it can take")
    return None


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../loansvc


def crash_location(exc: BaseException) -> str | None:
    """Where an error happened (the deepest frame of loansvc, else the deepest), without its text."""
    tb, where, deepest = exc.__traceback__, None, None
    while tb is not None:
        code = tb.tb_frame.f_code
        deepest = f"{code.co_filename}:{tb.tb_lineno} {code.co_name}"
        if code.co_filename.startswith(_PACKAGE_DIR):
            where = f"loansvc{code.co_filename[len(_PACKAGE_DIR):]}:{tb.tb_lineno} {code.co_name}"
        tb = tb.tb_next
    return where or deepest


def log_crash(exc: BaseException, request_id: str | None, path: str | None = None) -> None:
    """One line for a crash: the exception's type, where, the route and the request id, never its
    message (which may quote personal data) or a traceback of values."""
    log.error(
        json.dumps(
            {
                "event": "crash",
                "request_id": request_id,
                "error": f"{type(exc).__module__}.{type(exc).__qualname__}",
                "at": crash_location(exc),
                "path": path,
            }
        )
    )
