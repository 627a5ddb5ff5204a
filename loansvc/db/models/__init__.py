"""All models, imported here so that Alembic and the app see one metadata."""

from loansvc.db.models.affordability import Assessment, HousingModel, Material, Policy
from loansvc.db.models.auth import ApiKey
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

__all__ = [
    "ApiKey",
    "Assessment",
    "AuditEntry",
    "Consent",
    "Disbursement",
    "DisbursementLine",
    "Household",
    "HouseholdDebt",
    "HouseholdExpense",
    "HouseholdIncome",
    "HouseholdLender",
    "HousingModel",
    "IdempotencyRecord",
    "Inspection",
    "Lender",
    "Loan",
    "LoanReview",
    "Material",
    "Policy",
    "Product",
    "Repayment",
    "RepaymentAllocation",
    "RepaymentReversal",
    "ScheduledInstallment",
    "Site",
    "StockMovement",
    "WriteOff",
]
