"""The rest of a schedule, rebuilt from a balance: after a prepayment (keep the installment and
shorten the loan, or keep the dates and lower the installment) and for a restructure (payment
holidays, interest-only periods, a longer term, a new rate), exact to the minor unit with the
schedule engine's own rules (half-even rounding, PMT level, the last installment clears the
balance). Declining-balance loans only: flat-rate lending is prohibited.

Later tranches: a tranche that joins the loan after the rest begins (`joins`) is added to the balance
at the start of its installment's period (with daily interest, from its own date) and the level is
set again from there: the level kept (`reduce_term`, `Join.level`) or the PMT of the new balance
over the installments left (like the contract's own schedule does when a tranche joins).

`accrue` is the one day-count rule of the ledger and of this module: a period's interest on a
balance, per period (balance x rate / periods a year) or daily (balance x days / year basis), each
rounded half-even to the minor unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Context, Decimal, localcontext

from loansvc.domain.errors import InvalidInput
from loansvc.domain.money import quantum
from loansvc.domain.schedule import (
    _DAY_BASIS,
    Amortization,
    DayCount,
    Frequency,
    Installment,
    _day_weight,
    _level,
)

_CTX = Context(prec=34, rounding=ROUND_HALF_EVEN)
_ZERO = Decimal(0)


@dataclass(frozen=True)
class Join:
    """A tranche joining the rest: at installment `index` (0-based in `Rest.dues`) on `day`."""

    index: int
    day: date
    amount: Decimal
    level: Decimal | None = None  # the level to keep from there (reduce_term); None: PMT again


def accrue(
    balance: Decimal,
    start: date,
    end: date,
    *,
    annual_rate_percent: Decimal,
    periods_per_year: int,
    daily: bool,
    day_count: DayCount,
    currency: str,
    joins: tuple[tuple[date, Decimal], ...] = (),
) -> Decimal:
    """The interest of the period (start, end] on `balance`, rounded half-even to the minor unit.
    `joins`: (day, amount) added during the period (daily interest counts each from its day)."""
    q = quantum(currency)
    with localcontext(_CTX):
        if not daily:
            total = balance + sum((a for _, a in joins), _ZERO)
            return (total * annual_rate_percent / Decimal(100 * periods_per_year)).quantize(q)
        weighted, cursor, running = _ZERO, start, balance
        for day, amount in sorted(joins):
            if day > cursor:
                weighted += running * _day_weight(day_count, cursor, day)
                cursor = day
            running += amount
        weighted += running * _day_weight(day_count, cursor, end)
        return (weighted * annual_rate_percent / Decimal(100 * _DAY_BASIS[day_count])).quantize(q)


@dataclass(frozen=True)
class Rest:
    """What the rest of a schedule is built from.

    balance: the principal to amortize from `start`; dues: the due dates of the new installments
    (already moved off holidays), numbered from `first_number`. `level`: keep this installment
    (reduce_term: the loan ends as soon as the balance is cleared); otherwise the level is computed
    over the amortizing periods. `first_interest`: the first installment's interest as already
    fixed (with per-period interest the current period's interest stays as it was).
    """

    balance: Decimal
    currency: str
    annual_rate_percent: Decimal
    frequency: Frequency
    amortization: Amortization
    start: date
    dues: tuple[date, ...]
    first_number: int
    per_installment_fee: Decimal = _ZERO
    installment_multiple: Decimal | None = None
    daily: bool = False
    day_count: DayCount = DayCount.ACTUAL_365
    level: Decimal | None = None
    first_interest: Decimal | None = None
    holiday_periods: int = 0
    holiday_interest: str = "capitalise"  # capitalise | spread
    grace_periods: int = 0
    spread_interest: Decimal = _ZERO  # arrears not capitalised, spread over the amortizing installments
    spread_fees: Decimal = _ZERO
    # the payment holidays' interest: capitalised or held to spread (a restructure), or already
    # settled by the version rebuilt (a prepayment after a restructure: nothing accrues again)
    holiday_accrues: bool = True
    joins: tuple[Join, ...] = ()


@dataclass(frozen=True)
class RestSchedule:
    installments: tuple[Installment, ...]
    installment_amount: Decimal | None  # the level installment (None for equal principal)
    capitalised: Decimal  # holiday interest added to the principal


def _spread(total: Decimal, parts: int, q: Decimal) -> list[Decimal]:
    if parts <= 0 or total == 0:
        return [_ZERO.quantize(q)] * max(parts, 0)
    each = (total / parts).quantize(q, rounding=ROUND_DOWN)
    return [each] * (parts - 1) + [total - each * (parts - 1)]


def rest_schedule(rest: Rest) -> RestSchedule:
    with localcontext(_CTX):
        return _rest(rest)


def _rest(r: Rest) -> RestSchedule:
    q = quantum(r.currency)
    zero = _ZERO.quantize(q)
    n = len(r.dues)
    h, g = r.holiday_periods, r.grace_periods
    amortizing = n - h - g
    if amortizing < 1:
        raise InvalidInput(
            "the payment holidays and interest-only periods leave no installment to repay the principal",
            code="NO_AMORTIZING_INSTALLMENT",
            field="changes",
        )
    annual = r.annual_rate_percent
    rate = annual / Decimal(100 * r.frequency.periods_per_year)
    joins: dict[int, list[Join]] = {}
    for j in r.joins:
        joins.setdefault(j.index, []).append(j)

    def period(balance: Decimal, start: date, k: int) -> tuple[Decimal, Decimal]:
        """(interest, balance after the joins) of installment k's period from `start`."""
        joined = tuple((j.day, j.amount) for j in joins.get(k, ()))
        interest = accrue(
            balance,
            start,
            r.dues[k],
            annual_rate_percent=annual,
            periods_per_year=r.frequency.periods_per_year,
            daily=r.daily,
            day_count=r.day_count,
            currency=r.currency,
            joins=joined,
        )
        return interest, balance + sum((a for _, a in joined), _ZERO)

    balance = r.balance.quantize(q)
    rows: list[Installment] = []
    start = r.start
    capitalised = held = zero
    skipped_fees = zero
    for k in range(h):  # payment holidays: nothing due; the interest is capitalised or held to spread
        interest, balance = period(balance, start, k)
        if k == 0 and r.first_interest is not None:
            interest = r.first_interest
        if not r.holiday_accrues:
            pass
        elif r.holiday_interest == "spread":
            held += interest
            skipped_fees += r.per_installment_fee
        else:
            balance += interest
            capitalised += interest
            skipped_fees += r.per_installment_fee
        rows.append(Installment(r.first_number + k, r.dues[k], zero, zero, zero, zero, balance))
        start = r.dues[k]
    for k in range(h, h + g):  # interest only
        interest, balance = period(balance, start, k)
        if k == 0 and r.first_interest is not None:
            interest = r.first_interest
        fee = r.per_installment_fee
        rows.append(Installment(r.first_number + k, r.dues[k], zero, interest, fee, interest + fee, balance))
        start = r.dues[k]

    equal_principal = r.amortization is Amortization.EQUAL_PRINCIPAL
    level = r.level
    if level is None:
        if equal_principal:
            level = (balance / amortizing).quantize(q)
        else:
            level = _level(balance, rate, amortizing, q, ROUND_HALF_EVEN, r.installment_multiple)
    extra_interest = _spread(r.spread_interest + held, amortizing, q)
    extra_fees = _spread(r.spread_fees + skipped_fees, amortizing, q)
    for j, k in enumerate(range(h + g, n)):
        interest, balance = period(balance, start, k)
        if k in joins:  # a tranche joined: the level from here
            kept = joins[k][-1].level
            if kept is not None:
                level = kept
            elif equal_principal:
                level = (balance / (n - k)).quantize(q)
            else:
                level = _level(balance, rate, n - k, q, ROUND_HALF_EVEN, r.installment_multiple)
        if k == 0 and r.first_interest is not None:
            interest = r.first_interest
        last = k == n - 1
        if equal_principal:
            part = balance if last else min(level, balance)
        else:
            part = balance if last else min(max(level - interest, zero), balance)
        balance -= part
        extra_i, extra_f = extra_interest[j], extra_fees[j]
        cleared = balance == 0 and not any(i > k for i in joins)  # no tranche is still to join
        if cleared and not last:
            # reduce_term: the balance is cleared early; the arrears still to spread come due now
            extra_i += sum(extra_interest[j + 1 :], zero)
            extra_f += sum(extra_fees[j + 1 :], zero)
        fee = r.per_installment_fee + extra_f
        interest += extra_i
        rows.append(
            Installment(r.first_number + k, r.dues[k], part, interest, fee, part + interest + fee, balance)
        )
        start = r.dues[k]
        if cleared:
            break
    if balance != 0:  # pragma: no cover - the last installment always clears the balance
        raise AssertionError("the rest of the schedule leaves a balance")
    return RestSchedule(
        installments=tuple(rows),
        installment_amount=None if equal_principal else level,
        capitalised=capitalised,
    )
