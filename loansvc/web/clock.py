"""The programme's clock, for the HTTP layer (it lives in `loansvc.clock`, below every layer)."""

from __future__ import annotations

from loansvc.clock import PHNOM_PENH, Clock, today

__all__ = ["PHNOM_PENH", "Clock", "today"]
