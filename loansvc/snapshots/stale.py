"""What makes a snapshot stale: a movement dated on or before a month end already taken, or on or
before a day whose flows are stored.

`invalidate` imports nothing above the database, so the ledger can call it in the transaction of
the movement (loansvc.snapshots.service, which computes snapshots, reads the report queries).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete
from sqlalchemy.orm import Session

from loansvc.db.models import PortfolioFlow, PortfolioFlowDay, PortfolioSnapshot, PortfolioSnapshotMonth


def invalidate(session: Session, lender_id: str, on: date) -> None:
    """A movement of `lender_id` dated `on` (a backdated payment, a reversal, a correction) changes
    every month end from `on`: that lender's snapshot rows of those months go, and so do the months'
    "taken" marks, so the next report that needs one of them takes the whole month again."""
    session.execute(
        delete(PortfolioSnapshot).where(
            PortfolioSnapshot.lender_id == lender_id, PortfolioSnapshot.month_end >= on
        )
    )
    session.execute(delete(PortfolioSnapshotMonth).where(PortfolioSnapshotMonth.month_end >= on))


def invalidate_flows(session: Session, lender_id: str, on: date) -> None:
    """A movement of `lender_id` dated `on` changes the flows of `on`: that lender's flow rows from
    `on` go, and so do the days' "complete" marks, so reports compute those days again from the
    movements until the nightly fill stores them again (loansvc.snapshots.flows)."""
    session.execute(
        delete(PortfolioFlow).where(PortfolioFlow.lender_id == lender_id, PortfolioFlow.day >= on)
    )
    session.execute(delete(PortfolioFlowDay).where(PortfolioFlowDay.day >= on))
