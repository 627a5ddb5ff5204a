"""Affordability: what a household can carry, and why (issue 4, policy kh-housing-2026.1).

Owns the cash-flow policy: the surplus and the capacity for a new installment, the largest loan
that fits, DSTI, the decision with its reasons, and the stress scenarios. The inputs, the policy
and the result, with their JSON snapshots (a stored assessment replays under its recorded policy
to the same answer years later), live in `loansvc.domain.affordability_io` and are re-exported
here: callers import everything from this module.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import ROUND_DOWN, Context, Decimal, localcontext

from loansvc.domain.affordability_io import (
    _TWELFTHS,
    DEFAULT_POLICY,
    MONTHLY_FACTOR_FRACTIONS,
    MONTHLY_FACTORS,
    Assessment,
    AssessmentInput,
    CashFrequency,
    CashLine,
    DebtLine,
    LoanRequest,
    Policy,
    Reason,
    StressResult,
    _conversion,
    _under,
    monthly_amount,
    to_currency,
)
from loansvc.domain.errors import InvalidInput
from loansvc.domain.money import quantum
from loansvc.domain.schedule import (
    MAX_AMOUNT,
    Amortization,
    FeeTiming,
    Frequency,
    InterestMethod,
    annuity_payment,
    build_schedule,
    validate_terms,
)

__all__ = [
    "DEFAULT_POLICY",
    "LOAN_AMOUNT_STEPS",
    "MONTHLY_FACTORS",
    "MONTHLY_FACTOR_FRACTIONS",
    "Assessment",
    "AssessmentInput",
    "CashFrequency",
    "CashLine",
    "DebtLine",
    "LoanRequest",
    "Policy",
    "Reason",
    "StressResult",
    "assess",
    "max_loan_amount",
    "monthly_amount",
    "monthly_installment",
    "percent",
    "to_currency",
]

_EXACT = Context(prec=100)  # see affordability_io: no sum or product of bounded inputs rounds
_PERCENT = Decimal("0.01")
_ZERO = Decimal(0)


# The whole currency unit a maximum loan is rounded down to (1 elsewhere): riel prices go in hundreds.
LOAN_AMOUNT_STEPS: dict[str, Decimal] = {"KHR": Decimal(100)}


def _round_ratio(numerator: Decimal, denominator: Decimal, step: Decimal, down: bool = False) -> Decimal:
    """numerator / denominator rounded once to a multiple of `step`, half-even (or down), on integers."""
    a, b = numerator.as_integer_ratio()
    c, d = (denominator * step).as_integer_ratio()
    whole = b * abs(c)
    units, rest = divmod(a * d * (1 if c > 0 else -1), whole)  # floor division, so rest >= 0
    if not down and (2 * rest > whole or (2 * rest == whole and units % 2)):
        units += 1
    return (Decimal(units) * step).quantize(step)


def percent(part: Decimal, whole: Decimal) -> Decimal:
    """part / whole in percent, rounded once to 2 decimals half-even (DSTI)."""
    return _round_ratio(part * 100, whole, _PERCENT)


def monthly_installment(total: Decimal, frequency: Frequency, currency: str) -> Decimal:
    """An installment as a monthly equivalent: x periods per year / 12, rounded once to the minor
    unit half-even (exact for monthly loans); loan_installment and max_loan_amount share it."""
    return _round_ratio(total * frequency.periods_per_year, Decimal(12), quantum(currency))


# ---------------------------------------------------------------- the largest loan that fits


_WALK_BUDGET = 10  # schedule builds walking down, level by level, before settling for an edge


def max_loan_amount(capacity: Decimal, loan: LoanRequest, currency: str, as_of: date) -> Decimal:
    """The largest amount, in whole units (1 USD, 100 KHR), whose schedule's largest installment,
    as a monthly equivalent (the figure loan_installment shows), is <= `capacity`; 0 when nothing fits.

    The result always fits and one unit more never does. The first installment after principal
    grace grows with the amount and bounds the largest one: an annuity-formula guess, one Newton
    step and a bisection find the largest amount whose first installment fits; walking down from
    there level by level (amounts sharing a level installment have a last installment that grows
    with the amount) finds the largest amount that fits. Only if that walk outlasts its budget
    (daily interest with principal grace: the last installment stays above the level) does it
    settle for the nearest such edge below, after a Newton step on the largest installment.
    """
    with _under("loan", {"principal": "amount"}):
        validate_terms(loan.terms(MAX_AMOUNT, currency, as_of))
    if capacity <= 0:
        return Decimal(0)
    step = LOAN_AMOUNT_STEPS.get(currency, Decimal(1))
    top = int(MAX_AMOUNT / step)
    seen: dict[int, tuple[Decimal, Decimal, Decimal] | None] = {}

    def probe(units: int) -> tuple[Decimal, Decimal, Decimal] | None:
        """The first installment after grace and the largest one, as monthly equivalents, and the
        first one's level (principal and interest: the same across a level's plateau)."""
        if units not in seen:
            try:
                schedule = build_schedule(loan.terms(units * step, currency, as_of))
            except InvalidInput as e:
                if e.field != "fees":
                    raise
                seen[units] = None  # the upfront fees would swallow it: too small to lend
            else:
                first = schedule.installments[loan.grace_principal_periods]
                largest = max(i.total for i in schedule.installments)
                first_monthly, largest_monthly = (
                    monthly_installment(t, loan.frequency, currency) for t in (first.total, largest)
                )
                seen[units] = (first_monthly, largest_monthly, first.principal + first.interest)
        return seen[units]

    def level(units: int) -> Decimal | None:
        found = probe(units)
        return None if found is None else found[2]

    def under_bound(units: int) -> bool:  # monotone in units
        found = probe(units) if units > 0 else None
        return found is None or found[0] <= capacity

    def fits(units: int) -> bool:
        found = probe(units)
        return found is not None and found[1] <= capacity

    # the analytic slope: monthly installment per step of amount
    per_month = Decimal(loan.frequency.periods_per_year) / 12
    rate = loan.annual_rate_percent / 100 / loan.frequency.periods_per_year
    repaying = loan.term - loan.grace_principal_periods
    if loan.interest_method is InterestMethod.FLAT or loan.amortization is Amortization.EQUAL_PRINCIPAL:
        per_unit = 1 / Decimal(repaying) + rate
    else:
        per_unit = annuity_payment(Decimal(1), rate, repaying)
    per_installment = [f for f in loan.fees if f.timing is FeeTiming.PER_INSTALLMENT]
    per_unit += sum((f.percent / 100 for f in per_installment if f.percent is not None), _ZERO)
    fixed = sum((f.amount for f in per_installment if f.amount is not None), _ZERO) * per_month
    slope = per_unit * step * per_month

    guess = max(1, min(top, int((capacity - fixed) / slope)))
    found = probe(guess)
    if found is not None:  # one Newton step on the exact schedule
        guess += int((capacity - found[0]) / slope)
    # the largest amount whose first installment is within the capacity (a monotone bound)
    units = _edge_near(under_bound, guess, top)
    found = probe(units) if units > 0 else None
    if found is None:  # nothing, or the upfront fees swallow this amount and every smaller one
        return Decimal(0)
    if found[1] <= capacity:
        return units * step

    # walk down level by level: amounts sharing a level installment (many, with a coarse multiple)
    # have a last installment that grows with the amount and is smallest at the first of them
    budget = len(seen) + _WALK_BUDGET
    while len(seen) < budget:
        here = level(units)

        def other_level(u: int, here: Decimal | None = here) -> bool:
            return level(u) != here

        start = _edge(other_level, *_below(other_level, units)) + 1
        if fits(start):
            # units + 1 never fits: above the first bound, or the first amount of the level above
            return _edge(fits, start, units + 1) * step
        if start <= 1 or probe(start - 1) is None:
            return Decimal(0)
        units = start - 1
    # the last installment stays above the capacity level after level (daily interest): follow the
    # largest installment down with the annuity slope and settle for an edge, units fits, units + 1 not
    excess = probe(units)[1] - capacity  # type: ignore[index]
    return _edge_near(fits, units - int(excess / slope), units) * step


def _edge_near(holds: Callable[[int], bool], guess: int, top: int) -> int:
    """x <= top with holds(x) (or x == 0) and not holds(x + 1), galloping out from the guess."""
    guess = max(1, min(top, guess))
    if not holds(guess):
        return _edge(holds, *_below(holds, guess))
    lo, stride = guess, 1
    while lo + stride <= top and holds(lo + stride):
        lo, stride = lo + stride, stride * 2
    return _edge(holds, lo, min(lo + stride, top + 1))


def _below(holds: Callable[[int], bool], hi: int) -> tuple[int, int]:
    """Gallop down from `hi`, where `holds` fails, to a bracket (lo, hi): holds(lo) or lo == 0."""
    stride = 1
    while hi - stride >= 1 and not holds(hi - stride):
        hi, stride = hi - stride, stride * 2
    return max(0, hi - stride), hi


def _edge(holds: Callable[[int], bool], lo: int, hi: int) -> int:
    """Bisect a bracket (holds(lo) or lo == 0, not holds(hi)) to x with holds(x), not holds(x + 1)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if holds(mid) else (lo, mid)
    return lo


# ---------------------------------------------------------------- the assessment

_INELIGIBLE = ("INCOME_NOT_POSITIVE", "NO_SURPLUS", "DSTI_ABOVE_MAX", "INSTALLMENT_EXCEEDS_SURPLUS")
_MESSAGES = {
    "INCOME_NOT_POSITIVE": "The household's income comes to {income} a month. "
    "With no income there is nothing to repay a loan from.",
    "NO_SURPLUS": "Each month the household earns {income}, spends {expenses} and pays {debt} on existing "
    "debts, which leaves {left}. Nothing is left over to repay a loan.",
    "DSTI_ABOVE_MAX": "{payments} {dsti}% of the household's income of {income}; the policy allows at "
    "most {max_dsti}%.",
    "INSTALLMENT_EXCEEDS_SURPLUS": "The loan installment of {installment} a month is more than the household "
    "has left each month after expenses and existing debts ({surplus}).",
    "INSTALLMENT_ABOVE_CAPACITY": "The loan installment of {installment} a month is above the "
    "{max_installment} the household can safely pay: at most {surplus_share}% of its monthly surplus of "
    "{surplus}, and at most {income_share}% of its income less existing debt payments ({income_room}). "
    "{largest_loan}",
    "IDPOOR_REVIEW": "The household holds an IDPoor level {idpoor_level} card. The microfinance code of "
    "conduct asks for a thorough check of its repayment capacity, so a loan officer must review this loan.",
    "TOO_MANY_LENDERS": "The household already has loans with {lenders} lenders; the policy refers every "
    "household with {max_lenders} or more, to guard against over-indebtedness.",
    "STRESS_FAILS": "{failing}",
    "RATE_ABOVE_LEGAL_CAP": "The loan's interest rate of {rate}% a year is above the legal cap of "
    "{rate_cap}% a year for microfinance lending.",
}
_STRESS_MESSAGE = (
    "If {what}, bringing income to {stressed} a month, the household would have {left} after {paying}, "
    "and debt payments would take {share} (at most {max_dsti}% allowed)."
)


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def assess(inp: AssessmentInput, policy: Policy = DEFAULT_POLICY) -> Assessment:
    """Capacity, DSTI, the decision with its reasons, and the stress scenarios for one household."""
    with localcontext(_EXACT):
        return _assess(inp, policy)


def _assess(inp: AssessmentInput, policy: Policy) -> Assessment:
    cur, q, rate = inp.currency, quantum(inp.currency), policy.khr_per_usd
    den = 12 * rate  # every line's monthly value, times 12 x rate, is an exact Decimal

    def num(
        lines: tuple[CashLine, ...] | tuple[DebtLine, ...] | list[CashLine], attr: str = "amount"
    ) -> Decimal:
        total = _ZERO
        for line in lines:
            multiply, divide = _conversion(line.currency or cur, cur, rate)
            total += getattr(line, attr) * _TWELFTHS[line.frequency] * multiply * (rate / divide)
        return total

    foreign_lines = [i for i in inp.incomes if i.currency not in (None, cur)]
    home = num([i for i in inp.incomes if i.currency in (None, cur)])
    foreign = num(foreign_lines)
    income = _round_ratio(home + foreign, den, q)
    expenses = _round_ratio(num(inp.expenses), den, q)
    debt = _round_ratio(num(inp.existing_debts, "installment") + inp.extra_debt_service * den, den, q)
    surplus = income - expenses - debt
    income_room = policy.income_share * income - debt
    capacity = max(_ZERO, min(policy.surplus_share * surplus, income_room)).quantize(q, rounding=ROUND_DOWN)

    loan, max_loan, installment = inp.loan, None, None
    if loan is not None:
        max_loan = max_loan_amount(capacity, loan, cur, inp.as_of)
        if loan.amount is not None:
            with _under("loan", {"principal": "amount"}):
                schedule = build_schedule(loan.terms(loan.amount, cur, inp.as_of))
            installment = monthly_installment(
                max(i.total for i in schedule.installments), loan.frequency, cur
            )
    paid = debt + (installment or _ZERO)  # without a loan amount: what the household already pays
    dsti_before = percent(debt, income) if income > 0 else None
    dsti_after = percent(paid, income) if income > 0 and installment is not None else None

    def money(amount: Decimal) -> str:
        return f"{cur} {amount:,f}"

    income_cut, fx_cut, max_dsti = (
        _plain(x)
        for x in ((1 - policy.income_stress) * 100, (1 - policy.fx_stress) * 100, policy.max_dsti_percent)
    )
    scenarios = [
        (
            f"income_minus_{income_cut}pct",
            f"all income fell by {income_cut}%",
            (home + foreign) * policy.income_stress,
        )
    ]
    if foreign_lines:
        what = f"incomes in other currencies lost {fx_cut}% of their value in {cur}"
        scenarios.append((f"fx_{fx_cut}pct_adverse", what, home + foreign * policy.fx_stress))
    stress, failing = [], []
    for name, what, stressed_num in scenarios:
        stressed = _round_ratio(stressed_num, den, q)
        after = stressed - expenses - debt - (installment or _ZERO)
        dsti = percent(paid, stressed) if stressed > 0 else None
        passes = dsti is not None and dsti <= policy.max_dsti_percent and after >= 0
        stress.append(StressResult(name, dsti, after, passes))
        if not passes:
            failing.append(
                _STRESS_MESSAGE.format(
                    what=what,
                    stressed=money(stressed),
                    left=f"{money(after)} left" if after >= 0 else f"a shortfall of {money(-after)}",
                    paying="the loan and its other commitments"
                    if installment is not None
                    else "its commitments",
                    share="no income" if dsti is None else f"{dsti}% of income",
                    max_dsti=max_dsti,
                )
            )

    judged = dsti_after if installment is not None else dsti_before
    lenders = _active_lenders(inp)
    fired = {
        "INCOME_NOT_POSITIVE": income <= 0,
        "NO_SURPLUS": surplus <= 0,
        "DSTI_ABOVE_MAX": judged is not None and judged > policy.max_dsti_percent,
        "INSTALLMENT_EXCEEDS_SURPLUS": installment is not None and installment > surplus,
        "INSTALLMENT_ABOVE_CAPACITY": installment is not None and installment > capacity,
        "IDPOOR_REVIEW": inp.idpoor_level in (1, 2),
        "TOO_MANY_LENDERS": lenders >= policy.max_active_lenders,
        "STRESS_FAILS": bool(failing),
        "RATE_ABOVE_LEGAL_CAP": loan is not None and loan.annual_rate_percent > policy.rate_cap_percent,
    }
    figures = {
        "income": money(income),
        "expenses": money(expenses),
        "debt": money(debt),
        "surplus": money(surplus),
        "left": "nothing" if surplus == 0 else f"a shortfall of {money(-surplus)}",
        "payments": f"With this loan, debt payments of {money(paid)} a month would take"
        if installment is not None
        else f"Existing debt payments of {money(paid)} a month already take",
        "dsti": judged,
        "max_dsti": max_dsti,
        "installment": money(installment or _ZERO),
        "max_installment": money(capacity),
        "surplus_share": _plain(policy.surplus_share * 100),
        "income_share": _plain(policy.income_share * 100),
        "income_room": money(income_room.quantize(q, rounding=ROUND_DOWN)),
        "largest_loan": f"The largest loan on these terms that fits is {money(max_loan)}."
        if max_loan
        else "No loan on these terms fits.",
        "idpoor_level": inp.idpoor_level,
        "lenders": lenders,
        "max_lenders": policy.max_active_lenders,
        "failing": " ".join(failing),
        "rate": loan.annual_rate_percent if loan is not None else None,
        "rate_cap": _plain(policy.rate_cap_percent),
    }
    reasons = tuple(Reason(code, _MESSAGES[code].format(**figures)) for code, hit in fired.items() if hit)
    if any(fired[code] for code in _INELIGIBLE):
        decision = "ineligible"
    else:
        decision = "refer" if reasons else "eligible"
    return Assessment(
        policy_version=policy.version,
        currency=cur,
        monthly_income=income,
        monthly_expenses=expenses,
        monthly_debt_service=debt,
        monthly_surplus=surplus,
        max_installment=capacity,
        max_loan_amount=max_loan,
        loan_installment=installment,
        dsti_before_percent=dsti_before,
        dsti_after_percent=dsti_after,
        decision=decision,
        reasons=reasons,
        stress=tuple(stress),
    )


def _active_lenders(inp: AssessmentInput) -> int:
    """Distinct declared lenders still owed or paid, plus lenders in loansvc. An unnamed declared
    debt counts as a lender of its own; the caller must not declare a loansvc loan twice."""
    named, unnamed = set(), 0
    for debt in inp.existing_debts:
        if debt.installment > 0 or debt.outstanding > 0:
            key = debt.lender.strip().casefold()
            if key:
                named.add(key)
            else:
                unnamed += 1
    return len(named) + unnamed + inp.active_lenders
