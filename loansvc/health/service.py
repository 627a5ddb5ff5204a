"""Whether the database answers, and whether the app's connection pool has room, for GET /health.

The check never waits on what it checks: it does not borrow from the app's pool (an exhausted
pool would make it wait the pool timeout) and does not run in the request thread pool (which
saturated requests fill); it opens its own connection, on its own small thread pool, with a
connect and statement timeout, and gives up after `timeout` seconds.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool, QueuePool

PROBE_SECONDS = 0.8  # the whole answer stays under 1 s
_probes: dict[str, Engine] = {}
_threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="health")


@dataclass(frozen=True)
class PoolState:
    in_use: int
    capacity: int | None  # None: a pool without a limit (SQLite in memory, NullPool)

    @property
    def exhausted(self) -> bool:
        return self.capacity is not None and self.in_use >= self.capacity


def pool_state(engine: Engine) -> PoolState:
    pool = getattr(engine, "pool", None)
    if isinstance(pool, QueuePool):
        return PoolState(in_use=pool.checkedout(), capacity=pool.size() + max(pool._max_overflow, 0))
    return PoolState(in_use=0, capacity=None)


def _probe_engine(engine: Engine) -> Engine:
    url = engine.url
    key = url.render_as_string(hide_password=False)
    if key not in _probes:
        if url.get_backend_name() == "sqlite":
            connect_args = {"timeout": PROBE_SECONDS, "check_same_thread": False}
        else:
            timeout_ms = int(PROBE_SECONDS * 1000)
            connect_args = {"connect_timeout": 1, "options": f"-c statement_timeout={timeout_ms}"}
        _probes[key] = create_engine(url, poolclass=NullPool, connect_args=connect_args, hide_parameters=True)
    return _probes[key]


def _select_one(engine: Engine) -> bool:
    try:
        with _probe_engine(engine).connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


async def database_answers(engine: Engine, timeout: float = PROBE_SECONDS) -> bool:
    loop = asyncio.get_running_loop()
    try:
        return await asyncio.wait_for(loop.run_in_executor(_threads, _select_one, engine), timeout)
    except TimeoutError:
        return False
