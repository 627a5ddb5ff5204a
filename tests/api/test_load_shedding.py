"""Load is shed, not queued without end (issue 12, item 4): a request that cannot have a pooled
connection within `db_pool_timeout_seconds` answers 503 with Retry-After, and /health still answers
within a second, saying the pool is exhausted."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from loansvc.config import Settings
from loansvc.db.session import Database
from loansvc.main import create_app
from tests.api.helpers import assert_problem


def test_past_the_pool_requests_get_503_and_health_says_degraded(database_url):
    settings = Settings(
        database_url=database_url, db_pool_size=1, db_max_overflow=0, db_pool_timeout_seconds=0.3
    )
    database = Database.configured(settings)
    app = create_app(settings, database=database)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.get("/health").json()["status"] == "ok"
            held = database.engine.connect()  # the pool's only connection, busy with a long request
            try:
                start = time.perf_counter()
                shed = client.get("/v1/lenders", headers={"Authorization": "Bearer lsk_any-key"})
                shed_after = time.perf_counter() - start
                start = time.perf_counter()
                health = client.get("/health")
                health_after = time.perf_counter() - start
            finally:
                held.close()
            recovered = client.get("/health").json()
    finally:
        database.engine.dispose()
    body = assert_problem(shed, 503, "SERVICE_BUSY")
    assert shed.headers["retry-after"] == "1" and "retry" in body["detail"]
    assert shed_after < 0.3 + 0.7  # the pool timeout, not a hang
    assert health.status_code == 200 and health_after < 1.0
    assert (health.json()["status"], health.json()["pool"], health.json()["database"]) == (
        "degraded",
        "exhausted",
        "ok",
    )
    assert (recovered["status"], recovered["pool"]) == ("ok", "ok")
