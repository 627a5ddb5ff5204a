"""Month-end snapshots of the portfolio (issue 13): what the trends read instead of recomputing.

* `portfolio_snapshots`: the loans' positions at a month end, aggregated per lender, site,
  product, currency, arrears bucket and NBC class (the "position" part of the report's position
  query): loans, principal, PAR balances, loans above the rate cap, restructured loans.
* `portfolio_snapshot_months`: one row per month end taken, so a month whose portfolio was empty
  is known to be taken, with the rate cap its `apr_above_cap` figures were counted against.

A month is taken whole (every lender at once) or not at all: invalidating one lender's rows drops
the month's row here too, and the next take replaces the whole month (loansvc.snapshots).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from loansvc.db.base import Base, Money, Rate, UTCDateTime
from loansvc.db.models.enums import one_of
from loansvc.domain.arrears import BUCKETS, CLASSES


class PortfolioSnapshotMonth(Base):
    """A month end whose snapshot rows are complete."""

    __tablename__ = "portfolio_snapshot_months"

    month_end: Mapped[date] = mapped_column(Date, primary_key=True)
    # the legal cap (settings) the loans above the cap were counted against; None: not counted
    rate_cap_percent: Mapped[Decimal | None] = mapped_column(Rate(), nullable=True)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PortfolioSnapshot(Base):
    """The positions of one month end, lender, site, product, currency, bucket and class."""

    __tablename__ = "portfolio_snapshots"
    __table_args__ = (
        one_of("bucket", BUCKETS, "bucket_valid"),
        one_of("loan_class", CLASSES, "loan_class_valid"),
        CheckConstraint(
            "loans > 0 AND apr_above_cap >= 0 AND apr_above_cap <= loans AND restructured >= 0"
            " AND restructured <= loans",
            name="counts_valid",
        ),
        # invalidate(): one lender's month ends from a day on
        Index("ix_portfolio_snapshots_lender_month", "lender_id", "month_end"),
    )

    month_end: Mapped[date] = mapped_column(Date, primary_key=True)
    lender_id: Mapped[str] = mapped_column(ForeignKey("lenders.id"), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(10), primary_key=True)
    loan_class: Mapped[str] = mapped_column(String(20), primary_key=True)
    loans: Mapped[int] = mapped_column(Integer)
    principal: Mapped[Decimal] = mapped_column(Money())
    par1: Mapped[Decimal] = mapped_column(Money())
    par30: Mapped[Decimal] = mapped_column(Money())
    par90: Mapped[Decimal] = mapped_column(Money())
    apr_above_cap: Mapped[int] = mapped_column(Integer)
    apr_above_cap_balance: Mapped[Decimal] = mapped_column(Money())
    restructured: Mapped[int] = mapped_column(Integer)
    restructured_balance: Mapped[Decimal] = mapped_column(Money())
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())


FLOW_KINDS = (
    "collected",
    "recoveries",
    "disbursed_cash",
    "disbursed_materials",
    "principal_repaid",
    "capitalised",
    "fallen_due",
    "paid_by_due_date",
)


class PortfolioFlowDay(Base):
    """A day whose flow rows are complete (a day without movements has none)."""

    __tablename__ = "portfolio_flow_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PortfolioFlow(Base):
    """What moved on one day, per lender, site, product, currency and kind: the report's period
    figures are sums of these (loansvc.snapshots.flows). `closed_before`: for the installments that
    fell due that day (fallen_due, paid_by_due_date), the day their loan closed when that was before
    the due date (a period counts them only when it started before that day); else NULL."""

    __tablename__ = "portfolio_flows"
    __table_args__ = (
        one_of("kind", FLOW_KINDS, "kind_valid"),
        Index("ix_portfolio_flows_day", "day"),
        # invalidate(): one lender's days from a day on
        Index("ix_portfolio_flows_lender_day", "lender_id", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(Date)
    lender_id: Mapped[str] = mapped_column(ForeignKey("lenders.id"))
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(24))
    closed_before: Mapped[date | None] = mapped_column(Date, nullable=True)
    amount: Mapped[Decimal] = mapped_column(Money())
