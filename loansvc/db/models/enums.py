"""The enumerations stored in the database, with the SQL CHECK that guards each."""

from __future__ import annotations

from sqlalchemy import CheckConstraint

ROLES = ("admin", "loan_officer", "finance_lead", "partner")
LENDER_KINDS = ("mfi", "materials_bank", "ngo_fund")
INCOME_FREQUENCIES = ("daily", "weekly", "biweekly", "every_4_weeks", "monthly", "quarterly", "yearly")
REPAYMENT_FREQUENCIES = ("monthly", "quarterly", "every_4_weeks", "biweekly", "weekly")
INTEREST_METHODS = ("declining_balance", "flat")
AMORTIZATIONS = ("equal_installments", "equal_principal")
INTEREST_CALCULATIONS = ("per_period", "daily")
DAY_COUNTS = ("actual/365", "actual/360", "actual/actual", "30/360")
VULNERABILITIES = ("female_headed", "elderly_head", "disability", "chronic_illness")


def one_of(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=name)
