"""Repayment queries: a loan's payments (paged), their allocations and reversals, write-off requests."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from loansvc.db.models import Repayment, RepaymentAllocation, RepaymentReversal, WriteOff
from loansvc.lending.repository import reference_taken

__all__ = [
    "allocations_of",
    "get",
    "pending_write_off",
    "reference_taken",
    "references",
    "repayments_query",
    "reversal_of",
    "reversals_of",
]


def get(session: Session, repayment_id: str) -> Repayment | None:
    return session.get(Repayment, repayment_id)


def repayments_query(loan_id: str) -> Select:
    query = select(Repayment).where(Repayment.loan_id == loan_id)
    return query.order_by(Repayment.paid_on, Repayment.created_at, Repayment.id)


def reversal_of(session: Session, repayment_id: str) -> RepaymentReversal | None:
    query = select(RepaymentReversal).where(RepaymentReversal.repayment_id == repayment_id)
    return session.scalars(query).first()


def reversals_of(session: Session, repayment_ids: list[str]) -> dict[str, RepaymentReversal]:
    if not repayment_ids:
        return {}
    query = select(RepaymentReversal).where(RepaymentReversal.repayment_id.in_(repayment_ids))
    return {r.repayment_id: r for r in session.scalars(query)}


def allocations_of(session: Session, repayment_ids: list[str]) -> dict[str, list[RepaymentAllocation]]:
    out: dict[str, list[RepaymentAllocation]] = defaultdict(list)
    if repayment_ids:
        query = select(RepaymentAllocation).where(RepaymentAllocation.repayment_id.in_(repayment_ids))
        for a in session.scalars(query.order_by(RepaymentAllocation.id)):
            out[a.repayment_id].append(a)
    return out


def references(session: Session, loan_ids: list[str]) -> set[tuple[str, str]]:
    if not loan_ids:
        return set()
    query = select(Repayment.loan_id, Repayment.reference).where(Repayment.loan_id.in_(loan_ids))
    return {(loan_id, ref) for loan_id, ref in session.execute(query)}


def pending_write_off(session: Session, loan_id: str) -> WriteOff | None:
    query = select(WriteOff).where(WriteOff.loan_id == loan_id, WriteOff.status == "pending")
    return session.scalars(query).first()
