"""The affordability engine's input for a household: the household a caller may see, its recorded
finances, the installments of its approved and active loans with every lender in loansvc, and
the cash lines of a request (a quick check, or a loan officer's "what if" on a registered family).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from loansvc.affordability import repository
from loansvc.affordability.schemas import AssessRequest
from loansvc.auth.principal import Principal
from loansvc.db.models import Household
from loansvc.domain import affordability as policy_engine
from loansvc.domain.errors import InvalidInput, NotFound
from loansvc.domain.schedule import monthly_equivalent_factor
from loansvc.lending import households
from loansvc.lending.commitments import commitments


def visible_household(
    session: Session, principal: Principal, household_id: str, field: str | None = None
) -> Household:
    """The household, if the caller may see it: 404, or 422 on `field` when it is named in a body."""
    household = households.household(session, household_id, principal.lender_scope)
    if household is None:
        if field is not None:
            raise InvalidInput(f"no household {household_id}", code="UNKNOWN_HOUSEHOLD", field=field)
        raise NotFound(f"no household {household_id}", code="HOUSEHOLD_NOT_FOUND")
    return household


def _lines(
    rows, amount_attr: str, label_attr: str, default_currency: str
) -> tuple[policy_engine.CashLine, ...]:
    return tuple(
        policy_engine.CashLine(
            label=getattr(r, label_attr),
            amount=getattr(r, amount_attr),
            frequency=r.frequency,
            currency=r.currency or default_currency,
        )
        for r in rows
    )


def programme_loans(
    session: Session,
    household_id: str,
    currency: str,
    khr_per_usd: Decimal,
    exclude_loan_id: str | None = None,
    *,
    as_of: date,
) -> list[dict[str, Any]]:
    """Each approved or active loan of the household in loansvc, with its monthly installment (the
    ledger's commitment: the larger of what is still to come and what the approval promises)."""
    loans = repository.committed_loans(session, household_id, exclude_loan_id)
    out = []
    for c in commitments(session, loans, as_of):
        monthly_factor = monthly_equivalent_factor(c.frequency)
        monthly = policy_engine.to_currency(c.installment * monthly_factor, c.currency, currency, khr_per_usd)
        out.append(
            {
                "loan_id": c.loan_id,
                "lender_id": c.lender_id,
                "currency": c.currency,
                "monthly_installment": str(monthly),
            }
        )
    return out


def household_input(
    session: Session,
    household: Household,
    currency: str,
    loan: policy_engine.LoanRequest | None,
    as_of: date,
    policy: policy_engine.Policy,
    exclude_loan_id: str | None = None,
    overrides: AssessRequest | None = None,
) -> tuple[policy_engine.AssessmentInput, list[dict[str, Any]]]:
    """The household's recorded finances and programme loans as the engine's input, with the
    programme loans themselves (for the stored snapshot). `overrides`: the non-empty lines of a
    request replace the recorded ones (an empty list keeps them: clients send the defaults)."""
    household = households.household(session, household.id) or household
    programme = programme_loans(
        session, household.id, currency, policy.khr_per_usd, exclude_loan_id, as_of=as_of
    )
    incomes = _lines(household.incomes, "amount", "source", "USD")
    expenses = _lines(household.expenses, "amount", "category", "USD")
    debts = tuple(
        policy_engine.DebtLine(
            lender=d.lender,
            installment=d.installment,
            frequency=d.frequency,
            outstanding=d.outstanding,
            currency=d.currency or "USD",
        )
        for d in household.existing_debts
    )
    size, idpoor = household.household_size, household.idpoor_level
    if overrides is not None:  # a loan officer's "what if" on a registered household
        incomes = request_lines(overrides.incomes, "source") if overrides.incomes else incomes
        expenses = request_lines(overrides.expenses, "category") if overrides.expenses else expenses
        debts = request_debts(overrides) if overrides.existing_debts else debts
        size = overrides.household_size or size
        idpoor = overrides.idpoor_level if overrides.idpoor_level is not None else idpoor
    # the engine counts the declared lenders itself; here only the lenders inside loansvc
    lenders = {p["lender_id"] for p in programme}
    extra = sum((Decimal(p["monthly_installment"]) for p in programme), Decimal(0))
    inp = policy_engine.AssessmentInput(
        currency=currency,
        household_size=size,
        idpoor_level=idpoor,
        incomes=incomes,
        expenses=expenses,
        existing_debts=debts,
        loan=loan,
        active_lenders=len(lenders),
        extra_debt_service=extra,
        as_of=as_of,
    )
    return inp, programme


def request_input(
    body: AssessRequest, loan: policy_engine.LoanRequest | None, as_of: date
) -> policy_engine.AssessmentInput:
    """The engine's input from a quick check's body alone (no registered household)."""
    return policy_engine.AssessmentInput(
        currency=body.currency,
        household_size=body.household_size,
        idpoor_level=body.idpoor_level or 0,
        incomes=request_lines(body.incomes, "source"),
        expenses=request_lines(body.expenses, "category"),
        existing_debts=request_debts(body),
        loan=loan,
        as_of=as_of,
    )


def request_lines(lines, label_attr: str) -> tuple[policy_engine.CashLine, ...]:
    return tuple(
        policy_engine.CashLine(
            label=getattr(x, label_attr), amount=x.amount, frequency=x.frequency, currency=x.currency
        )
        for x in lines or []
    )


def request_debts(body: AssessRequest) -> tuple[policy_engine.DebtLine, ...]:
    return tuple(
        policy_engine.DebtLine(
            lender=d.lender,
            installment=d.installment,
            frequency=d.frequency,
            outstanding=d.outstanding,
            currency=d.currency,
        )
        for d in body.existing_debts
    )
