"""All models, imported here so that Alembic and the app see one metadata."""

from loansvc.db.models.affordability import Assessment, HousingModel, Material, Policy
from loansvc.db.models.auth import ApiKey
from loansvc.db.models.custody import Collateral
from loansvc.db.models.follow_up import CollectionContact, Complaint
from loansvc.db.models.lending import (
    AuditEntry,
    Disbursement,
    DisbursementLine,
    IdempotencyRecord,
    Inspection,
    Loan,
    ScheduledInstallment,
    StockMovement,
)
from loansvc.db.models.notify import (
    EventOutbox,
    HouseholdReminderOptOut,
    LoanArrearsMark,
    ReminderMessage,
    ReminderRule,
    ReminderRun,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from loansvc.db.models.protection import Consent, LoanReview
from loansvc.db.models.registry import (
    Household,
    HouseholdDebt,
    HouseholdExpense,
    HouseholdIncome,
    HouseholdLender,
    Lender,
    Product,
    Site,
)
from loansvc.db.models.repayments import Repayment, RepaymentAllocation, RepaymentReversal, WriteOff
from loansvc.db.models.restructuring import Holiday, Restructure, ScheduleVersion
from loansvc.db.models.snapshots import (
    PortfolioFlow,
    PortfolioFlowDay,
    PortfolioSnapshot,
    PortfolioSnapshotMonth,
)

__all__ = [
    "ApiKey",
    "Assessment",
    "AuditEntry",
    "Collateral",
    "CollectionContact",
    "Complaint",
    "Consent",
    "Disbursement",
    "DisbursementLine",
    "EventOutbox",
    "Holiday",
    "Household",
    "HouseholdDebt",
    "HouseholdExpense",
    "HouseholdIncome",
    "HouseholdLender",
    "HouseholdReminderOptOut",
    "HousingModel",
    "IdempotencyRecord",
    "Inspection",
    "Lender",
    "Loan",
    "LoanArrearsMark",
    "LoanReview",
    "Material",
    "Policy",
    "PortfolioFlow",
    "PortfolioFlowDay",
    "PortfolioSnapshot",
    "PortfolioSnapshotMonth",
    "Product",
    "ReminderMessage",
    "ReminderRule",
    "ReminderRun",
    "Repayment",
    "RepaymentAllocation",
    "RepaymentReversal",
    "Restructure",
    "ScheduleVersion",
    "ScheduledInstallment",
    "Site",
    "StockMovement",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
    "WriteOff",
]
