"""A fuzzer over the published spec (issue 12, item 9): schemathesis generates requests for every
operation of the app's own OpenAPI document, valid and invalid, and sends each one in-process (ASGI)
with an admin key and with a partner MFI's key. It fails on any finding of the four checks: a 5xx,
a status the operation does not document, a content type it does not document, or a body that
does not match the documented schema.

Bounded and repeatable: at most FUZZ_EXAMPLES examples per operation (LOANSVC_FUZZ_EXAMPLES), the
same ones on every run (derandomized), on a SQLite file of its own. scripts/test.sh runs it as a
step of its own; the regular runs skip it.
"""

from __future__ import annotations

import os
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from loansvc.auth.service import create_key
from loansvc.config import Settings
from loansvc.db.session import Database
from loansvc.main import create_app
from loansvc.migrate import upgrade
from loansvc.registry.schemas import LenderCreate
from loansvc.registry.service import create_lender

FUZZ_EXAMPLES = int(os.environ.get("LOANSVC_FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
KEYS: dict[str, dict[str, str]] = {}

if os.environ.get("LOANSVC_FUZZ") != "1":
    pytest.skip(
        "the fuzzer runs as its own step of scripts/test.sh (LOANSVC_FUZZ=1)", allow_module_level=True
    )


def _fuzzed_schema():
    """A fresh SQLite file with a partner MFI, an admin key and that MFI's key; the app over it."""
    url = f"sqlite:///{tempfile.mkdtemp(prefix='loansvc-fuzz-')}/fuzz.db"
    upgrade(url)
    database = Database(url)
    with database.transaction() as session:
        lender = create_lender(session, LenderCreate(name="Fuzz Microfinance", kind="mfi"))
        for role, lender_id in (("admin", None), ("partner", lender.id)):
            issued = create_key(
                session, name=f"fuzz-{role}", role=role, lender_id=lender_id, created_by="fuzz"
            )
            KEYS[role] = {"Authorization": f"Bearer {issued.key}"}
    app = create_app(Settings(database_url=url, log_level="WARNING"), database=database)
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    loaded.config.generation.update(
        modes=["positive", "negative"], max_examples=FUZZ_EXAMPLES, deterministic=True, database="none"
    )
    return loaded


schema = _fuzzed_schema()


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_as_its_spec_says(case):
    for role in ("admin", "partner"):
        case.call_and_validate(headers=KEYS[role], checks=CHECKS)
