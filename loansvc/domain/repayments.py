"""Repayments: how a family's payments are allocated to the installments of its schedule.

`allocate` replays a loan's payments, in the order they were made, over what the schedule owes:
each payment pays the oldest installment not yet paid first and, within an installment, its
components in the product's order (by default penalty, fees, interest, then principal). A payment
larger than what has fallen due goes on to the next installments, all their components included,
so the loan finishes earlier ("reduce_term"). What is left once every installment is paid is a
credit balance; refusing it (or not) is the product's decision, taken by the caller.

"reduce_installment" (keep the term, lower the installments) changes the schedule itself: the
caller rebuilds the remaining schedule as a new version (`loansvc.domain.schedule.build_schedule`
on the remaining principal) and allocates later payments to it. `ahead_of_schedule` tells it how
much of a payment went ahead of the installments due by its date.

Everything is exact: amounts are already in the currency's minor unit (checked here), and
allocation only compares, subtracts and adds them, so nothing is ever rounded.

Payments are replayed from scratch each time a loan's history changes (a payment recorded or
reversed), so the allocation is a pure function of the schedule and the payments that count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import Enum

from loansvc.domain.errors import InvalidInput
from loansvc.domain.money import quantum

__all__ = [
    "DEFAULT_ORDER",
    "Allocation",
    "AllocationLine",
    "Component",
    "Due",
    "InstallmentState",
    "Payment",
    "Prepayment",
    "ahead_of_schedule",
    "allocate",
    "allocation_order",
    "remaining_principal",
    "states_as_of",
]


class Component(str, Enum):
    PENALTY = "penalty"
    FEES = "fees"
    INTEREST = "interest"
    PRINCIPAL = "principal"


DEFAULT_ORDER: tuple[Component, ...] = (
    Component.PENALTY,
    Component.FEES,
    Component.INTEREST,
    Component.PRINCIPAL,
)


class Prepayment(str, Enum):
    """What a payment ahead of schedule does (a product setting)."""

    REDUCE_TERM = "reduce_term"  # `allocate` itself: it pays the next installments in full
    REDUCE_INSTALLMENT = "reduce_installment"  # the caller rebuilds the remaining schedule


@dataclass(frozen=True)
class Due:
    """One scheduled installment as owed (penalty: any late fee charged on it)."""

    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    fees: Decimal
    penalty: Decimal = Decimal(0)

    @classmethod
    def of(cls, installment, penalty: Decimal = Decimal(0)) -> Due:
        """The Due of a schedule `Installment` (anything with number, due_date, principal,
        interest and fees)."""
        return cls(
            number=installment.number,
            due_date=installment.due_date,
            principal=installment.principal,
            interest=installment.interest,
            fees=installment.fees,
            penalty=penalty,
        )


@dataclass(frozen=True)
class Payment:
    """A payment that counts (reversed payments are left out by the caller)."""

    id: str
    paid_on: date
    amount: Decimal


@dataclass(frozen=True)
class AllocationLine:
    """One payment's share of one installment."""

    payment_id: str
    number: int
    paid_on: date
    principal: Decimal
    interest: Decimal
    fees: Decimal
    penalty: Decimal

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.fees + self.penalty


@dataclass(frozen=True)
class InstallmentState:
    """An installment with what has been paid on it.

    fully_paid_on is the date of the payment that completed it; None while something is owed,
    and also for an installment that owes nothing (no payment ever completed it: see is_settled).
    paid_by_due_date is the part of it paid on or before its due date (for the on-time rate).
    """

    number: int
    due_date: date
    principal_due: Decimal
    interest_due: Decimal
    fees_due: Decimal
    penalty_due: Decimal
    principal_paid: Decimal
    interest_paid: Decimal
    fees_paid: Decimal
    penalty_paid: Decimal
    fully_paid_on: date | None
    paid_by_due_date: Decimal

    @property
    def total_due(self) -> Decimal:
        return self.principal_due + self.interest_due + self.fees_due + self.penalty_due

    @property
    def total_paid(self) -> Decimal:
        return self.principal_paid + self.interest_paid + self.fees_paid + self.penalty_paid

    @property
    def remaining(self) -> Decimal:
        return self.total_due - self.total_paid

    @property
    def is_settled(self) -> bool:
        return self.remaining == 0


@dataclass(frozen=True)
class Allocation:
    lines: tuple[AllocationLine, ...]
    installments: tuple[InstallmentState, ...]
    credit_balance: Decimal  # paid beyond everything the schedule owes
    principal_repaid: Decimal

    @property
    def is_settled(self) -> bool:
        """Every installment is paid: the loan can close."""
        return all(i.is_settled for i in self.installments)


def allocation_order(names: Iterable[str | Component]) -> tuple[Component, ...]:
    """A product's allocation order (e.g. its JSON list of names), checked to name each
    component exactly once: a component left out would never be paid."""
    try:
        order = tuple(Component(name) for name in names)
    except ValueError:
        order = ()
    if sorted(order) != sorted(Component):
        message = "the allocation order must name penalty, fees, interest and principal once each"
        raise InvalidInput(message, code="INVALID_ALLOCATION_ORDER", field="allocation_order")
    return order


def _amount(value: object, q: Decimal, field: str) -> Decimal:
    """`value` as a non-negative Decimal in the minor unit `q`, with the currency's exponent."""
    if isinstance(value, float):
        raise TypeError("money never passes through a float; use Decimal")
    try:
        amount = Decimal(value)  # type: ignore[arg-type]
        if not amount.is_finite():
            raise ValueError(value)
        exact = amount.quantize(q)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInput(f"{field} is not an amount: {value!r}", field=field) from None
    if exact != amount:
        message = f"{field} {amount} is not in the currency's minor unit ({q})"
        raise InvalidInput(message, code="AMOUNT_NOT_IN_MINOR_UNIT", field=field)
    if exact < 0:
        raise InvalidInput(f"{field} {amount} is negative", code="NEGATIVE_AMOUNT", field=field)
    return exact


def _checked_dues(dues: Sequence[Due], q: Decimal) -> list[tuple[Due, dict[Component, Decimal]]]:
    """The dues by number, each with its components as exact amounts."""
    ordered = sorted(dues, key=lambda d: d.number)
    checked = []
    for k, due in enumerate(ordered):
        if k and due.number == ordered[k - 1].number:
            message = f"installment {due.number} appears twice"
            raise InvalidInput(message, code="DUPLICATE_INSTALLMENT", field="dues")
        # oldest first by number must also be oldest first by date, or arrears would disagree
        if k and due.due_date < ordered[k - 1].due_date:
            message = f"installment {due.number} falls due before installment {ordered[k - 1].number}"
            raise InvalidInput(message, code="DUE_DATES_NOT_IN_ORDER", field="dues")
        owed = {c: _amount(getattr(due, c.value), q, c.value) for c in Component}
        checked.append((due, owed))
    return checked


def _check_payments(payments: Sequence[Payment], q: Decimal) -> list[Decimal]:
    amounts = []
    seen: set[str] = set()
    for k, payment in enumerate(payments):
        amount = _amount(payment.amount, q, "amount")
        if amount == 0:
            raise InvalidInput("a payment must be positive", code="PAYMENT_NOT_POSITIVE", field="amount")
        # replaying out of date order would date installments' completion wrongly
        if k and payment.paid_on < payments[k - 1].paid_on:
            message = f"payment {payment.id} is dated before the payment replayed before it"
            raise InvalidInput(message, code="PAYMENTS_NOT_IN_ORDER", field="payments")
        if payment.id in seen:
            raise InvalidInput(f"payment {payment.id} appears twice", code="DUPLICATE_PAYMENT")
        seen.add(payment.id)
        amounts.append(amount)
    return amounts


def allocate(
    dues: Sequence[Due],
    payments: Sequence[Payment],
    *,
    order: Sequence[Component] = DEFAULT_ORDER,
    currency: str,
) -> Allocation:
    """Replay `payments` (sorted by the caller: paid_on, then recording order) over `dues`."""
    q = quantum(currency)
    order = allocation_order(order)
    checked = _checked_dues(dues, q)
    amounts = _check_payments(payments, q)
    zero = Decimal(0).quantize(q)

    unpaid = [dict(owed) for _, owed in checked]
    completed: list[date | None] = [None] * len(checked)
    lines: list[AllocationLine] = []
    credit = zero

    def next_open(k: int) -> int:
        # installments owing nothing are skipped: no payment completes them
        while k < len(unpaid) and not any(unpaid[k].values()):
            k += 1
        return k

    k = next_open(0)
    for payment, amount in zip(payments, amounts, strict=True):
        left = amount
        while left and k < len(unpaid):
            share = dict.fromkeys(Component, zero)
            for component in order:
                take = min(left, unpaid[k][component])
                share[component] = take
                unpaid[k][component] -= take
                left -= take
            lines.append(
                AllocationLine(
                    payment_id=payment.id,
                    number=checked[k][0].number,
                    paid_on=payment.paid_on,
                    principal=share[Component.PRINCIPAL],
                    interest=share[Component.INTEREST],
                    fees=share[Component.FEES],
                    penalty=share[Component.PENALTY],
                )
            )
            if not any(unpaid[k].values()):
                completed[k] = payment.paid_on
                k = next_open(k + 1)
        credit += left

    on_time = dict.fromkeys((due.number for due, _ in checked), zero)
    due_dates = {due.number: due.due_date for due, _ in checked}
    for line in lines:
        if line.paid_on <= due_dates[line.number]:
            on_time[line.number] += line.total

    states = tuple(
        _state(due, owed, left_owed, completed[k], on_time[due.number])
        for k, ((due, owed), left_owed) in enumerate(zip(checked, unpaid, strict=True))
    )
    return Allocation(
        lines=tuple(lines),
        installments=states,
        credit_balance=credit,
        principal_repaid=sum((s.principal_paid for s in states), zero),
    )


def _state(
    due: Due,
    owed: dict[Component, Decimal],
    unpaid: dict[Component, Decimal],
    fully_paid_on: date | None,
    paid_by_due_date: Decimal,
) -> InstallmentState:
    paid = {c: owed[c] - unpaid[c] for c in Component}
    return InstallmentState(
        number=due.number,
        due_date=due.due_date,
        principal_due=owed[Component.PRINCIPAL],
        interest_due=owed[Component.INTEREST],
        fees_due=owed[Component.FEES],
        penalty_due=owed[Component.PENALTY],
        principal_paid=paid[Component.PRINCIPAL],
        interest_paid=paid[Component.INTEREST],
        fees_paid=paid[Component.FEES],
        penalty_paid=paid[Component.PENALTY],
        fully_paid_on=fully_paid_on,
        paid_by_due_date=paid_by_due_date,
    )


def states_as_of(allocation: Allocation, as_of: date) -> tuple[InstallmentState, ...]:
    """The installments as they stood at the end of `as_of`: only payments made on or before it.

    Payments are replayed in date order and each one's lines depend only on the payments before
    it, so dropping the later lines gives exactly the allocation of the earlier payments alone.
    """
    counted: dict[int, list[AllocationLine]] = {}
    for line in allocation.lines:
        if line.paid_on <= as_of:
            counted.setdefault(line.number, []).append(line)
    states = []
    for state in allocation.installments:
        mine = counted.get(state.number, [])
        zero = state.principal_due - state.principal_due  # keeps the currency's exponent
        by_due_date = sum((ln.total for ln in mine if ln.paid_on <= state.due_date), zero)
        done = state.fully_paid_on if state.fully_paid_on and state.fully_paid_on <= as_of else None
        states.append(
            InstallmentState(
                number=state.number,
                due_date=state.due_date,
                principal_due=state.principal_due,
                interest_due=state.interest_due,
                fees_due=state.fees_due,
                penalty_due=state.penalty_due,
                principal_paid=sum((ln.principal for ln in mine), zero),
                interest_paid=sum((ln.interest for ln in mine), zero),
                fees_paid=sum((ln.fees for ln in mine), zero),
                penalty_paid=sum((ln.penalty for ln in mine), zero),
                fully_paid_on=done,
                paid_by_due_date=by_due_date,
            )
        )
    return tuple(states)


def remaining_principal(allocation: Allocation) -> Decimal:
    """Principal still owed: the schedule's principal less what the payments repaid."""
    scheduled = sum((s.principal_due for s in allocation.installments), Decimal(0))
    return scheduled - allocation.principal_repaid


def ahead_of_schedule(allocation: Allocation, payment_id: str) -> Decimal:
    """What one payment paid on installments not yet due on its date (an installment due on the
    day it is paid is paid on time, not ahead). Its share of any credit balance is not included."""
    due_dates = {s.number: s.due_date for s in allocation.installments}
    ahead = [
        ln.total
        for ln in allocation.lines
        if ln.payment_id == payment_id and due_dates[ln.number] > ln.paid_on
    ]
    return sum(ahead, Decimal(0))
