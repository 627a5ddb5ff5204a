"""Repayment queries: a loan's payments (paged), their allocations and reversals, write-off requests."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from loansvc.db.models import Loan, Repayment, RepaymentAllocation, RepaymentReversal, WriteOff
from loansvc.lending.repository import reference_taken

__all__ = [
    "allocations_of",
    "get",
    "last_paid_on_of",
    "loans_of_file",
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
    out: set[tuple[str, str]] = set()
    for start in range(0, len(loan_ids), CHUNK):
        chunk = loan_ids[start : start + CHUNK]
        query = select(Repayment.loan_id, Repayment.reference).where(Repayment.loan_id.in_(chunk))
        out.update((loan_id, ref) for loan_id, ref in session.execute(query))
    return out


def pending_write_off(session: Session, loan_id: str) -> WriteOff | None:
    query = select(WriteOff).where(WriteOff.loan_id == loan_id, WriteOff.status == "pending")
    return session.scalars(query).first()


CHUNK = 500  # ids per IN list (SQLite's limit on bound parameters, and short statements)


def loans_of_file(
    session: Session, loan_ids: list[str], lender_id: str | None, *, lock: bool
) -> dict[str, Loan]:
    """The loans a repayment file names (a partner: its lender's only), in id order; `lock`: each
    row locked FOR UPDATE on PostgreSQL, in that order (two files touching the same loans never
    deadlock), and read afresh."""
    out: dict[str, Loan] = {}
    ordered = sorted(set(loan_ids))
    for start in range(0, len(ordered), CHUNK):
        query = select(Loan).where(Loan.id.in_(ordered[start : start + CHUNK])).order_by(Loan.id)
        if lender_id is not None:
            query = query.where(Loan.lender_id == lender_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        out.update((loan.id, loan) for loan in session.scalars(query))
    return out


def last_paid_on_of(session: Session, loan_ids: list[str]) -> dict[str, date]:
    """The date of each loan's latest repayment (as `lending.repository.last_paid_on`), in bulk."""
    out: dict[str, date] = {}
    for start in range(0, len(loan_ids), CHUNK):
        query = (
            select(Repayment.loan_id, func.max(Repayment.paid_on))
            .where(Repayment.loan_id.in_(loan_ids[start : start + CHUNK]), Repayment.kind == "repayment")
            .group_by(Repayment.loan_id)
        )
        out.update({loan_id: last for loan_id, last in session.execute(query)})
    return out
