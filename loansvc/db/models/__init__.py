"""All models, imported here so that Alembic and the app see one metadata."""

from loansvc.db.models.auth import ApiKey
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

__all__ = [
    "ApiKey",
    "Household",
    "HouseholdDebt",
    "HouseholdExpense",
    "HouseholdIncome",
    "HouseholdLender",
    "Lender",
    "Product",
    "Site",
]
