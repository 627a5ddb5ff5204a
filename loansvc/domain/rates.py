"""APR and EIR solvers: the rate that makes what the borrower receives worth what the borrower pays.

Two methods, both solved in `Decimal` at 34 digits with a safeguarded Newton iteration:

- actuarial (US Regulation Z, Appendix J): time in whole unit periods t plus a fraction f,
  discounting by (1 + f·i)(1 + i)^t; APR = i x unit periods per year, EIR = (1 + i)^that - 1;
- effective (EU Consumer Credit Directive, Annex I APRC): time in years, (1 + X)^-t.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from enum import Enum

from loansvc.domain.dates import contains_feb_29, months_back, whole_months_between
from loansvc.domain.errors import InvalidInput


class UnitPeriod(str, Enum):
    MONTH = "month"
    SEMIMONTH = "semimonth"
    QUARTER = "quarter"
    YEAR = "year"
    WEEK = "week"
    BIWEEK = "biweek"
    FOUR_WEEKS = "four_weeks"
    DAY = "day"
    TERM = "term"


class AprMethod(str, Enum):
    ACTUARIAL = "actuarial"
    EFFECTIVE = "effective"


@dataclass(frozen=True)
class CashFlow:
    date: date
    amount: Decimal


@dataclass(frozen=True)
class RateResult:
    apr_percent: Decimal
    periodic_rate: Decimal
    eir_percent: Decimal


NO_RATE_SOLUTION = "NO_RATE_SOLUTION"

# 34 digits (IEEE decimal128) leaves ample room above the 1e-12 the rate is solved to.
_CTX = Context(prec=34, rounding=ROUND_HALF_EVEN)
_PERCENT_Q = Decimal("0.0001")
_PERIODIC_Q = Decimal("0.00000001")
_ZERO = Decimal(0)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)
_TOLERANCE = Decimal("1e-20")
_MAX_ITERATIONS = 200
_MAX_RATE = Decimal(2) ** 40  # per period; beyond this no loan is being priced

_UNITS_PER_YEAR: dict[UnitPeriod, int] = {
    UnitPeriod.MONTH: 12,
    UnitPeriod.SEMIMONTH: 24,
    UnitPeriod.QUARTER: 4,
    UnitPeriod.YEAR: 1,
    UnitPeriod.WEEK: 52,
    UnitPeriod.BIWEEK: 26,
    UnitPeriod.FOUR_WEEKS: 13,
    UnitPeriod.DAY: 365,
}
_DAYS_PER_UNIT = {UnitPeriod.WEEK: 7, UnitPeriod.BIWEEK: 14, UnitPeriod.FOUR_WEEKS: 28, UnitPeriod.DAY: 1}

# Keyed by the frequency's string value so this module need not import the schedule.
_UNIT_BY_FREQUENCY: dict[str, UnitPeriod] = {
    "monthly": UnitPeriod.MONTH,
    "quarterly": UnitPeriod.QUARTER,
    "every_4_weeks": UnitPeriod.FOUR_WEEKS,
    "biweekly": UnitPeriod.BIWEEK,
    "weekly": UnitPeriod.WEEK,
}


def unit_period_for(frequency: str) -> UnitPeriod:
    """The Appendix J unit period matching a repayment frequency (monthly -> month, ...)."""
    key = frequency.value if isinstance(frequency, Enum) else frequency
    return _UNIT_BY_FREQUENCY[key]


def _no_solution(message: str, field: str) -> InvalidInput:
    return InvalidInput(message, code=NO_RATE_SOLUTION, field=field)


def _check_flows(advances: Sequence[CashFlow], payments: Sequence[CashFlow]) -> date:
    """Refuse flows that admit no rate; return the date of the first advance."""
    if not advances:
        raise _no_solution("there is no advance: nothing was lent", "advances")
    if not payments:
        raise _no_solution("there are no payments: no rate can be found", "payments")
    for name, flows in (("advances", advances), ("payments", payments)):
        for flow in flows:
            amount = flow.amount
            if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
                raise _no_solution(f"every amount in {name} must be a positive decimal", name)
    start = min(flow.date for flow in advances)
    if any(flow.date < start for flow in payments):
        raise _no_solution("a payment is dated before the first advance", "payments")
    if sum(p.amount for p in payments) < sum(a.amount for a in advances):
        raise _no_solution("the payments are worth less than the advances", "payments")
    return start


def _actuarial_time(start: date, when: date, unit: UnitPeriod) -> tuple[int, Decimal]:
    """Appendix J (b)(5): whole unit periods t and the fraction f from `start` to `when`."""
    if unit in _DAYS_PER_UNIT:
        t, rest = divmod((when - start).days, _DAYS_PER_UNIT[unit])
        return t, Decimal(rest) / _DAYS_PER_UNIT[unit]
    months, reached = whole_months_between(start, when)
    if unit is UnitPeriod.MONTH:
        return months, Decimal((reached - start).days) / 30
    if unit is UnitPeriod.YEAR:
        years, rest_months = divmod(months, 12)
        if reached == start:  # whole months: the rest is months / 12
            return years, Decimal(rest_months) / 12
        return years, Decimal((months_back(when, 12 * years) - start).days) / 365
    # semimonth and quarter: 30-day months plus the remaining days, cut into 15 or 90 days
    size = 15 if unit is UnitPeriod.SEMIMONTH else 90
    t, rest = divmod(30 * months + (reached - start).days, size)
    return t, Decimal(rest) / size


def _solve(g: Callable[[Decimal], tuple[Decimal, Decimal]], guess: Decimal, field: str) -> Decimal:
    """Root of g on [0, oo): safeguarded Newton, bisection whenever Newton leaves the bracket.

    g(0) >= 0 is guaranteed by the caller (payments are worth at least the advances).
    """
    value0, _ = g(_ZERO)
    if value0 == 0:
        return _ZERO
    lo, hi = _ZERO, _ONE
    hi_value, _ = g(hi)
    while hi_value > 0:  # widen the bracket until the sign changes
        lo, hi = hi, hi * 4
        if hi > _MAX_RATE:
            raise _no_solution("no rate makes the payments worth the advances", field)
        hi_value, _ = g(hi)
    x = guess if lo < guess < hi else (lo + hi) / 2
    for _ in range(_MAX_ITERATIONS):
        value, slope = g(x)
        if value == 0:
            return x
        if value > 0:
            lo = x
        else:
            hi = x
        step = value / slope if slope != 0 else None
        candidate = x - step if step is not None else None
        if candidate is None or not lo < candidate < hi:
            candidate = (lo + hi) / 2
        if abs(candidate - x) < _TOLERANCE or hi - lo < _TOLERANCE:
            return candidate
        x = candidate
    return x


def _powers(base: Decimal, exponents: Sequence[int]) -> dict[int, Decimal]:
    """base**k for each k in `exponents`; a running product when they are dense, pow otherwise."""
    top = max(exponents)
    distinct = set(exponents)
    if top <= 2 * len(distinct) + 64:
        table = {0: _ONE}
        acc = _ONE
        for k in range(1, top + 1):
            acc *= base
            if k in distinct:
                table[k] = acc
        return table
    return {k: base**k for k in distinct}


def _simple_guess(flows: Sequence[tuple[Decimal, Decimal]]) -> Decimal:
    """Simple-interest estimate of the rate, sum(c) / sum(c·time) over the payments: a start
    close enough for Newton to need a handful of steps."""
    weighted = sum((c * time for c, time in flows if c > 0), _ZERO)
    net = sum((c for c, _ in flows), _ZERO)
    return net / weighted if weighted > 0 else _ZERO


def _term_rate(advances: Sequence[CashFlow], payments: Sequence[CashFlow]) -> RateResult:
    """(b)(5)(iv): one advance, one payment; the unit period is the whole term."""
    if len(advances) != 1 or len(payments) != 1:
        raise InvalidInput(
            "unit period 'term' needs exactly one advance and one payment",
            code="INVALID_UNIT_PERIOD",
            field="unit_period",
        )
    start, end = advances[0].date, payments[0].date
    if end <= start:
        raise _no_solution("the payment must come after the advance", "payments")
    months, reached = whole_months_between(start, end)
    # periods per year: 12/months for a whole-month term, else 365/days
    per_year = Decimal(12) / months if reached == start and months > 0 else Decimal(365) / (end - start).days
    i = payments[0].amount / advances[0].amount - 1
    return _result(i, per_year)


def _result(i: Decimal, per_year: Decimal) -> RateResult:
    compounded = (_ONE + i) ** (int(per_year) if per_year == per_year.to_integral_value() else per_year)
    return RateResult(
        apr_percent=(i * per_year * _HUNDRED).quantize(_PERCENT_Q, rounding=ROUND_HALF_EVEN),
        periodic_rate=i.quantize(_PERIODIC_Q, rounding=ROUND_HALF_EVEN),
        eir_percent=((compounded - _ONE) * _HUNDRED).quantize(_PERCENT_Q, rounding=ROUND_HALF_EVEN),
    )


def actuarial_rate(
    advances: Sequence[CashFlow], payments: Sequence[CashFlow], unit_period: UnitPeriod = UnitPeriod.MONTH
) -> RateResult:
    """Regulation Z Appendix J actuarial rate of dated advances and payments."""
    unit = UnitPeriod(unit_period)
    with localcontext(_CTX):
        start = _check_flows(advances, payments)
        if unit is UnitPeriod.TERM:
            return _term_rate(advances, payments)
        # (signed amount, t, f) computed once; the iteration only re-weights them
        grouped: dict[tuple[int, Decimal], Decimal] = {}
        for sign, flows in ((-1, advances), (1, payments)):
            for flow in flows:
                key = _actuarial_time(start, flow.date, unit)
                grouped[key] = grouped.get(key, _ZERO) + (flow.amount if sign > 0 else -flow.amount)
        terms = [(c, t, f) for (t, f), c in grouped.items() if c != 0]
        exponents = [t for _, t, _ in terms]

        def g(i: Decimal) -> tuple[Decimal, Decimal]:
            v = _ONE / (_ONE + i)
            powers = _powers(v, exponents)
            value = slope = _ZERO
            for c, t, f in terms:
                if f:
                    odd = _ONE + f * i
                    pv = c * powers[t] / odd
                    value += pv
                    slope -= pv * (t * v + f / odd)
                else:  # a whole number of unit periods: the same values without (1 + 0·i)
                    pv = c * powers[t]
                    value += pv
                    slope -= pv * (t * v)
            return value, slope

        if not terms:  # every payment cancels an advance on its own date: nothing is charged
            return _result(_ZERO, Decimal(_UNITS_PER_YEAR[unit]))
        guess = _simple_guess([(c, t + f) for c, t, f in terms])
        i = _solve(g, guess, "payments")
        return _result(i, Decimal(_UNITS_PER_YEAR[unit]))


def _effective_time(start: date, when: date) -> tuple[int, int, int]:
    """Annex I: whole months counted back, the remaining days, and their year length (365/366)."""
    months, reached = whole_months_between(start, when)
    basis = 366 if contains_feb_29(months_back(reached, 12), reached) else 365
    return months, (reached - start).days, basis


def effective_rate(advances: Sequence[CashFlow], payments: Sequence[CashFlow]) -> RateResult:
    """EU APRC: X with sum(advances/(1+X)^t) = sum(payments/(1+X)^t), t in years."""
    with localcontext(_CTX):
        start = _check_flows(advances, payments)
        grouped: dict[tuple[int, int, int], Decimal] = {}
        for sign, flows in ((-1, advances), (1, payments)):
            for flow in flows:
                key = _effective_time(start, flow.date)
                grouped[key] = grouped.get(key, _ZERO) + (flow.amount if sign > 0 else -flow.amount)
        terms = [(c, m, r, b) for (m, r, b), c in grouped.items() if c != 0]
        years = [Decimal(m) / 12 + Decimal(r) / b for _, m, r, b in terms]
        month_exps = [m for _, m, _, _ in terms]
        day_exps = [r for _, _, r, _ in terms]
        bases = {b for _, _, _, b in terms}

        def g(x: Decimal) -> tuple[Decimal, Decimal]:
            u = _ONE + x
            log_u = u.ln()
            # (1+X)^-t = w12^months * wB^days, three exponentials per iteration instead of one per flow
            per_month = _powers((-log_u / 12).exp(), month_exps)
            per_day = {b: _powers((-log_u / b).exp(), day_exps) for b in bases}
            value = slope = _ZERO
            for (c, m, r, b), t in zip(terms, years, strict=True):
                pv = c * per_month[m] * per_day[b][r]
                value += pv
                slope -= pv * t / u
            return value, slope

        guess = _simple_guess([(c, t) for (c, _, _, _), t in zip(terms, years, strict=True)])
        x = _solve(g, guess, "payments") if terms else _ZERO  # empty: every flow cancels out
        hundred_x = (x * _HUNDRED).quantize(_PERCENT_Q, rounding=ROUND_HALF_EVEN)
        return RateResult(
            apr_percent=hundred_x,
            periodic_rate=x.quantize(_PERIODIC_Q, rounding=ROUND_HALF_EVEN),
            eir_percent=hundred_x,
        )


def solve_rate(
    method: AprMethod,
    advances: Sequence[CashFlow],
    payments: Sequence[CashFlow],
    unit_period: UnitPeriod = UnitPeriod.MONTH,
) -> RateResult:
    """The rate by `method`; `unit_period` only matters to the actuarial method."""
    if AprMethod(method) is AprMethod.EFFECTIVE:
        return effective_rate(advances, payments)
    return actuarial_rate(advances, payments, unit_period)


def shown_percent(value: Decimal) -> Decimal:
    """A rate as it is shown to people: 2 decimals, half-even. The cap rule and the ranking of
    offers read this, so rounding noise never decides (17.9994 and 18.0002 both show 18.00)."""
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
