"""Settings, read from the environment with the LOANSVC_ prefix (pydantic-settings)."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# NBC Prakas on the interest rate cap: 18 % a year (the default of rate_cap_percent)
RATE_CAP_PERCENT = Decimal("18")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOANSVC_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./loansvc.db"
    # a read replica (PostgreSQL hot standby) for the reports, charts and exports; None: the primary.
    # Its transactions are read-only; what it shows lags the primary by the replication delay
    # (docs/scaling.md). On SQLite it may name the same file.
    read_database_url: str | None = None
    log_level: str = "INFO"
    # The official NBC rate was about 4,085-4,118 KHR per USD in late 2023.
    khr_per_usd: Decimal = Decimal("4100")
    # the most a financing plan proposes as a grant to an ID Poor or vulnerable household (USD;
    # a riel plan converts it at the policy's khr_per_usd)
    grant_cap_usd: Decimal = Decimal("1000")
    max_body_bytes: int = 1_000_000
    default_page_limit: int = 50
    max_page_limit: int = 500
    # a long list's `total` is exact when its filtered rows are at most this many; beyond, the count
    # stops there (total null, total_is_exact false) unless the request asks `?count=true`
    list_exact_count_limit: int = Field(default=10_000, ge=0, le=10_000_000)
    # Idempotency-Keys are kept at least this many days (`loansvc purge-idempotency` forgets older ones)
    idempotency_days: int = Field(default=30, ge=30)
    # a loan may be written off from this many days past due (two keys: one requests, one confirms)
    write_off_min_days_past_due: int = 180
    max_import_rows: int = 20_000
    # seconds a verified API key is trusted without a database read (0 = read every time);
    # a revocation is immediate in the process that revokes, and within this delay in the others
    auth_cache_seconds: float = 5.0
    # NBC cap on a loan's nominal rate (percent a year): a product above it is refused, and an
    # application whose fee-inclusive APR (shown to 2 decimals) passes it needs an acknowledgement
    rate_cap_percent: Decimal = Field(default=RATE_CAP_PERCENT, ge=0, le=1000)
    # signs the pages' session cookie (/ui/); unset: a random secret kept in ./.loansvc-session-secret
    # (made once, shared by the workers), fine for a demo; set it in production
    session_secret: str | None = Field(default=None, min_length=16)
    # a closed loan's collateral is due back within this many days of closed_on, overdue after
    title_return_days: int = Field(default=30, ge=0, le=3650)
    # database connections per worker process (pool size + overflow), how long a request waits for
    # one before it answers 503 with Retry-After, and how long a SQLite write waits for the lock
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=5, ge=0)
    db_pool_timeout_seconds: float = Field(default=2.0, gt=0)
    db_lock_timeout_seconds: float = Field(default=10.0, gt=0)
    # reminders (issue 15): the gateway (log: marks sent and logs without phone or name; http:
    # POSTs JSON to reminders_http_url for an SMS provider's adapter), retries, catch-up window
    reminders_gateway: Literal["log", "http"] = "log"
    reminders_http_url: str | None = None
    reminders_http_token: str | None = None
    reminders_http_timeout_seconds: float = Field(default=10.0, gt=0)
    reminders_max_attempts: int = Field(default=5, ge=1, le=50)
    reminders_retry_seconds: float = Field(default=60.0, ge=0)  # doubles with each attempt
    reminders_catch_up_days: int = Field(default=31, ge=1, le=366)
    # webhooks: private and loopback URLs are refused unless allowed; the first retry comes after
    # webhooks_retry_seconds, each next one after twice the last, up to webhooks_retry_max_seconds
    webhooks_allow_private: bool = False
    webhooks_retry_seconds: float = Field(default=5.0, ge=0)
    webhooks_retry_max_seconds: float = Field(default=3600.0, ge=0)
    webhooks_max_attempts: int = Field(default=15, ge=1, le=100)
    webhooks_timeout_seconds: float = Field(default=10.0, gt=0)
    # the in-process worker that delivers webhooks and queued reminders (off in the test suite)
    worker_enabled: bool = True
    worker_poll_seconds: float = Field(default=2.0, gt=0)
    # move what the process built at startup (modules, the app, its routes and schemas: about 280k
    # objects) out of the garbage collector's full passes while the app serves (gc.freeze): a full
    # pass then scans a request's objects only, not all of those (about 90 ms each, which showed
    # as the lists' p99); false: Python's default, kept for comparison (scripts/bench_lists.py)
    gc_freeze: bool = True
    # /docs (Swagger UI, served from the package) and /openapi.json; false in production to hide both
    docs_enabled: bool = True
    # the programme's complaints line, printed on every key facts statement ("" = ask the officer)
    complaints_hotline: str = Field(default="", max_length=100)


@lru_cache
def get_settings() -> Settings:
    return Settings()
