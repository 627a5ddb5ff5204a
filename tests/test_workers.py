"""`loansvc serve --workers 2`: two processes behind one port, and nothing either keeps in memory
that the other needs.

The server runs as a user runs it (a subprocess on a free port), on a SQLite file of its own
(the process model is the point here, not the database), with the API-key cache off
(LOANSVC_AUTH_CACHE_SECONDS=0): every request reads its key from the database, so a key revoked
through one worker is refused by both at once. With the default cache (5 s) another worker would
refuse it within 5 seconds (docs/scaling.md).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from loansvc.auth.service import create_key
from loansvc.db.session import Database
from loansvc.migrate import upgrade

WORKERS = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keys(url: str) -> tuple[dict, dict, str]:
    database = Database(url)
    try:
        with database.transaction() as session:
            admin = create_key(session, name="workers admin", role="admin", lender_id=None, created_by="t")
            officer = create_key(
                session, name="workers officer", role="loan_officer", lender_id=None, created_by="t"
            )
        return (
            {"Authorization": f"Bearer {admin.key}"},
            {"Authorization": f"Bearer {officer.key}"},
            "workers officer",
        )
    finally:
        database.dispose()


def _wait_until_serving(base: str, log: Path, proc: subprocess.Popen, timeout: float = 90) -> set[str]:
    """Until /health answers and every worker has started; the workers' process ids."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        pids = set(re.findall(r"Started server process \[(\d+)\]", log.read_text()))
        try:
            if len(pids) == WORKERS and httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return pids
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"the server did not start: {log.read_text()}")


def test_two_workers_serve_one_port_and_share_nothing_a_request_needs(tmp_path):
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    upgrade(url)
    admin, officer, officer_name = _keys(url)
    port = _free_port()
    env = {
        **os.environ,
        "LOANSVC_DATABASE_URL": url,
        "LOANSVC_AUTH_CACHE_SECONDS": "0",
        "LOANSVC_WORKER_ENABLED": "false",
        "LOANSVC_SESSION_SECRET": "workers-test-secret-0123456789",
    }
    command = [sys.executable, "-c", "from loansvc.cli import app; app()", "serve"]
    command += ["--workers", str(WORKERS), "--port", str(port)]
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        pids = _wait_until_serving(base, log, proc)
        assert len(pids) == WORKERS and str(proc.pid) not in pids  # the parent supervises

        with httpx.Client(base_url=base, timeout=10) as client:
            # a fresh connection each time, so the kernel spreads them over both workers' accepts
            before = [client.get("/v1/loans", headers={**officer, "Connection": "close"}) for _ in range(6)]
            assert [r.status_code for r in before] == [200] * 6
            assert client.delete(f"/v1/api-keys/{officer_name}", headers=admin).status_code == 200
            after = [client.get("/v1/loans", headers={**officer, "Connection": "close"}) for _ in range(6)]
            assert [r.status_code for r in after] == [401] * 6
    finally:
        proc.terminate()  # the parent stops its workers
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
