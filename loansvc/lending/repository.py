"""The ledger's queries: a loan (locked for money movements), its schedule rows, its payments and
allocations, and the movements after a date. Batch readers take many loans in a fixed number of
statements, whatever their number."""

from __future__ import annotations

from collections import defaultdict, namedtuple
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import and_, case, delete, func, literal_column, not_, or_, select
from sqlalchemy.orm import Session

from loansvc.db.models import (
    Disbursement,
    Loan,
    Repayment,
    RepaymentAllocation,
    RepaymentReversal,
    Restructure,
    ScheduledInstallment,
    ScheduleVersion,
)
from loansvc.db.query import for_lender
from loansvc.lending.figures import ZERO, Later

SI = ScheduledInstallment
RA = RepaymentAllocation
# a bare SQL zero: a bound 0 would take the money type and reach SQLite as the text '0'
_SQL_ZERO = literal_column("0")
# an installment row as a page reads it: its columns by name (a tuple's attributes cost a tenth of
# a Row's, and the ledger reads each a dozen times)
PageInstallment = namedtuple("PageInstallment", [c.name for c in SI.__table__.c])


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
    ids = [loan.id for loan in loans]
    query = (
        select(SI)
        .join(Loan, and_(Loan.id == SI.loan_id, Loan.schedule_version == SI.version))
        # the loans' ids on both sides: without them a planner short of statistics may hash-join
        # every loan (2.4 s instead of 20 ms at a million loans)
        .where(SI.loan_id.in_(ids), Loan.id.in_(ids))
        .order_by(SI.loan_id, SI.number)
    )
    for row in session.scalars(query):
        out[row.loan_id].append(row)
    return out


def page_installments_of(session: Session, loans: Sequence[Loan], as_of: date) -> dict[str, list]:
    """`installments_of`'s rows a list item's figures may read (lending.reads._rows_that_count
    keeps a subset of them), in one statement, as plain tuples (`PageInstallment`, not ORM
    objects: a page reads them, never changes them). Left out: the installments due after `as_of`
    untouched (no late fee, nothing paid) that come after the first untouched one owing at least
    1 (a whole unit of any currency, so at least its quantum once rounded: never before the first
    untouched one whose rounded total owes something). A restructured loan keeps every row (its
    watch reads them)."""
    out: dict[str, list] = {loan.id: [] for loan in loans}
    if not loans:
        return out
    ids = [loan.id for loan in loans]
    untouched = and_(
        SI.due_date > as_of,
        SI.penalty == _SQL_ZERO,
        SI.paid_principal == _SQL_ZERO,
        SI.paid_interest == _SQL_ZERO,
        SI.paid_fees == _SQL_ZERO,
        SI.paid_penalty == _SQL_ZERO,
    )
    columns = list(SI.__table__.c)
    rows = (
        select(
            *columns,
            case((or_(Loan.restructured_on.is_not(None), not_(untouched)), 1), else_=0).label("kept"),
            func.min(case((and_(untouched, SI.total >= Decimal(1)), SI.number)))
            .over(partition_by=SI.loan_id)
            .label("first_owing"),
        )
        .join(Loan, and_(Loan.id == SI.loan_id, Loan.schedule_version == SI.version))
        # the loans' ids on both sides, as in installments_of
        .where(SI.loan_id.in_(ids), Loan.id.in_(ids))
        .subquery()
    )
    query = (
        select(*(rows.c[c.name] for c in columns))
        .where(or_(rows.c.kept == 1, rows.c.number <= func.coalesce(rows.c.first_owing, rows.c.number)))
        .order_by(rows.c.loan_id, rows.c.number)
    )
    for row in session.execute(query):
        installment = PageInstallment._make(row)
        out[installment.loan_id].append(installment)
    return out


def later_movements(session: Session, loan_ids: Sequence[str], as_of: date) -> dict[str, Later]:
    """Per loan, what happened after `as_of`: allocations per installment, tranches, recoveries
    the repayments themselves and the restructures (four statements, whatever the number of loans)."""
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
    restructured = (
        select(Restructure.loan_id, func.sum(Restructure.capitalised))
        .where(
            Restructure.loan_id.in_(loan_ids),
            Restructure.status == "approved",
            Restructure.effective_on > as_of,
        )
        .group_by(Restructure.loan_id)
    )
    capitalised = {loan_id: amount or ZERO for loan_id, amount in session.execute(restructured)}
    return {
        loan_id: Later(
            paid=paid.get(loan_id, {}),
            disbursed=disbursed.get(loan_id, ZERO),
            recovered=received.get((loan_id, "recovery"), ZERO),
            paid_total=received.get((loan_id, "repayment"), ZERO),
            capitalised=capitalised.get(loan_id, ZERO),
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


def payments_to_replay(session: Session, loan_id: str, created_after=None) -> list[Repayment]:
    """The repayments that count (not reversed, not recoveries), in the order they are replayed;
    `created_after`: only those recorded after that moment (a restructure's)."""
    reversed_ = select(RepaymentReversal.id).where(RepaymentReversal.repayment_id == Repayment.id).exists()
    query = select(Repayment).where(Repayment.loan_id == loan_id, Repayment.kind == "repayment", ~reversed_)
    if created_after is not None:
        query = query.where(Repayment.created_at > created_after)
    return list(session.scalars(query.order_by(Repayment.paid_on, Repayment.created_at, Repayment.id)))


def clear_allocations(session: Session, loan_id: str, created_after=None) -> None:
    """The allocation rows are a projection of the payments; they are rebuilt, the payments never are.
    `created_after`: only those of payments recorded after that moment."""
    query = delete(RA).where(RA.loan_id == loan_id)
    if created_after is not None:
        later = select(Repayment.id).where(Repayment.loan_id == loan_id, Repayment.created_at > created_after)
        query = query.where(RA.repayment_id.in_(later))
    session.execute(query)


def frozen_principal(session: Session, loan_id: str, created_until) -> Decimal:
    """The principal that payments recorded up to `created_until` put on the loan (none: 0)."""
    if created_until is None:
        return ZERO
    query = (
        select(func.coalesce(func.sum(RA.principal), 0))
        .join(Repayment, Repayment.id == RA.repayment_id)
        .where(RA.loan_id == loan_id, Repayment.created_at <= created_until)
    )
    return Decimal(session.scalar(query) or 0)


# the versions a replay starts from: the others are derived from one of these and the payments after it
BASE_KINDS = ("disbursement", "restructure", "holiday")


class _LegacyBase:
    restructure_id = None
    kind = "disbursement"
    starts_at_number = 1
    created_at = None

    def __init__(self, version: int):
        self.version = version


def base_version(session: Session, loan: Loan):
    """The version a replay starts from: the latest written by a disbursement or a restructure."""
    query = (
        select(ScheduleVersion)
        .where(ScheduleVersion.loan_id == loan.id, ScheduleVersion.kind.in_(BASE_KINDS))
        .order_by(ScheduleVersion.version.desc())
        .limit(1)
    )
    return session.scalars(query).first() or _LegacyBase(loan.schedule_version)


def restructured_at(session: Session, loan: Loan):
    """When the loan's latest restructure was approved (None if never): the payments recorded up
    to then stay where they are."""
    if not loan.restructure_count:
        return None
    query = select(func.max(Restructure.decided_at)).where(
        Restructure.loan_id == loan.id, Restructure.status == "approved"
    )
    return session.scalar(query)


def versions(session: Session, loan_id: str) -> list[ScheduleVersion]:
    query = select(ScheduleVersion).where(ScheduleVersion.loan_id == loan_id)
    return list(session.scalars(query.order_by(ScheduleVersion.version)))


def version(session: Session, loan_id: str, number: int) -> ScheduleVersion | None:
    """The record of one schedule version (why and from when it was written)."""
    return session.get(ScheduleVersion, (loan_id, number))


def derived_version(
    session: Session, loan_id: str, previous: int, repayment_id: str
) -> ScheduleVersion | None:
    """The prepayment version an earlier replay wrote for this payment on this version, if any."""
    query = select(ScheduleVersion).where(
        ScheduleVersion.loan_id == loan_id,
        ScheduleVersion.kind == "prepayment",
        ScheduleVersion.previous_version == previous,
        ScheduleVersion.repayment_id == repayment_id,
    )
    return session.scalars(query.order_by(ScheduleVersion.version.desc()).limit(1)).first()


def next_version(session: Session, loan_id: str) -> int:
    query = select(func.max(SI.version)).where(SI.loan_id == loan_id)
    return (session.scalar(query) or 0) + 1


def period_of(session: Session, loan: Loan, paid_on: date) -> tuple[date, date] | None:
    """(start, end) of the current version's period `paid_on` falls in: it ends at the first due
    date on or after `paid_on` and starts at the due date before (or the first disbursement)."""
    current = SI.loan_id == loan.id, SI.version == loan.schedule_version
    end = session.scalar(select(func.min(SI.due_date)).where(*current, SI.due_date >= paid_on))
    if end is None:
        return None
    start = session.scalar(select(func.max(SI.due_date)).where(*current, SI.due_date < paid_on))
    return (start or loan.first_disbursed_on or paid_on), end


def reference_taken(session: Session, loan_id: str, reference: str) -> bool:
    query = select(Repayment.id).where(Repayment.loan_id == loan_id, Repayment.reference == reference)
    return session.scalar(query) is not None


def disbursements(session: Session, loan_id: str) -> list[Disbursement]:
    query = select(Disbursement).where(Disbursement.loan_id == loan_id)
    return list(session.scalars(query.order_by(Disbursement.disbursed_on, Disbursement.created_at)))
