"""Settings, read from the environment with the LOANSVC_ prefix (pydantic-settings)."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# NBC Prakas on the interest rate cap: 18 % a year (the default of rate_cap_percent)
RATE_CAP_PERCENT = Decimal("18")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOANSVC_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./loansvc.db"
    log_level: str = "INFO"
    # The official NBC rate was about 4,085-4,118 KHR per USD in late 2023.
    khr_per_usd: Decimal = Decimal("4100")
    # the most a financing plan proposes as a grant to an ID Poor or vulnerable household (USD;
    # a riel plan converts it at the policy's khr_per_usd)
    grant_cap_usd: Decimal = Decimal("1000")
    max_body_bytes: int = 1_000_000
    default_page_limit: int = 50
    max_page_limit: int = 500
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


@lru_cache
def get_settings() -> Settings:
    return Settings()
