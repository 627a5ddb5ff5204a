"""Loan queries. Money-moving paths lock the loan row (SELECT ... FOR UPDATE on PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from loansvc.db.models import Disbursement, DisbursementLine, Inspection, Loan, ScheduledInstallment

ACTIVE_STATUSES = ("active",)


def get(session: Session, loan_id: str, *, lender_id: str | None = None, lock: bool = False) -> Loan | None:
    query = select(Loan).where(Loan.id == loan_id)
    if lender_id is not None:
        query = query.where(Loan.lender_id == lender_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def loans_query(
    *, lender_id: str | None, status: str | None, household_id: str | None, product_id: str | None = None
) -> Select:
    query = select(Loan).order_by(Loan.submitted_on.desc(), Loan.id)
    if lender_id is not None:
        query = query.where(Loan.lender_id == lender_id)
    if status is not None:
        query = query.where(Loan.status == status)
    if household_id is not None:
        query = query.where(Loan.household_id == household_id)
    if product_id is not None:
        query = query.where(Loan.product_id == product_id)
    return query


def installments(session: Session, loan: Loan) -> list[ScheduledInstallment]:
    query = (
        select(ScheduledInstallment)
        .where(ScheduledInstallment.loan_id == loan.id, ScheduledInstallment.version == loan.schedule_version)
        .order_by(ScheduledInstallment.number)
    )
    return list(session.scalars(query))


def disbursements(session: Session, loan_id: str) -> list[Disbursement]:
    query = select(Disbursement).where(Disbursement.loan_id == loan_id)
    return list(session.scalars(query.order_by(Disbursement.disbursed_on, Disbursement.created_at)))


def disbursement_lines(session: Session, disbursement_ids: list[str]) -> dict[str, list[DisbursementLine]]:
    out: dict[str, list[DisbursementLine]] = {d: [] for d in disbursement_ids}
    if disbursement_ids:
        query = select(DisbursementLine).where(DisbursementLine.disbursement_id.in_(disbursement_ids))
        for line in session.scalars(query.order_by(DisbursementLine.sku)):
            out[line.disbursement_id].append(line)
    return out


def inspections(session: Session, loan_id: str) -> list[Inspection]:
    query = select(Inspection).where(Inspection.loan_id == loan_id)
    return list(session.scalars(query.order_by(Inspection.inspected_on, Inspection.created_at)))


def active_loans_of_household(
    session: Session, household_id: str, exclude_loan_id: str | None = None
) -> list[Loan]:
    query = select(Loan).where(Loan.household_id == household_id, Loan.status.in_(ACTIVE_STATUSES))
    if exclude_loan_id is not None:
        query = query.where(Loan.id != exclude_loan_id)
    return list(session.scalars(query.order_by(Loan.submitted_on, Loan.id)))


def largest_installments(session: Session, loans: list[Loan]) -> dict[str, ScheduledInstallment]:
    """For each loan, its largest installment still to come in the current schedule version."""
    out: dict[str, ScheduledInstallment] = {}
    for loan in loans:
        rows = installments(session, loan)
        if rows:
            out[loan.id] = max(rows, key=lambda r: r.total)
    return out


def count(session: Session, query: Select) -> int:
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
