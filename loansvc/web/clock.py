"""Today's date for business rules ("never in the future"), in the programme's time zone."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

PHNOM_PENH = ZoneInfo("Asia/Phnom_Penh")


def today() -> date:
    return datetime.now(PHNOM_PENH).date()
