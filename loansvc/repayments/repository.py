"""Repayment queries."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from loansvc.db.models import Repayment, RepaymentAllocation, RepaymentReversal, WriteOff


def repayments(session: Session, loan_id: str) -> list[Repayment]:
    query = select(Repayment).where(Repayment.loan_id == loan_id)
    return list(session.scalars(query.order_by(Repayment.paid_on, Repayment.created_at, Repayment.id)))


def reversals(session: Session, loan_id: str) -> dict[str, RepaymentReversal]:
    query = select(RepaymentReversal).where(RepaymentReversal.loan_id == loan_id)
    return {r.repayment_id: r for r in session.scalars(query)}


def references(session: Session, loan_ids: list[str]) -> set[tuple[str, str]]:
    if not loan_ids:
        return set()
    query = select(Repayment.loan_id, Repayment.reference).where(Repayment.loan_id.in_(loan_ids))
    return {(loan_id, ref) for loan_id, ref in session.execute(query)}


def allocations(session: Session, loan_id: str) -> list[RepaymentAllocation]:
    query = select(RepaymentAllocation).where(RepaymentAllocation.loan_id == loan_id)
    return list(session.scalars(query.order_by(RepaymentAllocation.id)))


def clear_allocations(session: Session, loan_id: str) -> None:
    """The allocation rows are a projection of the payments; they are rebuilt, the payments never are."""
    session.execute(delete(RepaymentAllocation).where(RepaymentAllocation.loan_id == loan_id))


def pending_write_off(session: Session, loan_id: str) -> WriteOff | None:
    query = select(WriteOff).where(WriteOff.loan_id == loan_id, WriteOff.status == "pending")
    return session.scalars(query).first()
