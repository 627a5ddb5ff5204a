"""Loans from application to last disbursement: terms, schedule versions, disbursements, stock, audit.

Money and stock movements are append-only rows; a schedule is re-amortized by writing a new version.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from loansvc.db.base import Base, IdMixin, Money, Quantity, Rate, TimestampMixin, UTCDateTime, utcnow
from loansvc.db.models.enums import one_of
from loansvc.domain.arrears import BUCKETS, CLASSES

LOAN_STATUSES = ("submitted", "approved", "rejected", "withdrawn", "active", "closed", "written_off")
# every status but active, named so that the status indexes find the few loans out of the portfolio
OUT_OF_PORTFOLIO_STATUSES = tuple(status for status in LOAN_STATUSES if status != "active")
OPEN_APPLICATION_STATUSES = ("submitted", "approved")
OPEN_APPLICATION_WHERE = "status IN ('submitted', 'approved')"
ACTIVE_WHERE = "status = 'active'"
RESTRUCTURED_WHERE = "status = 'active' AND restructured_on IS NOT NULL"
# what the current portfolio statements read of an active loan, carried by ix_loans_active_positions
ACTIVE_POSITION_COLUMNS = (
    "site_id",
    "product_id",
    "id",
    "schedule_version",
    "restructured_on",
    "restructured_from_number",
    "term",
    "periods_per_year",
    "apr_percent",
    "outstanding_principal",
    "oldest_due_on",
    "expected_as_of",
    *(f"expected_{k}" for k in range(1, 7)),
    # the household's earlier active loans (loansvc.lending.borrowers): borrowers without a DISTINCT
    "later_in_currency",
    "later_with_lender",
    "later_in_product",
    "later_with_lender_product",
)

# what a day's flows read of the loan of each installment falling due (and of each tranche):
# carried by ix_loans_flow_lookup, so that each lookup reads that index alone (migration 0021)
FLOW_LOOKUP_COLUMNS = (
    "schedule_version",
    "status",
    "closed_on",
    "written_off_on",
    "lender_id",
    "site_id",
    "product_id",
    "currency",
)
FLOW_LOOKUP_INDEX = "ix_loans_flow_lookup"


class Loan(IdMixin, TimestampMixin, Base):
    __tablename__ = "loans"
    __table_args__ = (
        one_of("status", LOAN_STATUSES, "status_valid"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("term >= 1", name="term_positive"),
        CheckConstraint("disbursed_amount >= 0", name="disbursed_not_negative"),
        CheckConstraint(
            "principal_repaid >= 0 AND principal_repaid <= disbursed_amount + capitalised_amount",
            name="repaid_within_disbursed",
        ),
        CheckConstraint("capitalised_amount >= 0", name="capitalised_not_negative"),
        CheckConstraint(
            "approved_amount IS NULL OR disbursed_amount <= approved_amount", name="disbursed_within_approval"
        ),
        CheckConstraint("credit_balance >= 0", name="credit_not_negative"),
        CheckConstraint("recovered_amount >= 0", name="recovered_not_negative"),
        Index("ix_loans_lender_status", "lender_id", "status"),
        # the delinquent list and the current report read the stored positions (loansvc.lending.positions)
        Index("ix_loans_status_oldest_due", "status", "oldest_due_on", "id"),
        CheckConstraint("outstanding_principal >= 0", name="outstanding_not_negative"),
        CheckConstraint(
            "principal_overdue >= 0 AND interest_overdue >= 0 AND fees_overdue >= 0",
            name="overdue_not_negative",
        ),
        CheckConstraint("days_past_due >= 0", name="days_past_due_not_negative"),
        one_of("arrears_bucket", BUCKETS, "arrears_bucket_valid"),
        one_of("nbc_class", CLASSES, "nbc_class_valid"),
        Index("ix_loans_household_status", "household_id", "status"),
        # one open application (submitted or approved, not yet disbursed) per household and lender:
        # the database refuses a concurrent second one (loansvc.loans.service.apply turns it into 409)
        Index(
            "uq_loans_open_application",
            "household_id",
            "lender_id",
            unique=True,
            postgresql_where=text(OPEN_APPLICATION_WHERE),
            sqlite_where=text(OPEN_APPLICATION_WHERE),
        ),
        # a partner's delinquent list: its lender's active loans, the oldest late due date first (0015)
        Index("ix_loans_lender_oldest_due", "lender_id", "status", "oldest_due_on", "id"),
        # the current report, the PAR trend's current point and the expected collections: index-only
        # scans of the active loans, in the order that counts distinct borrowers per currency (0018)
        Index(
            "ix_loans_active_positions",
            "currency",
            "household_id",
            "lender_id",
            postgresql_include=list(ACTIVE_POSITION_COLUMNS),
            postgresql_where=text(ACTIVE_WHERE),
            sqlite_where=text(ACTIVE_WHERE),
        ),
        # today's flows and the nightly fill look up the loan of each installment falling due that
        # day (about 48,600 at 1M loans on a month end): index-only lookups (0021)
        Index(FLOW_LOOKUP_INDEX, "id", postgresql_include=list(FLOW_LOOKUP_COLUMNS)),
        # the few active restructured loans, whose watch the current report works out first (0018)
        Index(
            "ix_loans_active_restructured",
            "id",
            postgresql_include=["restructured_on", "schedule_version", "restructured_from_number"],
            postgresql_where=text(RESTRUCTURED_WHERE),
            sqlite_where=text(RESTRUCTURED_WHERE),
        ),
    )

    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"))
    # the household's site, copied at creation (a household never changes site), for the reports
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    lender_id: Mapped[str] = mapped_column(ForeignKey("lenders.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(Money())
    term: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(500))
    housing_model_code: Mapped[str | None] = mapped_column(String(50))
    first_repayment_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="submitted")
    submitted_on: Mapped[date] = mapped_column(Date)
    submitted_by: Mapped[str] = mapped_column(String(100))
    submitted_by_key_id: Mapped[str] = mapped_column(String(36))
    assessment_id: Mapped[str | None] = mapped_column(ForeignKey("assessments.id"))
    decided_on: Mapped[date | None] = mapped_column(Date)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decision_note: Mapped[str | None] = mapped_column(String(2000))
    override_reason: Mapped[str | None] = mapped_column(String(2000))
    approved_amount: Mapped[Decimal | None] = mapped_column(Money())
    # the contract terms, frozen at approval (rate, method, frequency, fees ... as decimal strings)
    terms: Mapped[dict | None] = mapped_column(JSON)
    disbursed_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    first_disbursed_on: Mapped[date | None] = mapped_column(Date)
    last_event_on: Mapped[date] = mapped_column(Date)
    schedule_version: Mapped[int] = mapped_column(Integer, default=0)
    closed_on: Mapped[date | None] = mapped_column(Date)
    # running projection of the payments: principal repaid so far (for the gross loan portfolio)
    principal_repaid: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    # overdue interest and fees, or a payment holiday's interest, that a restructure made principal
    capitalised_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    written_off_on: Mapped[date | None] = mapped_column(Date)
    written_off_principal: Mapped[Decimal | None] = mapped_column(Money())
    # the ledger's position, kept with every movement (see loansvc/lending/ledger.py)
    credit_balance: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    recovered_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    first_unpaid_number: Mapped[int | None] = mapped_column(Integer)
    # from the frozen terms, for the short- or long-term classification in SQL
    periods_per_year: Mapped[int | None] = mapped_column(Integer)
    # the application's own fee-inclusive true cost (its amount, term and fees), in percent
    # restructuring: how many times, the last one's date and the first installment it rewrote
    restructure_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    restructured_on: Mapped[date | None] = mapped_column(Date)
    restructured_from_number: Mapped[int | None] = mapped_column(Integer)
    apr_percent: Mapped[Decimal | None] = mapped_column(Rate())
    eir_percent: Mapped[Decimal | None] = mapped_column(Rate())
    # the position the reports read, kept by the ledger with every movement (loansvc/lending/positions.py):
    # time-independent (outstanding principal, the oldest open due date) ...
    outstanding_principal: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    oldest_due_on: Mapped[date | None] = mapped_column(Date)
    # ... and what time moves, as of position_as_of (the nightly `loansvc positions refresh`)
    position_as_of: Mapped[date | None] = mapped_column(Date)
    principal_overdue: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    interest_overdue: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    fees_overdue: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    days_past_due: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    arrears_bucket: Mapped[str | None] = mapped_column(String(10))
    nbc_class: Mapped[str | None] = mapped_column(String(20))
    next_due_on: Mapped[date | None] = mapped_column(Date)
    next_due_amount: Mapped[Decimal | None] = mapped_column(Money())
    # what the open installments still owe in each window of months_after(expected_as_of), kept by
    # the ledger and moved nightly (loansvc/lending/expected.py); NULL out of the portfolio
    expected_as_of: Mapped[date | None] = mapped_column(Date)
    expected_1: Mapped[Decimal | None] = mapped_column(Money())
    expected_2: Mapped[Decimal | None] = mapped_column(Money())
    expected_3: Mapped[Decimal | None] = mapped_column(Money())
    expected_4: Mapped[Decimal | None] = mapped_column(Money())
    expected_5: Mapped[Decimal | None] = mapped_column(Money())
    expected_6: Mapped[Decimal | None] = mapped_column(Money())
    # 1 when the household has an active loan with a smaller id in the same currency (with the same
    # lender, product, both): kept with every move into or out of the portfolio (lending/borrowers.py)
    later_in_currency: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    later_with_lender: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    later_in_product: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    later_with_lender_product: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


# GET /v1/loans in its own order (newest submission first, then id) after each filter's columns
# (none, the partner's lender, the status, both, the product): migration 0015
_LIST_ORDER = (Loan.submitted_on.desc(), Loan.id)
Index("ix_loans_list", *_LIST_ORDER)
Index("ix_loans_lender_list", Loan.lender_id, *_LIST_ORDER)
Index("ix_loans_status_list", Loan.status, *_LIST_ORDER)
Index("ix_loans_lender_status_list", Loan.lender_id, Loan.status, *_LIST_ORDER)
Index("ix_loans_product_list", Loan.product_id, *_LIST_ORDER)


class ScheduledInstallment(Base):
    """One installment of one version of a loan's schedule; the loan's schedule_version is current."""

    __tablename__ = "scheduled_installments"
    __table_args__ = (
        CheckConstraint("principal >= 0 AND interest >= 0 AND fees >= 0", name="parts_not_negative"),
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        Index("ix_scheduled_installments_due", "due_date"),
        # the reports' "late at as_of": installments still unpaid, and those paid after a past as_of
        Index(
            "ix_scheduled_installments_unpaid_due",
            "due_date",
            postgresql_include=["loan_id", "version", "total", "penalty"],
            postgresql_where=text("fully_paid_on IS NULL"),
            sqlite_where=text("fully_paid_on IS NULL"),
        ),
        Index(
            "ix_scheduled_installments_paid_on",
            "fully_paid_on",
            postgresql_include=["loan_id", "version", "due_date", "total", "penalty"],
            postgresql_where=text("fully_paid_on IS NOT NULL"),
            sqlite_where=text("fully_paid_on IS NOT NULL"),
        ),
    )

    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    due_date: Mapped[date] = mapped_column(Date)
    principal: Mapped[Decimal] = mapped_column(Money())
    interest: Mapped[Decimal] = mapped_column(Money())
    fees: Mapped[Decimal] = mapped_column(Money())
    total: Mapped[Decimal] = mapped_column(Money())
    balance: Mapped[Decimal] = mapped_column(Money())
    # the projection of the loan's payments onto this installment (current version only)
    paid_principal: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    paid_interest: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    paid_fees: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    paid_penalty: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    penalty: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    paid_by_due_date: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    fully_paid_on: Mapped[date | None] = mapped_column(Date)


class Disbursement(IdMixin, TimestampMixin, Base):
    __tablename__ = "disbursements"
    __table_args__ = (
        one_of("kind", ("cash", "materials"), "kind_valid"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Money())
    milestone: Mapped[str] = mapped_column(String(50))
    disbursed_on: Mapped[date] = mapped_column(Date, index=True)
    created_by: Mapped[str] = mapped_column(String(100))
    # amount is the gross principal disbursed; upfront fees withheld from it leave net_amount in hand
    fees_withheld: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    net_amount: Mapped[Decimal | None] = mapped_column(Money())


class DisbursementLine(IdMixin, Base):
    """One material issued in kind: quantity at the catalog unit cost of the day."""

    __tablename__ = "disbursement_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("value >= 0", name="value_not_negative"),
    )

    disbursement_id: Mapped[str] = mapped_column(ForeignKey("disbursements.id"), index=True)
    material_id: Mapped[str] = mapped_column(ForeignKey("materials.id"))
    sku: Mapped[str] = mapped_column(String(50))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    unit_cost: Mapped[Decimal] = mapped_column(Money())
    value: Mapped[Decimal] = mapped_column(Money())


class StockMovement(IdMixin, TimestampMixin, Base):
    """Receipts add stock, issues remove it; the ledger is never rewritten."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        one_of("kind", ("receipt", "issue"), "kind_valid"),
        CheckConstraint("quantity != 0", name="quantity_not_zero"),
    )

    material_id: Mapped[str] = mapped_column(ForeignKey("materials.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    unit_cost: Mapped[Decimal] = mapped_column(Money())
    supplier: Mapped[str | None] = mapped_column(String(200))
    occurred_on: Mapped[date] = mapped_column(Date)
    disbursement_id: Mapped[str | None] = mapped_column(ForeignKey("disbursements.id"))
    created_by: Mapped[str] = mapped_column(String(100))


class Inspection(IdMixin, TimestampMixin, Base):
    __tablename__ = "inspections"

    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    milestone: Mapped[str] = mapped_column(String(50))
    inspected_on: Mapped[date] = mapped_column(Date)
    inspector: Mapped[str] = mapped_column(String(200))
    passed: Mapped[bool] = mapped_column()
    notes: Mapped[str | None] = mapped_column(String(2000))
    created_by: Mapped[str] = mapped_column(String(100))


class IdempotencyRecord(TimestampMixin, Base):
    """The first response to a money- or stock-moving request, replayed for a retry with the same key."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("key_id", "idempotency_key", name="uq_idempotency_records_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(36))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(300))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[dict | list | None] = mapped_column(JSON)


class AuditEntry(TimestampMixin, Base):
    """Append-only history of every state change and money movement: who, when, what, before, after."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entity_type: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[str] = mapped_column(String(36))
    loan_id: Mapped[str | None] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(50))
    actor_name: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str] = mapped_column(String(20))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
