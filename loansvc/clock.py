"""Today's date for business rules ("never in the future"), in the programme's time zone.

The app holds one clock (`create_app(..., clock=...)`); requests read it through `TodayDep`
(loansvc.web.clock re-exports it for the HTTP layer); the ledger reads `today()` only to know which
month ends have ended (a movement dated in one makes its snapshot stale).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

PHNOM_PENH = ZoneInfo("Asia/Phnom_Penh")


class Clock:
    """The wall clock in Phnom Penh."""

    def today(self) -> date:
        return datetime.now(PHNOM_PENH).date()


def today() -> date:
    """Today in Phnom Penh, for the command line (the HTTP layer reads the app's clock)."""
    return Clock().today()
