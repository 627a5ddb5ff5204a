"""Health, and the shape of every error: RFC 9457 problem details, a request id, never a traceback."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.helpers import assert_problem


def test_health_answers_without_a_key_and_checks_the_database(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"], body["pool"]) == ("ok", "ok", "ok")


def test_health_reports_an_unreachable_database_as_degraded(app, client, monkeypatch):
    class _Down:
        def connect(self):
            raise OSError("connection refused")

    monkeypatch.setattr(app.state.db, "engine", _Down(), raising=False)
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] != "ok"


def test_unknown_path_is_a_404_problem(client, admin):
    body = assert_problem(client.get("/v1/no-such-thing", headers=admin), 404)
    assert body["instance"] == "/v1/no-such-thing"


def test_wrong_method_is_a_405_problem(client, admin):
    assert_problem(client.delete("/v1/lenders", headers=admin), 405)
    assert_problem(client.put("/health"), 405)


def test_validation_error_is_a_422_problem_with_field_errors(client, admin):
    response = client.post("/v1/lenders", headers=admin, json={"kind": "bank"})
    body = assert_problem(response, 422)
    locs = {tuple(error["loc"]) for error in body["errors"]}
    # name is missing and kind is not one of mfi | materials_bank | ngo_fund
    assert ("body", "name") in locs
    assert ("body", "kind") in locs
    assert all(error["msg"] for error in body["errors"])


def test_malformed_json_is_a_400_problem(client, admin):
    response = client.post(
        "/v1/lenders", headers={**admin, "content-type": "application/json"}, content=b"{bad"
    )
    assert_problem(response, 400)


def test_a_10_mb_body_is_a_413_problem(client, admin):
    ten_mb = b'{"name": "' + b"x" * (10 * 1024 * 1024) + b'", "kind": "mfi"}'
    response = client.post(
        "/v1/lenders", headers={**admin, "content-type": "application/json"}, content=ten_mb
    )
    assert_problem(response, 413)


def test_a_streamed_10_mb_body_without_content_length_is_a_413_problem(client, admin):
    chunks = (b"x" * (1024 * 1024) for _ in range(10))
    response = client.post(
        "/v1/lenders", headers={**admin, "content-type": "application/json"}, content=chunks
    )
    assert_problem(response, 413)


def test_every_response_carries_a_request_id(client, admin):
    responses = [
        client.get("/health"),
        client.get("/v1/lenders", headers=admin),
        client.get("/v1/lenders"),
        client.get("/v1/nowhere", headers=admin),
        client.post("/v1/lenders", headers=admin, json={}),
    ]
    ids = [r.headers.get("x-request-id") for r in responses]
    assert all(ids), ids
    assert len(set(ids)) == len(ids), "each request gets its own id"


def test_a_sensible_incoming_request_id_is_kept(client):
    response = client.get("/health", headers={"X-Request-ID": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"


def test_a_crash_is_a_500_problem_without_a_traceback(app):
    def explode():
        raise RuntimeError("the ledger fell over at /srv/loansvc/secret.py line 12")

    app.add_api_route("/test-only/explode", explode, methods=["GET"])
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/test-only/explode")
    assert_problem(response, 500, "INTERNAL_ERROR")
    assert response.headers.get("x-request-id")
    for leak in ("Traceback", "RuntimeError", "ledger fell over", "secret.py"):
        assert leak not in response.text
