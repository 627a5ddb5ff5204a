"""Who is a borrower, kept on the loans: the current report counts households without a DISTINCT.

A household with several active loans is one borrower. Each active loan carries four flags, 1 when
the same household has an active loan with a smaller id in the same:
- `later_in_currency`: currency;
- `later_with_lender`: currency and lender;
- `later_in_product`: currency and product;
- `later_with_lender_product`: currency, lender and product.
A loan out of the portfolio carries 0 everywhere. So the borrowers of any group of active loans
(a site, a lender, a product, a currency, a partner's own lender) are its loans less the sum of the
one flag that matches the group: counted in the same scan as the positions (reports.queries).
A household with one loan, nearly every household, never has a flag written.

Who writes them: whenever a flush moves a loan into or out of the portfolio (a disbursement, the
last payment, a reversal reopening it, a write-off, a loan written as active by a script), its
household's flags are worked out again, in the same transaction. The household's row is locked
first (PostgreSQL), so two transactions moving loans of one household take turns. `recount` with no
households is the first fill and the nightly check (`loansvc positions refresh`): it writes only
the loans whose flags differ (none, when the flushes kept them).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, case, event, func, inspect, or_, select, update
from sqlalchemy.orm import Session

from loansvc.db.models import Household, Loan
from loansvc.db.models.lending import OUT_OF_PORTFOLIO_STATUSES

# each flag and what, with the household, makes loans "the same"
FLAGS = {
    "later_in_currency": (Loan.currency,),
    "later_with_lender": (Loan.currency, Loan.lender_id),
    "later_in_product": (Loan.currency, Loan.product_id),
    "later_with_lender_product": (Loan.currency, Loan.lender_id, Loan.product_id),
}
_PENDING = "borrowers.households"  # session.info: the households a flush must count again


def flags(*where) -> Select:
    """Per active loan (of the households `where` selects): its four flags, as they should be."""

    def later(same) -> case:
        rank = func.row_number().over(partition_by=(Loan.household_id, *same), order_by=Loan.id)
        return case((rank > 1, 1), else_=0)

    columns = [later(same).label(name) for name, same in FLAGS.items()]
    return select(Loan.id, *columns).where(Loan.status == "active", *where)


def recount(session: Session, household_ids: Iterable[str] | None = None) -> int:
    """Write the flags of the given households' loans (None: every household's) where they differ
    from what they should be; the number of loans written."""
    where = [] if household_ids is None else [Loan.household_id.in_(sorted(set(household_ids)))]
    want = flags(*where).subquery("flags")
    differ = or_(*(getattr(Loan, name) != want.c[name] for name in FLAGS))
    values = {name: want.c[name] for name in FLAGS}
    written = _execute(session, update(Loan).values(values).where(Loan.id == want.c.id, differ))
    # out of the portfolio: no flag (the statuses named, so the status indexes find the few)
    out = Loan.status.in_(OUT_OF_PORTFOLIO_STATUSES)
    flagged = or_(*(getattr(Loan, name) != 0 for name in FLAGS))
    cleared = update(Loan).values(dict.fromkeys(FLAGS, 0)).where(out, flagged, *where)
    return written + _execute(session, cleared)


def differences(session: Session) -> list[str]:
    """Each active loan whose stored flags are not what its household's active loans give, and each
    loan out of the portfolio that holds one (positions verify)."""
    want = flags().subquery("flags")
    stored = [getattr(Loan, name) for name in FLAGS]
    wanted = [func.coalesce(want.c[name], 0) for name in FLAGS]
    query = (
        select(Loan.id, *stored, *wanted)
        .outerjoin(want, want.c.id == Loan.id)
        .where(or_(*(s != w for s, w in zip(stored, wanted, strict=True))))
        .order_by(Loan.id)
    )
    lines, n = [], len(FLAGS)
    for loan_id, *values in session.execute(query):
        for name, have, want_ in zip(FLAGS, values[:n], values[n:], strict=True):
            if have != want_:
                lines.append(f"loan {loan_id}: {name} stored {have}, from the household {want_}")
    return lines


def _execute(session: Session, statement) -> int:
    return session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0


def _moves_in_or_out(loan: Loan) -> bool:
    """The flush adds or removes this loan from the portfolio (active)."""
    state = inspect(loan)
    if state.pending or state.deleted or loan in state.session.deleted:
        return loan.status == "active"
    history = state.attrs.status.history
    return "active" in (*history.added, *history.deleted)


@event.listens_for(Session, "before_flush")
def _lock_households(session: Session, _context, _objects) -> None:
    """Before the flush writes a loan that moves into or out of the portfolio, lock its household
    (PostgreSQL; ordered by id), and remember it for after the flush."""
    loans = [obj for obj in (*session.new, *session.dirty, *session.deleted) if isinstance(obj, Loan)]
    households = {loan.household_id for loan in loans if loan.household_id and _moves_in_or_out(loan)}
    if not households:
        return
    if session.get_bind().dialect.name == "postgresql":
        lock = select(Household.id).where(Household.id.in_(sorted(households))).order_by(Household.id)
        session.execute(lock.with_for_update())
    session.info.setdefault(_PENDING, set()).update(households)


@event.listens_for(Session, "after_flush_postexec")
def _count_again(session: Session, _context) -> None:
    """After that flush: the households' flags, and the session's copies of them expired."""
    households = session.info.pop(_PENDING, None)
    if not households:
        return
    recount(session, households)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Loan) and obj.household_id in households:
            session.expire(obj, list(FLAGS))
