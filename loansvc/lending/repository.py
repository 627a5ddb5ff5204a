"""The ledger's queries: a loan (locked for money movements), its schedule rows, its payments and
allocations, and the movements after a date. Batch readers take many loans in a fixed number of
statements, whatever their number."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session

from loansvc.db.models import (
    Disbursement,
    Loan,
    Repayment,
    RepaymentAllocation,
    RepaymentReversal,
    ScheduledInstallment,
)
from loansvc.db.query import for_lender
from loansvc.lending.figures import ZERO, Later

SI = ScheduledInstallment
RA = RepaymentAllocation


def get(session: Session, loan_id: str, *, lender_id: str | None = None, lock: bool = False) -> Loan | None:
    query = for_lender(select(Loan).where(Loan.id == loan_id), Loan.lender_id, lender_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def loans_by_ids(session: Session, loan_ids: Sequence[str]) -> dict[str, Loan]:
    if not loan_ids:
        return {}
    return {loan.id: loan for loan in session.scalars(select(Loan).where(Loan.id.in_(loan_ids)))}


def installments(session: Session, loan: Loan, *, open_only: bool = False, version: int | None = None):
    """The rows of the loan's current schedule version (or `version`), in order; `open_only`:
    those not yet fully paid (what a new payment needs, however long the history)."""
    query = select(SI).where(SI.loan_id == loan.id, SI.version == (version or loan.schedule_version))
    if open_only:
        query = query.where(SI.fully_paid_on.is_(None))
    return list(session.scalars(query.order_by(SI.number)))


def installments_of(session: Session, loans: Sequence[Loan]) -> dict[str, list[ScheduledInstallment]]:
    """The current schedule rows of many loans, in one statement."""
    out: dict[str, list[ScheduledInstallment]] = {loan.id: [] for loan in loans}
    if not loans:
        return out
    query = (
        select(SI)
        .join(Loan, and_(Loan.id == SI.loan_id, Loan.schedule_version == SI.version))
        .where(SI.loan_id.in_([loan.id for loan in loans]))
        .order_by(SI.loan_id, SI.number)
    )
    for row in session.scalars(query):
        out[row.loan_id].append(row)
    return out


def later_movements(session: Session, loan_ids: Sequence[str], as_of: date) -> dict[str, Later]:
    """Per loan, what happened after `as_of`: allocations per installment, tranches, recoveries
    and the repayments themselves (three statements, whatever the number of loans)."""
    if not loan_ids:
        return {}
    paid: dict[str, dict[int, tuple]] = defaultdict(dict)
    allocated = (
        select(
            RA.loan_id,
            RA.number,
            func.sum(RA.principal),
            func.sum(RA.interest),
            func.sum(RA.fees),
            func.sum(RA.penalty),
        )
        .where(RA.loan_id.in_(loan_ids), RA.paid_on > as_of)
        .group_by(RA.loan_id, RA.number)
    )
    for loan_id, number, *parts in session.execute(allocated):
        paid[loan_id][number] = tuple(parts)
    disbursed: dict[str, Decimal] = {}
    tranches = (
        select(Disbursement.loan_id, func.sum(Disbursement.amount))
        .where(Disbursement.loan_id.in_(loan_ids), Disbursement.disbursed_on > as_of)
        .group_by(Disbursement.loan_id)
    )
    for loan_id, amount in session.execute(tranches):
        disbursed[loan_id] = amount
    received: dict[tuple[str, str], Decimal] = {}
    not_reversed = (
        ~select(RepaymentReversal.id).where(RepaymentReversal.repayment_id == Repayment.id).exists()
    )
    payments = (
        select(Repayment.loan_id, Repayment.kind, func.sum(Repayment.amount))
        .where(Repayment.loan_id.in_(loan_ids), Repayment.paid_on > as_of, not_reversed)
        .group_by(Repayment.loan_id, Repayment.kind)
    )
    for loan_id, kind, amount in session.execute(payments):
        received[(loan_id, kind)] = amount
    return {
        loan_id: Later(
            paid=paid.get(loan_id, {}),
            disbursed=disbursed.get(loan_id, ZERO),
            recovered=received.get((loan_id, "recovery"), ZERO),
            paid_total=received.get((loan_id, "repayment"), ZERO),
        )
        for loan_id in loan_ids
    }


def last_paid_on(session: Session, loan_id: str) -> date | None:
    """The date of the loan's latest repayment (reversed ones included: it only decides whether a
    new payment can be allocated on top of the others or needs a replay)."""
    query = select(func.max(Repayment.paid_on)).where(
        Repayment.loan_id == loan_id, Repayment.kind == "repayment"
    )
    return session.scalar(query)


def payments_to_replay(session: Session, loan_id: str) -> list[Repayment]:
    """The repayments that count (not reversed, not recoveries), in the order they are replayed."""
    reversed_ = select(RepaymentReversal.id).where(RepaymentReversal.repayment_id == Repayment.id).exists()
    query = select(Repayment).where(Repayment.loan_id == loan_id, Repayment.kind == "repayment", ~reversed_)
    return list(session.scalars(query.order_by(Repayment.paid_on, Repayment.created_at, Repayment.id)))


def clear_allocations(session: Session, loan_id: str) -> None:
    """The allocation rows are a projection of the payments; they are rebuilt, the payments never are."""
    session.execute(delete(RA).where(RA.loan_id == loan_id))


def reference_taken(session: Session, loan_id: str, reference: str) -> bool:
    query = select(Repayment.id).where(Repayment.loan_id == loan_id, Repayment.reference == reference)
    return session.scalar(query) is not None


def disbursements(session: Session, loan_id: str) -> list[Disbursement]:
    query = select(Disbursement).where(Disbursement.loan_id == loan_id)
    return list(session.scalars(query.order_by(Disbursement.disbursed_on, Disbursement.created_at)))
