"""THE LEDGER: schedule versions, payments and their allocations, and the position they leave.

The position kept current with every movement, in the same transaction:
- on the loan: disbursed, principal repaid, credit balance, recovered amount, the first unpaid
  installment, the written-off principal, the status (through `lending.status`);
- on each installment of the current schedule version: the paid parts, the late fee charged, the
  part paid by its due date and the day it was fully paid.

A payment dated on or after the loan's latest payment is allocated on top of that position: it
reads only the installments still open, so recording one costs the same at the 1st and the 700th
payment. A payment dated earlier, a reversal or a new schedule version replays the loan's whole
history instead, payment by payment, with the very same step, so both ways give one answer.

Allocation: oldest installment first, in the contract's component order (penalty, fees, interest,
principal by default); a late fee is charged on an installment still unpaid past its grace days
just before the payment that finds it so. A payment on a written-off loan is a recovery: it is
recorded and counted, and changes nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from loansvc.clock import today
from loansvc.db.base import new_id
from loansvc.db.models import (
    Loan,
    Repayment,
    RepaymentAllocation,
    RepaymentReversal,
    ScheduledInstallment,
    ScheduleVersion,
)
from loansvc.db.models.repayments import LOAN_KEYS
from loansvc.domain import repayments as allocation_engine
from loansvc.domain.errors import Conflict
from loansvc.domain.money import Rounding, quantum
from loansvc.domain.repayments import Prepayment
from loansvc.domain.reschedule import Join, Rest, accrue, rest_schedule
from loansvc.domain.schedule import Amortization, InterestCalculation, Schedule
from loansvc.domain.terms import FeeTiming, fee_amount
from loansvc.lending import positions, repository
from loansvc.lending.figures import ZERO
from loansvc.lending.status import transition
from loansvc.lending.terms import LoanTerms, terms_of
from loansvc.snapshots import stale


def moved(session: Session, lender_id: str, on: date, *, positions_too: bool = True) -> None:
    """A movement dated `on`: before today, the daily flows stored from `on` are stale; in a month
    already ended, so are the month-end snapshots from `on` (`snapshots.stale`). A movement dated
    today touches neither (nothing). `positions_too=False`: a movement that moves no position (a
    recovery on a written-off loan) leaves the snapshots alone."""
    current = today()
    if on < current:
        stale.invalidate_flows(session, lender_id, on)
    if positions_too and on < current.replace(day=1):
        stale.invalidate(session, lender_id, on)


@dataclass(frozen=True)
class PaymentIn:
    amount: Decimal
    paid_on: date
    reference: str
    channel: str | None
    created_by: str
    batch: str | None = None


def _remaining(row: ScheduledInstallment) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    return (
        row.principal - row.paid_principal,
        row.interest - row.paid_interest,
        row.fees - row.paid_fees,
        row.penalty - row.paid_penalty,
    )


def _is_open(row: ScheduledInstallment) -> bool:
    return any(part > 0 for part in _remaining(row))


def _allocate(
    rows: list[ScheduledInstallment], payment_id: str, amount: Decimal, paid_on: date, terms: LoanTerms
):
    """The allocation of one payment over the open `rows` (pure: nothing is changed): the late
    fees it charges first, its lines, and what is left beyond everything owed."""
    grace = timedelta(days=terms.late_fee_after_days)
    fees = {}
    if terms.late_fee:
        for row in rows:
            # open: still owing something (an installment owing nothing, a 0 % grace one, is never late)
            if _is_open(row) and row.penalty == 0 and row.due_date + grace < paid_on:
                fees[row.number] = terms.late_fee
    dues = []
    for row in rows:
        principal, interest, fee, penalty = _remaining(row)
        dues.append(
            allocation_engine.Due(
                number=row.number,
                due_date=row.due_date,
                principal=principal,
                interest=interest,
                fees=fee,
                penalty=penalty + fees.get(row.number, ZERO),
            )
        )
    result = allocation_engine.allocate(
        dues,
        [allocation_engine.Payment(id=payment_id, paid_on=paid_on, amount=amount)],
        order=terms.allocation_order,
        currency=terms.currency,
    )
    return fees, result


def keys_of(loan: Loan) -> dict[str, str]:
    """The loan's report keys, copied on each of its movements (models.repayments.LoanKeys)."""
    return {name: getattr(loan, name) for name in LOAN_KEYS}


def _apply(loan: Loan, rows, payment_id: str, paid_on: date, fees, result) -> list[RepaymentAllocation]:
    keys = keys_of(loan)
    by_number = {row.number: row for row in rows}
    for number, fee in fees.items():
        by_number[number].penalty = fee
    out = []
    for line in result.lines:
        row = by_number[line.number]
        row.paid_principal += line.principal
        row.paid_interest += line.interest
        row.paid_fees += line.fees
        row.paid_penalty += line.penalty
        if paid_on <= row.due_date:
            row.paid_by_due_date += line.total
        if not _is_open(row):
            row.fully_paid_on = paid_on
        out.append(
            RepaymentAllocation(
                repayment_id=payment_id,
                loan_id=row.loan_id,
                **keys,
                number=line.number,
                paid_on=paid_on,
                principal=line.principal,
                interest=line.interest,
                fees=line.fees,
                penalty=line.penalty,
            )
        )
    return out


def _overpaid(credit: Decimal, terms: LoanTerms) -> Conflict | None:
    if credit > 0 and not terms.allow_credit_balance:
        return Conflict(
            f"the payment is {credit} more than everything the loan still owes", code="OVERPAYMENT"
        )
    return None


def record_payment(session: Session, loan: Loan, payment: PaymentIn) -> Repayment:
    """Record a payment and move the loan's position; the loan row is locked by the caller.
    A payment the loan cannot take (409 OVERPAYMENT) is refused before anything is written."""
    kind = "recovery" if loan.status == "written_off" else "repayment"
    repayment = Repayment(
        id=new_id(),
        loan_id=loan.id,
        **keys_of(loan),
        kind=kind,
        amount=payment.amount,
        paid_on=payment.paid_on,
        reference=payment.reference,
        channel=payment.channel,
        created_by=payment.created_by,
        batch=payment.batch,
    )
    if kind == "recovery":
        still_owed = _owed_at_write_off(session, loan) - (loan.recovered_amount or ZERO)
        if payment.amount > still_owed:
            raise Conflict(
                f"the recovery is {payment.amount - still_owed} more than the family still owed when the "
                f"loan was written off ({still_owed} left to recover)",
                code="OVERPAYMENT",
            )
        moved(session, loan.lender_id, payment.paid_on, positions_too=False)
        session.add(repayment)
        loan.recovered_amount = (loan.recovered_amount or ZERO) + payment.amount
        positions.settle(loan, [], payment.paid_on)
        session.flush()
        return repayment
    if loan.restructured_on is not None and payment.paid_on < loan.restructured_on:
        raise Conflict(
            f"the loan was restructured from {loan.restructured_on}: a payment dated before that would "
            "rewrite the restructure; date it on or after that day",
            code="BEFORE_RESTRUCTURE",
        )
    moved(session, loan.lender_id, payment.paid_on)
    last = repository.last_paid_on(session, loan.id)
    if last is not None and payment.paid_on < last:
        session.add(repayment)  # dated before an earlier payment: the history is replayed
        session.flush()
        rebuild(session, loan)
        return repayment
    terms = terms_of(loan)
    rows = repository.installments(session, loan, open_only=True)
    period = repository.period_of(session, loan, payment.paid_on)
    step = _plan(rows, repayment.id, payment.amount, payment.paid_on, terms, period)
    rebuilds = step.prepaid > 0 or step.daily_interest is not None
    tranches = _tranches(session, loan) if rebuilds else []
    unlent = _unlent(tranches, payment.paid_on)
    if step.prepaid > 0 and unlent > 0:  # a tranche dated after the payment is not there to prepay yet
        step = _plan(rows, repayment.id, payment.amount, payment.paid_on, terms, period, unlent)
    error = _overpaid(step.credit, terms)
    if error:
        raise error
    session.add(repayment)
    session.flush()
    session.add_all(_apply_step(loan, rows, repayment.id, payment.paid_on, step))
    loan.credit_balance = (loan.credit_balance or ZERO) + step.credit
    if step.prepaid > 0 or step.daily_interest is not None:
        current = repository.installments(session, loan)
        rows = _reamortize(session, loan, terms, current, step, payment.paid_on, repayment.id, tranches)
        rows = [r for r in rows if _is_open(r)]
    _settle(loan, [r for r in rows if _is_open(r)], payment.paid_on)
    session.flush()
    return repayment


@dataclass(frozen=True)
class _Step:
    """One payment's plan over the open installments: the late fees it charges, its lines, the
    principal it prepays beyond the installments whose period has begun, and any credit left.
    `current_due`: the current period's due date (installments due later are not payable);
    `daily_interest`: with daily interest, the current installment's interest cut to the days
    elapsed (a payoff or a prepayment inside the period)."""

    fees: dict
    result: object
    prepaid: Decimal
    credit: Decimal
    current_due: date | None  # the current period's due date: installments due later were not payable
    daily_interest: Decimal | None = None


def _split(rows: list[ScheduledInstallment], current: date | None):
    """The open installments a payment may pay (those due by the current period's due date) and
    those whose period has not begun."""
    if current is None:
        return rows, []
    return [r for r in rows if r.due_date <= current], [r for r in rows if r.due_date > current]


def _accrue(terms: LoanTerms, balance: Decimal, start: date, end: date, *, daily: bool) -> Decimal:
    """A period's interest on `balance`: the one day-count rule (`domain.reschedule.accrue`)."""
    return accrue(
        balance,
        start,
        end,
        annual_rate_percent=terms.annual_rate_percent,
        periods_per_year=terms.frequency.periods_per_year,
        daily=daily,
        day_count=terms.day_count,
        currency=terms.currency,
    )


def _daily_accrued(row: ScheduledInstallment, period_start: date, paid_on: date, terms: LoanTerms) -> Decimal:
    """With daily interest: the interest installment `row` has accrued by `paid_on` on its opening
    balance (the schedule engine's own day count), never more than its scheduled interest."""
    accrued = _accrue(terms, row.balance + row.principal, period_start, paid_on, daily=True)
    return min(accrued, row.interest)


def _plan(
    rows, payment_id: str, amount: Decimal, paid_on: date, terms: LoanTerms, period, unlent: Decimal = ZERO
) -> _Step:
    """How a payment is allocated: what is due (the installments whose period has begun, oldest
    first, in the contract's order), then principal: never interest or fees of a period not begun,
    never principal not yet lent (`unlent`: the tranches dated after `paid_on`).
    `period`: (start, end) of the period `paid_on` falls in, None after the last due date."""
    payable, later = _split(rows, period[1] if period else None)
    fees, result = _allocate(payable, payment_id, amount, paid_on, terms)
    excess = result.credit_balance
    current_due = period[1] if period else None
    principal_left = sum((r.principal - r.paid_principal for r in later), ZERO) - unlent
    daily = terms.interest_calculation is InterestCalculation.DAILY
    if daily and period and payable and payable[-1].due_date > paid_on:
        # inside the current period, a payment beyond its installment (or one that pays the loan
        # off) pays the period's interest only for the days elapsed; the new balance accrues the rest
        row = payable[-1]
        # interest of earlier periods it carries (deferred by an interest grace, or arrears a
        # restructure spread) is owed in full: only the period's own interest is cut to the days
        own = _accrue(terms, row.balance + row.principal, period[0], row.due_date, daily=True)
        earlier = max(row.interest - own, ZERO)
        accrued = min(_daily_accrued(row, period[0], paid_on, terms) + earlier, row.interest)
        cut = max(accrued, row.paid_interest)
        if cut < row.interest:
            trimmed = [*payable[:-1], _Trimmed(row, cut)]
            t_fees, t_result = _allocate(trimmed, payment_id, amount, paid_on, terms)
            owed = sum((sum(_remaining(r)) for r in trimmed), ZERO) + sum(t_fees.values(), ZERO)
            if excess > 0 or amount >= owed + principal_left:
                prepaid = min(t_result.credit_balance, principal_left)
                return _Step(t_fees, t_result, prepaid, t_result.credit_balance - prepaid, current_due, cut)
    prepaid = min(excess, principal_left) if excess > 0 else ZERO
    return _Step(fees, result, prepaid, excess - prepaid, current_due)


def _tranches(session: Session, loan: Loan) -> list:
    """The disbursements after the first day's: the tranches that join the schedule later."""
    return [
        d for d in repository.disbursements(session, loan.id) if d.disbursed_on != loan.first_disbursed_on
    ]


def _unlent(tranches, paid_on: date) -> Decimal:
    """The principal of the tranches dated after `paid_on`: not lent yet that day, so not there to
    prepay (a payment replayed before a tranche recorded later)."""
    return sum((t.amount for t in tranches if t.disbursed_on > paid_on), ZERO)


class _Trimmed:
    """An installment read with its interest cut (daily interest, paid inside its period)."""

    def __init__(self, row: ScheduledInstallment, interest: Decimal):
        self._row, self.interest = row, interest

    def __getattr__(self, name):
        return getattr(self._row, name)


def _apply_step(loan: Loan, rows, payment_id: str, paid_on: date, step: _Step) -> list[RepaymentAllocation]:
    lines = _apply(loan, rows, payment_id, paid_on, step.fees, step.result)
    loan.principal_repaid += sum((line.principal for line in step.result.lines), ZERO) + step.prepaid
    if step.prepaid > 0:
        # the excess on principal: a line of its own (number 0), never a future installment's
        lines.append(
            RepaymentAllocation(
                repayment_id=payment_id,
                loan_id=loan.id,
                **keys_of(loan),
                number=0,
                paid_on=paid_on,
                principal=step.prepaid,
                interest=ZERO,
                fees=ZERO,
                penalty=ZERO,
            )
        )
    return lines


def _owed_at_write_off(session: Session, loan: Loan) -> Decimal:
    """What a recovery can bring back: the principal written off and the interest, fees and late
    fees of the installments already due then and left unpaid."""
    due = [r for r in repository.installments(session, loan) if r.due_date <= loan.written_off_on]
    unpaid = sum((sum(_remaining(r)[1:]) for r in due), ZERO)
    return (loan.written_off_principal or ZERO) + unpaid


def reverse_payment(
    session: Session, loan: Loan, repayment: Repayment, reason: str, on: date, by: str
) -> None:
    frozen_until = repository.restructured_at(session, loan)
    if repayment.kind == "repayment" and frozen_until is not None and repayment.created_at <= frozen_until:
        raise Conflict(
            f"the loan was restructured from {loan.restructured_on} on the payments recorded before it; "
            "reversing this one would rewrite the restructure",
            code="BEFORE_RESTRUCTURE",
        )
    session.add(
        RepaymentReversal(
            repayment_id=repayment.id, loan_id=loan.id, reason=reason, reversed_on=on, created_by=by
        )
    )
    session.flush()
    moved(session, loan.lender_id, repayment.paid_on, positions_too=repayment.kind == "repayment")
    if repayment.kind == "recovery":
        loan.recovered_amount -= repayment.amount
        session.flush()
        return
    rebuild(session, loan)


def rebuild(session: Session, loan: Loan) -> None:
    """Replay the loan's payments from its base schedule version: the latest written by a
    disbursement or a restructure. The payments a restructure found stay allocated where they are;
    every other payment is allocated again, in order, with the very step of `record_payment`, so a
    prepayment re-amortizes the rest of the schedule again (reusing the version it wrote before
    when the result is the same) and a reversed prepayment leaves the version before it in force."""
    terms = terms_of(loan)
    base = repository.base_version(session, loan)
    loan.schedule_version = base.version
    rows = repository.installments(session, loan)
    frozen = base.restructure_id is not None  # a restructure (or its holiday move) keeps what it found
    first_replayed = base.starts_at_number if frozen else 1
    for row in rows:
        if row.number >= first_replayed:
            row.paid_principal = row.paid_interest = row.paid_fees = row.paid_penalty = ZERO
            row.penalty = row.paid_by_due_date = ZERO
            row.fully_paid_on = None
    frozen_until = repository.restructured_at(session, loan) if frozen else None
    repository.clear_allocations(session, loan.id, created_after=frozen_until)
    loan.principal_repaid = repository.frozen_principal(session, loan.id, frozen_until)
    credit, lines = ZERO, []
    tranches = _tranches(session, loan)
    for payment in repository.payments_to_replay(session, loan.id, created_after=frozen_until):
        open_rows = [r for r in rows if _is_open(r)]
        period = _period_in(rows, payment.paid_on, loan)
        unlent = _unlent(tranches, payment.paid_on)
        step = _plan(open_rows, payment.id, payment.amount, payment.paid_on, terms, period, unlent)
        lines += _apply_step(loan, open_rows, payment.id, payment.paid_on, step)
        credit += step.credit
        if step.prepaid > 0 or step.daily_interest is not None:
            session.add_all(lines)
            lines = []
            rows = _reamortize(session, loan, terms, rows, step, payment.paid_on, payment.id, tranches)
    error = _overpaid(credit, terms)
    if error:
        raise error
    session.add_all(lines)
    loan.credit_balance = credit
    open_rows = [r for r in rows if _is_open(r)]
    closed_on = max((r.fully_paid_on for r in rows if r.fully_paid_on), default=None)
    _settle(loan, open_rows, closed_on)
    session.flush()


def _period_in(rows, paid_on: date, loan: Loan) -> tuple[date, date] | None:
    """(start, end) of the schedule period `paid_on` falls in; None after the last due date."""
    previous = loan.first_disbursed_on or paid_on
    for row in rows:
        if row.due_date >= paid_on:
            return previous, row.due_date
        previous = row.due_date
    return None


def _copy(row, version: int, **changes) -> ScheduledInstallment:
    fields = [
        "loan_id",
        "number",
        "due_date",
        "principal",
        "interest",
        "fees",
        "total",
        "balance",
        "paid_principal",
        "paid_interest",
        "paid_fees",
        "paid_penalty",
        "penalty",
        "paid_by_due_date",
        "fully_paid_on",
    ]
    values = {f: getattr(row, f) for f in fields} | changes
    return ScheduledInstallment(version=version, **values)


def _fresh(loan_id: str, version: int, i) -> ScheduledInstallment:
    return ScheduledInstallment(
        loan_id=loan_id,
        version=version,
        number=i.number,
        due_date=i.due_date,
        principal=i.principal,
        interest=i.interest,
        fees=i.fees,
        total=i.total,
        balance=i.balance,
        paid_principal=ZERO,
        paid_interest=ZERO,
        paid_fees=ZERO,
        paid_penalty=ZERO,
        penalty=ZERO,
        paid_by_due_date=ZERO,
    )


def _same_schedule(a, b) -> bool:
    key = lambda r: (r.number, r.due_date, r.principal, r.interest, r.fees)  # noqa: E731
    return [key(r) for r in a] == [key(r) for r in b]


@dataclass(frozen=True)
class _Shape:
    """What the installments after a prepayment's period are made of, read off the version in
    force: the payment holidays and interest-only periods ahead (a restructure's, or the
    product's grace), the fee each installment carries, the arrears and holiday interest a
    restructure spread over the amortizing ones (what they carry beyond their period's own
    interest and fee), and the level installment (without that spread)."""

    holidays: int
    grace: int
    fee: Decimal
    spread_interest: Decimal
    spread_fees: Decimal
    level: Decimal


def _shape(session: Session, loan: Loan, terms: LoanTerms, later, start: date, daily: bool) -> _Shape:
    restructured = (
        loan.restructured_from_number is not None and later[0].number >= loan.restructured_from_number
    )
    holidays = 0
    if restructured:  # a payment holiday owes nothing at all; one of the product's grace owes interest
        while holidays < len(later) - 1 and later[holidays].total == 0:
            holidays += 1
    grace = holidays
    while grace < len(later) - 1 and later[grace].principal == 0:
        grace += 1
    regular = later[grace:]
    fee = later[0].fees
    spread_i = spread_f = ZERO
    extras = [ZERO] * len(regular)
    if restructured:
        fee = _installment_fee(session, loan, terms)
        previous = later[grace - 1].due_date if grace else start
        for j, row in enumerate(regular):
            own = _accrue(terms, row.balance + row.principal, previous, row.due_date, daily=daily)
            extras[j] = max(row.interest - own, ZERO)
            previous = row.due_date
        spread_i = sum(extras, ZERO)
        spread_f = sum((max(r.fees - fee, ZERO) for r in regular), ZERO)
    first = regular[0]
    equal_principal = terms.amortization is Amortization.EQUAL_PRINCIPAL
    level = first.principal if equal_principal else first.principal + first.interest - extras[0]
    return _Shape(holidays, grace - holidays, fee, spread_i, spread_f, level)


def _installment_fee(session: Session, loan: Loan, terms: LoanTerms) -> Decimal:
    """The contract's fee per installment (on the first disbursement, as the contract prices it)."""
    per_installment = [f for f in terms.fees if f.timing is FeeTiming.PER_INSTALLMENT]
    if not per_installment:
        return ZERO
    first = repository.disbursements(session, loan.id)[0].amount
    q = quantum(terms.currency)
    return sum((fee_amount(f, first.quantize(q), q, Rounding.HALF_EVEN) for f in per_installment), ZERO)


def _joins(terms: LoanTerms, tranches, rows, later, start: date, daily: bool) -> list[Join]:
    """The tranches that join after `start`, in the installments `later`: with per-period interest
    a tranche joins at the first due date on or after its day (the installment after it accrues on
    it); with daily interest it accrues from its own day. Each with the level the version in force
    has from there (`reduce_term` keeps it)."""
    if not tranches or not later:
        return []
    dues = [r.due_date for r in rows]
    index = {r.number: i for i, r in enumerate(later)}
    equal_principal = terms.amortization is Amortization.EQUAL_PRINCIPAL
    out = []
    for t in tranches:
        if daily:
            if t.disbursed_on <= start:
                continue
            number = next((r.number for r in rows if r.due_date > t.disbursed_on), None)
            day = t.disbursed_on
        else:
            joins_on = next((d for d in dues if d >= t.disbursed_on), None)
            if joins_on is None or joins_on < start:
                continue
            number = next((r.number for r in rows if r.due_date > joins_on), None)
            day = joins_on
        if number is None:
            continue
        i = index.get(number, 0)  # one joining the current period's installment joins the first later
        row = later[i]
        kept = row.principal if equal_principal else row.principal + row.interest
        level = kept if terms.prepayment is Prepayment.REDUCE_TERM and i < len(later) - 1 else None
        out.append(Join(index=i, day=max(day, start), amount=t.amount, level=level))
    return out


def _version_start(session: Session, loan: Loan, number: int, default: date) -> date:
    """With daily interest: the day installment `number`'s period began in the version in force
    (a prepayment inside the period before rebuilt it from its own day)."""
    version = repository.version(session, loan.id, loan.schedule_version)
    if version is not None and version.kind == "prepayment" and version.starts_at_number == number:
        return version.effective_on
    return default


def _reamortize(
    session: Session,
    loan: Loan,
    terms: LoanTerms,
    rows,
    step: _Step,
    paid_on: date,
    repayment_id: str,
    tranches: list,
):
    """After a payment put `step.prepaid` on principal: a new schedule version that keeps the
    installments whose period had begun (as paid) and rebuilds the later ones from the reduced
    balance by the contract's prepayment rule. The tranches that join later join the rebuilt ones
    where they joined before (never earlier); after a restructure its payment holidays stay
    holidays and the arrears it spread stay spread (over the installments left). Returns the new
    version's rows."""
    current_due = step.current_due
    kept = [r for r in rows if current_due is None or r.due_date <= current_due]
    later = [r for r in rows if current_due is not None and r.due_date > current_due]
    k = kept[-1].number if kept else 0
    daily = terms.interest_calculation is InterestCalculation.DAILY
    start = paid_on if daily else (kept[-1].due_date if kept else loan.first_disbursed_on)
    joins = _joins(terms, tranches, rows, later, start, daily)
    balance = sum((r.principal - r.paid_principal for r in later), ZERO) - step.prepaid
    balance -= sum((j.amount for j in joins), ZERO)
    for n, j in enumerate(joins):  # prepaid beyond what had joined: a tranche lent, not yet joined
        if balance >= 0:
            break
        taken = min(-balance, j.amount)
        joins[n] = replace(j, amount=j.amount - taken)
        balance += taken
    joins = [j for j in joins if j.amount > 0]
    joining = sum((j.amount for j in joins), ZERO)
    new: tuple = ()
    if (balance > 0 or joining > 0) and later:
        first_start = kept[-1].due_date if kept else loan.first_disbursed_on
        if daily:
            first_start = _version_start(session, loan, later[0].number, first_start)
        shape = _shape(session, loan, terms, later, first_start, daily)
        regular = len(later) - shape.holidays - shape.grace
        level = shape.level if terms.prepayment is Prepayment.REDUCE_TERM and regular > 1 else None
        new = rest_schedule(
            Rest(
                balance=max(balance, ZERO),
                currency=terms.currency,
                annual_rate_percent=terms.annual_rate_percent,
                frequency=terms.frequency,
                amortization=terms.amortization,
                start=start,
                dues=tuple(r.due_date for r in later),
                first_number=later[0].number,
                per_installment_fee=shape.fee,
                installment_multiple=terms.installment_multiple,
                daily=daily,
                day_count=terms.day_count,
                level=level,
                holiday_periods=shape.holidays,
                holiday_accrues=False,
                grace_periods=shape.grace,
                spread_interest=shape.spread_interest,
                spread_fees=shape.spread_fees,
                joins=tuple(joins),
            )
        ).installments
    previous = loan.schedule_version
    existing = repository.derived_version(session, loan.id, previous, repayment_id)
    version = existing.version if existing else repository.next_version(session, loan.id)
    out = []
    for row in kept:
        changes = {}
        if step.daily_interest is not None and row.number == k:
            changes = {
                "interest": step.daily_interest,
                "total": row.principal + step.daily_interest + row.fees,
            }
        out.append(_copy(row, version, **changes))
    for i in new:
        out.append(_fresh(loan.id, version, i))
    for row in out:
        if row.fully_paid_on is None and not _is_open(row):
            row.fully_paid_on = paid_on
    if existing is not None:
        old = repository.installments(session, loan, version=version)
        if _same_schedule(old, out):
            for stored, fresh in zip(old, out, strict=True):
                for f in ("paid_principal", "paid_interest", "paid_fees", "paid_penalty", "penalty"):
                    setattr(stored, f, getattr(fresh, f))
                stored.paid_by_due_date, stored.fully_paid_on = fresh.paid_by_due_date, fresh.fully_paid_on
            loan.schedule_version = version
            session.flush()
            return old
        version = repository.next_version(session, loan.id)
        for row in out:
            row.version = version
    session.add(
        ScheduleVersion(
            loan_id=loan.id,
            version=version,
            kind="prepayment",
            starts_at_number=k + 1,
            effective_on=paid_on,
            previous_version=previous,
            repayment_id=repayment_id,
            note=f"{step.prepaid} prepaid on principal ({terms.prepayment.value})",
        )
    )
    session.add_all(out)
    loan.schedule_version = version
    session.flush()
    return out


def _settle(loan: Loan, open_rows: list[ScheduledInstallment], last_paid_on: date | None) -> None:
    """The first unpaid installment, and the status: closed once everything lent is repaid,
    active again when a reversal reopens it."""
    loan.first_unpaid_number = open_rows[0].number if open_rows else None
    fully_lent = loan.disbursed_amount >= (loan.approved_amount or 0)
    if not open_rows and fully_lent and loan.status == "active":
        transition(loan, "closed", last_paid_on)
    elif open_rows and loan.status == "closed":
        transition(loan, "active")
    positions.settle(loan, open_rows, last_paid_on)


def write_version(
    session: Session,
    loan: Loan,
    rows: list[ScheduledInstallment],
    *,
    kind: str,
    effective_on: date,
    starts_at_number: int = 1,
    restructure_id: str | None = None,
    note: str | None = None,
) -> int:
    """Store `rows` (their `version` is set here) as the loan's new current schedule version."""
    version = repository.next_version(session, loan.id)
    session.add(
        ScheduleVersion(
            loan_id=loan.id,
            version=version,
            kind=kind,
            starts_at_number=starts_at_number,
            effective_on=effective_on,
            previous_version=loan.schedule_version or None,
            restructure_id=restructure_id,
            note=note,
        )
    )
    for row in rows:
        row.version = version
        row.loan_id = loan.id
    session.add_all(rows)
    loan.schedule_version = version
    open_rows = [r for r in rows if _is_open(r)]
    loan.first_unpaid_number = open_rows[0].number if open_rows else None
    positions.settle(loan, open_rows, effective_on, rows=rows)
    session.flush()
    return version


def restructure(session: Session, loan: Loan, plan, restructure_id: str, effective_on: date) -> int:
    """Write an approved restructure's schedule version: the earlier installments as they were paid,
    then the new ones. Nothing paid moves; later payments are allocated to the new installments.
    An earlier installment still owing is cut to what was paid on it (it leaves the arrears, now
    capitalised or spread): what fell due on its day changes, so the movement is dated from there."""
    cut_days = [row["due_date"] for row in plan.kept if row["fully_paid_on"] == effective_on]
    moved(session, loan.lender_id, min([effective_on, *cut_days]))
    kept = [ScheduledInstallment(loan_id=loan.id, version=0, **row) for row in plan.kept]
    new = [_fresh(loan.id, 0, i) for i in plan.installments]
    version = write_version(
        session,
        loan,
        kept + new,
        kind="restructure",
        effective_on=effective_on,
        starts_at_number=plan.cut,
        restructure_id=restructure_id,
    )
    loan.restructure_count = (loan.restructure_count or 0) + 1
    # arrears or holiday interest made principal: owed and repaid as principal, never disbursed
    loan.capitalised_amount = (loan.capitalised_amount or ZERO) + plan.capitalised
    loan.restructured_on = effective_on
    loan.restructured_from_number = plan.cut
    loan.last_event_on = max(loan.last_event_on, effective_on)
    _settle(loan, [r for r in kept + new if _is_open(r)], effective_on)
    session.flush()
    return version


def write_schedule(session: Session, loan: Loan, schedule: Schedule, on: date | None = None) -> None:
    """A new schedule version from the disbursements; payments so far are replayed onto it."""
    rows = [_fresh(loan.id, 0, i) for i in schedule.installments]
    effective_on = on or loan.last_event_on
    moved(session, loan.lender_id, effective_on)
    write_version(session, loan, rows, kind="disbursement", effective_on=effective_on)


def write_off(loan: Loan, on: date) -> Decimal:
    """Take what is still outstanding off the books; the loan leaves the portfolio."""
    lent = loan.disbursed_amount + (loan.capitalised_amount or ZERO)
    loan.written_off_principal = lent - loan.principal_repaid
    transition(loan, "written_off", on)
    loan.last_event_on = on
    positions.settle(loan, [], on)
    return loan.written_off_principal


@dataclass(frozen=True)
class Payoff:
    amount: Decimal
    principal: Decimal
    interest: Decimal
    fees: Decimal
    penalties: Decimal


def payoff(session: Session, loan: Loan, on: date) -> Payoff:
    """The exact amount that closes the loan with a payment on `on`: what is due by then (the
    current period's interest in full, or with daily interest only its days elapsed), any late
    fee that payment would charge, and all the principal left. Computed with the very step a
    payment takes, so paying it closes the loan."""
    terms = terms_of(loan)
    rows = repository.installments(session, loan, open_only=True)
    period = repository.period_of(session, loan, on)
    everything = sum((sum(_remaining(r)) for r in rows), ZERO) + (terms.late_fee or ZERO) * len(rows) + 1
    step = _plan(rows, "payoff", everything, on, terms, period)
    lines = step.result.lines
    principal = sum((line.principal for line in lines), ZERO) + step.prepaid
    interest = sum((line.interest for line in lines), ZERO)
    fees = sum((line.fees for line in lines), ZERO)
    penalties = sum((line.penalty for line in lines), ZERO)
    return Payoff(principal + interest + fees + penalties, principal, interest, fees, penalties)


def follow_calendar(session: Session, loan: Loan, calendar, today: date, schedule_of) -> bool:
    """Move the loan's due dates from `today` on to follow `calendar` (a holiday added or removed,
    a lender's working days changed): one new base version of kind `holiday`, then the payments
    replayed onto it. Due dates before `today` never move. `schedule_of(calendar)`: the contract's
    schedule of the disbursements so far on that calendar. Returns whether anything moved."""
    base = repository.base_version(session, loan)
    rows = repository.installments(session, loan, version=base.version)
    if base.restructure_id is None:
        fresh = [_fresh(loan.id, 0, i) for i in schedule_of(calendar).installments]
        if len(fresh) != len(rows):
            return False  # the contract changed shape since: leave it alone
        # the past stays as it was: only due dates from today on move
        fresh = [_copy(old, 0) if old.due_date < today else new for old, new in zip(rows, fresh, strict=True)]
    else:
        fresh = [
            _copy(r, 0, due_date=calendar.move(r.due_date))
            if r.number >= base.starts_at_number and r.due_date >= today
            else _copy(r, 0)
            for r in rows
        ]
    if _same_schedule(rows, fresh):
        return False
    write_version(
        session,
        loan,
        fresh,
        kind="holiday",
        effective_on=today,
        starts_at_number=base.starts_at_number,
        restructure_id=base.restructure_id,
        note="due dates moved by the holiday calendar",
    )
    rebuild(session, loan)
    return True


def record_preloaded(
    loan: Loan,
    payment: PaymentIn,
    rows: list[ScheduledInstallment],
    last_paid_on: date | None,
    terms: LoanTerms | None = None,
) -> tuple[Repayment, list[RepaymentAllocation]] | None:
    """`record_payment` for a batch (a repayment file), on state the caller loaded once for many
    payments and writes once: `rows`, every installment of the loan's current version (kept
    current here), the date of its latest payment, and its terms (read once). Nothing is queried,
    added or flushed: the caller adds the repayment and its allocations. The same step as
    `record_payment`, for a payment allocated on top of the others; None when it would not be
    that (a recovery, a payment dated before another or before a restructure, a prepayment or
    daily interest that re-amortizes), and the caller then records it with `record_payment`.
    409 OVERPAYMENT before anything changes."""
    if loan.status == "written_off" or (loan.restructured_on and payment.paid_on < loan.restructured_on):
        return None
    if last_paid_on is not None and payment.paid_on < last_paid_on:
        return None
    terms = terms or terms_of(loan)
    open_rows = [r for r in rows if r.fully_paid_on is None]
    repayment_id = new_id()
    period = _period_in(rows, payment.paid_on, loan)
    step = _plan(open_rows, repayment_id, payment.amount, payment.paid_on, terms, period)
    if step.prepaid > 0 or step.daily_interest is not None:
        return None
    error = _overpaid(step.credit, terms)
    if error:
        raise error
    repayment = Repayment(
        id=repayment_id,
        loan_id=loan.id,
        **keys_of(loan),
        kind="repayment",
        amount=payment.amount,
        paid_on=payment.paid_on,
        reference=payment.reference,
        channel=payment.channel,
        created_by=payment.created_by,
        batch=payment.batch,
    )
    lines = _apply_step(loan, open_rows, repayment_id, payment.paid_on, step)
    loan.credit_balance = (loan.credit_balance or ZERO) + step.credit
    _settle(loan, [r for r in open_rows if _is_open(r)], payment.paid_on)
    return repayment, lines
