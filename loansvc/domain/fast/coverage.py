"""Programme coverage, vectorised (numpy): which households can afford which house design on which
loan terms, and what subsidy reaches the rest, over households x scenarios x models at once.

For programme design only: nothing computed here reaches a contract, a ledger or a figure shown
for one family; the exact Decimal engine (`loansvc.domain.affordability`) is the authority for
any single household. This path follows its rules on the terms coverage scenarios have
(declining balance, equal installments, per-period interest, principal grace; no fees, no
installment multiple) and is exact, not merely close, in integer minor units:

- a household's monthly income, expenses and debt service: each line's amount (at most 4
  decimals) x its monthly factor in twelfths x the conversion rate, summed as exact int64
  fractions over one denominator and rounded once, half-even, as the engine does;
- the capacity for a new installment: the policy's shares as integer fractions, rounded down;
- installments: `loansvc.domain.fast.schedule`, exact to the minor unit on these terms, and
  their monthly equivalent (x periods per year / 12) rounded half-even on integers;
- the largest affordable loan: for each scenario, the largest installment of every whole-unit
  principal up to the model's cost is tabulated once; the largest principal whose installments
  all fit a household's capacity is then a binary search in the table's suffix minimum (the last
  installment clears rounding residues, so the largest installment is not monotone in the
  principal: the suffix minimum makes "the largest that fits" exact anyway). A cost too wide
  to tabulate unit by unit (a riel house in 100-riel units) uses the bulk path's search,
  `max_principal_for_installment`, per household, capped at the cost.

A household affords a model on a scenario when the monthly installment of a loan of the model's
full cost is within its capacity and the policy would not call that loan ineligible. Its subsidy
is then 0; otherwise it is the cost less the largest affordable loan not above the cost.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np

from loansvc.domain.affordability import LOAN_AMOUNT_STEPS, MONTHLY_FACTOR_FRACTIONS, Policy
from loansvc.domain.fast import max_principal_for_installment, schedule_summary
from loansvc.domain.money import MINOR_UNITS
from loansvc.domain.schedule import Frequency

__all__ = [
    "CoverageArrays",
    "HouseholdFigures",
    "Lines",
    "Scenario",
    "capacities",
    "coverage",
    "household_results",
    "largest_loans",
    "loan_installments",
    "monthly_figures",
]

Array = np.ndarray

TWELFTHS = {f.value: 12 * n // d for f, (n, d) in MONTHLY_FACTOR_FRACTIONS.items()}
_E4 = 10_000  # line amounts travel as integer ten-thousandths (the registry keeps 4 decimals)
_INT_SAFE = 2**62
_CELLS = 4_000_000  # scenario x household cells held at once (a few arrays of 8 bytes each)
DECILES = 10
# tabulate every whole unit up to the cost while scenarios x units stays below this (dollar houses);
# beyond (riel houses: 100-riel units), search each household's largest loan instead
_TABLE_CELLS = 4_000_000
_WINDOW = 4096  # units below a cap tabulated when its last installment wiggles above a capacity
_FIGURE_LIMIT = 10**13  # minor units: DSTI products (x 10,000) stay far inside int64


@dataclass(frozen=True)
class Scenario:
    annual_rate_percent: Decimal
    term: int
    frequency: str = "monthly"
    grace_principal_periods: int = 0

    @property
    def periods_per_year(self) -> int:
        return Frequency(self.frequency).periods_per_year


@dataclass(frozen=True)
class Lines:
    """Cash lines of many households: incomes, expenses or debt installments."""

    household: Array  # the household's index, 0 .. n - 1
    amount_e4: Array  # the amount in ten-thousandths of the line's currency (int64)
    twelfths: Array  # its monthly factor in twelfths: daily 365, weekly 52, monthly 12, yearly 1
    currency: Array  # ISO codes

    @classmethod
    def of(
        cls, household: Sequence[int], amount: Sequence[Decimal], frequency: Sequence[str], currency
    ) -> Lines:
        """From Python values: Decimal amounts (at most 4 decimals) and frequency names."""
        units = []
        for value in amount:
            scaled = Decimal(value).scaleb(4)
            if scaled != scaled.to_integral_value():
                raise ValueError("line amounts have at most 4 decimals")
            units.append(int(scaled))
        return cls(
            household=np.asarray(household, dtype=np.int64),
            amount_e4=np.asarray(units, dtype=np.int64).reshape(-1),
            twelfths=np.asarray([TWELFTHS[f] for f in frequency], dtype=np.int64).reshape(-1),
            currency=np.asarray(currency, dtype=object).reshape(-1),
        )


@dataclass(frozen=True)
class HouseholdFigures:
    """Per household, in minor units of one currency (int64)."""

    income: Array
    expenses: Array
    debt: Array


def _round_half_even(num: Array, den: int) -> Array:
    """num / den (num >= 0, den >= 1) rounded half-even, on int64."""
    q, r = np.divmod(num, den)
    up = (2 * r > den) | ((2 * r == den) & (q % 2 == 1))
    return q + up


def _numerators(lines: Lines, n: int, currency: str, khr_per_usd: Decimal) -> tuple[Array | list[int], int]:
    """Each household's monthly total of `lines` in `currency` as an exact fraction: (numerators,
    their common denominator), the engine's 12 x rate scaled to ten-thousandths of a minor unit."""
    p, q = Decimal(khr_per_usd).as_integer_ratio()
    common = {"USD": p, "KHR": q}.get(currency, 1)
    k = np.empty(lines.currency.size, dtype=np.int64)
    for code in set(lines.currency.tolist()):
        if code == currency:
            factor = common
        elif {code, currency} == {"USD", "KHR"}:
            factor = p if code == "USD" else q  # x rate into riel, / rate into dollars
        else:
            raise ValueError(f"cannot convert {code} to {currency}: only USD and KHR convert")
        k[lines.currency == code] = factor
    den = 12 * 10 ** (4 - MINOR_UNITS[currency]) * common
    top = float(np.max(lines.amount_e4, initial=0)) * 365 * float(np.max(k, initial=1))
    if top * max(1, np.bincount(lines.household, minlength=n).max(initial=0)) < _INT_SAFE:
        total = np.zeros(n, dtype=np.int64)
        np.add.at(total, lines.household, lines.amount_e4 * lines.twelfths * k)
        return total, den
    # amounts too large for int64 (never on the ground): the same sums in Python integers
    sums = [0] * n
    rows = zip(lines.household.tolist(), lines.amount_e4.tolist(), lines.twelfths.tolist(), k, strict=True)
    for h, a, t, f in rows:
        sums[h] += a * t * int(f)
    return sums, den


def _rounded(numerators: Array | list[int], den: int) -> Array:
    if isinstance(numerators, np.ndarray):
        return _round_half_even(numerators, den)
    return np.array([round(Fraction(x, den)) for x in numerators], dtype=np.int64)  # half-even


def monthly_figures(
    n: int,
    incomes: Lines,
    expenses: Lines,
    debts: Lines,
    currency: str,
    khr_per_usd: Decimal,
    extra_debt: Mapping[int, Decimal] | None = None,
) -> HouseholdFigures:
    """Monthly income, expenses and debt service of `n` households, as the engine rounds them.
    `extra_debt` adds, per household index, monthly installments already in `currency` (its loans
    with lenders in loansvc), summed before the debt service is rounded, as the engine does."""
    income = _rounded(*_numerators(incomes, n, currency, khr_per_usd))
    spent = _rounded(*_numerators(expenses, n, currency, khr_per_usd))
    numerators, den = _numerators(debts, n, currency, khr_per_usd)
    debt = _rounded(numerators, den)
    scale = _scale(currency)
    for h, extra in (extra_debt or {}).items():  # extra in currency units; numerators / den in minor units
        debt[h] = round((int(numerators[h]) + Fraction(extra) * scale * den) / den)  # half-even
    return HouseholdFigures(income, spent, debt)


def _ratio(value: Decimal) -> tuple[int, int]:
    return Decimal(value).as_integer_ratio()


def capacities(fig: HouseholdFigures, policy: Policy) -> tuple[Array, Array]:
    """(monthly surplus, capacity for a new installment) per household, in minor units:
    max(0, min(surplus share x surplus, income share x income - debt service)), rounded down."""
    surplus = fig.income - fig.expenses - fig.debt
    sn, sd = _ratio(policy.surplus_share)
    inn, ind = _ratio(policy.income_share)
    room = np.minimum(np.floor_divide(sn * surplus, sd), np.floor_divide(inn * fig.income, ind) - fig.debt)
    return surplus, np.maximum(room, 0)


def _scale(currency: str) -> int:
    return 10 ** MINOR_UNITS[currency]


def _step(currency: str) -> int:
    """The whole unit a largest loan is counted in, in minor units (1 USD, 100 KHR)."""
    return int(LOAN_AMOUNT_STEPS.get(currency, Decimal(1)) * _scale(currency))


def _terms(scenarios: Sequence[Scenario]) -> dict[str, Array]:
    return {
        "annual_rate_percent": np.array([float(s.annual_rate_percent) for s in scenarios]),
        "term": np.array([s.term for s in scenarios], dtype=np.int64),
        "periods_per_year": np.array([s.periods_per_year for s in scenarios], dtype=np.int64),
        "grace_principal_periods": np.array([s.grace_principal_periods for s in scenarios], dtype=np.int64),
    }


def loan_installments(principal_units: Array, scenarios: Sequence[Scenario], currency: str) -> Array:
    """The largest installment, as a monthly equivalent in minor units, of each principal (minor
    units, any shape P) on each scenario: shape (*P, scenarios)."""
    principal_units = np.asarray(principal_units, dtype=np.int64)
    out = np.zeros((*principal_units.shape, len(scenarios)), dtype=np.int64)
    lending = principal_units > 0
    if not lending.any() or not scenarios:
        return out
    t = _terms(scenarios)
    scale = _scale(currency)
    summary = schedule_summary(
        (principal_units[lending] / scale)[:, None],
        t["annual_rate_percent"][None, :],
        t["term"][None, :],
        t["periods_per_year"][None, :],
        t["grace_principal_periods"][None, :],
        decimals=MINOR_UNITS[currency],
        units=True,
    )
    largest = np.rint(summary.largest_installment).astype(np.int64)
    out[lending] = _round_half_even(largest * t["periods_per_year"][None, :], 12)
    return out


def _suffix_min(table: Array) -> Array:
    """Along the last axis: the smallest value from each position to the end."""
    return np.minimum.accumulate(table[..., ::-1], axis=-1)[..., ::-1]


def _search(suffix: Array, capacity: Array) -> Array:
    """For each scenario row of `suffix` (non-decreasing) and each capacity, the last index whose
    value fits: shape (scenarios, households). One flat search, capacities sorted once."""
    rows, width = suffix.shape
    order = np.argsort(capacity, kind="stable")
    ordered = capacity[order]
    big = int(max(int(suffix.max(initial=0)), int(ordered[-1]) if ordered.size else 0)) + 1
    offsets = np.arange(rows, dtype=np.int64)[:, None] * big
    found = np.searchsorted((suffix + offsets).ravel(), (ordered[None, :] + offsets).ravel(), side="right")
    index = found.reshape(rows, -1) - 1 - np.arange(rows, dtype=np.int64)[:, None] * width
    out = np.empty_like(index)
    out[:, order] = index
    return out


def largest_loans(capacity: Array, scenarios: Sequence[Scenario], currency: str, cap_units: int) -> Array:
    """The largest loan, in whole units (1 USD, 100 KHR) up to `cap_units`, whose installments all
    fit each household's capacity (minor units), as the engine's max_loan_amount counts it:
    shape (scenarios, households), in minor units."""
    capacity = np.asarray(capacity, dtype=np.int64)
    width = cap_units // _step(currency) + 1
    if width * len(scenarios) <= _TABLE_CELLS:
        return _from_table(_table(scenarios, currency, width), capacity, currency)
    return _capped(_searched(capacity, scenarios, currency), capacity, scenarios, currency, cap_units)


def _from_table(table: Array, capacity: Array, currency: str) -> Array:
    return _search(_suffix_min(table), capacity) * _step(currency)


def _table(scenarios: Sequence[Scenario], currency: str, width: int, first: int = 0) -> Array:
    """(scenarios, width): the monthly largest installment of first, first + 1 ... whole units."""
    grid = (first + np.arange(width, dtype=np.int64)) * _step(currency)
    return loan_installments(grid, scenarios, currency).T


def _per_period_cap(capacity: Array, periods_per_year: int) -> Array:
    """The largest installment per period T whose monthly equivalent, T x periods / 12 rounded
    half-even, is within the monthly capacity C: T x ppy < 12 C + 6, or equal with C even."""
    num = 12 * capacity + 6
    cap = (num - 1) // periods_per_year
    exact_tie = (num % periods_per_year == 0) & (capacity % 2 == 0)
    return np.where(exact_tie, num // periods_per_year, cap)


def _searched(capacity: Array, scenarios: Sequence[Scenario], currency: str) -> Array:
    """(scenarios, households): the largest whole-unit loan that fits, uncapped, by the bulk
    path's search (for a cost too wide to tabulate every unit of it)."""
    scale, step = _scale(currency), _step(currency)
    out = np.empty((len(scenarios), capacity.size), dtype=np.int64)
    for j, s in enumerate(scenarios):
        found = max_principal_for_installment(
            _per_period_cap(capacity, s.periods_per_year) / scale,
            float(s.annual_rate_percent),
            s.term,
            s.periods_per_year,
            s.grace_principal_periods,
            decimals=MINOR_UNITS[currency],
            step=step / scale,
            largest=True,
            units=True,
        )
        out[j] = np.rint(found).astype(np.int64)
    return out


def _capped(
    uncapped: Array, capacity: Array, scenarios: Sequence[Scenario], currency: str, cap_units: int
) -> Array:
    """The largest loan up to the cap: the uncapped one when below it; else the cap itself when
    its installments fit; else (the last installment of the cap wiggles above the capacity) the
    largest that fits below the cap, from a table of the units just below it."""
    step = _step(currency)
    top = cap_units // step
    at_top = loan_installments(np.array([top * step]), scenarios, currency)[0]  # (scenarios,)
    out = np.where(uncapped <= top * step, uncapped, top * step)
    wiggle = (uncapped > top * step) & (at_top[:, None] > capacity[None, :])
    for j in np.flatnonzero(wiggle.any(axis=1)):
        who = np.flatnonzero(wiggle[j])
        first = max(0, top - _WINDOW + 1)
        window = _table([scenarios[j]], currency, top - first + 1, first)
        found = _search(_suffix_min(window), capacity[who])[0]
        if first > 0 and (found < 0).any():  # nothing fits in the window: the whole range
            found = _search(_suffix_min(_table([scenarios[j]], currency, top + 1)), capacity[who])[0]
            first = 0
        out[j, who] = (first + found) * step
    return out


@dataclass(frozen=True)
class CoverageArrays:
    """Coverage per model x scenario, in minor units; medians may end in a half minor unit."""

    households: int
    affordable: Array  # (models, scenarios)
    subsidised: Array
    subsidy_total: Array
    subsidy_median: Array  # NaN without households
    installment: Array  # the monthly installment of the full cost
    decile_households: Array  # (10,)
    decile_income_min: Array  # (10,), -1 for an empty decile
    decile_income_max: Array
    decile_affordable: Array  # (models, scenarios, 10)
    decile_subsidy_median: Array  # NaN for an empty decile


def _decile_bounds(n: int) -> Array:
    """Ranks 0 .. n - 1 by income fall in decile rank x 10 // n: slices start at ceil(d n / 10)."""
    return (np.arange(DECILES + 1) * n + DECILES - 1) // DECILES


def _judge(
    fig: HouseholdFigures, surplus: Array, capacity: Array, installment: Array, policy: Policy
) -> Array:
    """(scenarios, households): the full-cost loan's installment fits the capacity, and the policy
    would not call it ineligible (no income, no surplus, DSTI above the maximum, or an installment
    above the surplus)."""
    inst = installment[:, None]
    income = fig.income[None, :]
    positive = income > 0
    # DSTI after the loan in hundredths of a percent, rounded half-even as the engine's percent()
    dsti = _round_half_even((fig.debt[None, :] + inst) * 10_000, np.where(positive, income, 1))
    mn, md = _ratio(policy.max_dsti_percent)
    eligible = positive & (surplus[None, :] > 0) & (dsti * md <= mn * 100) & (inst <= surplus[None, :])
    return (inst <= capacity[None, :]) & eligible


def _chunks(n_scenarios: int, n_households: int) -> Iterator[slice]:
    size = max(1, _CELLS // max(1, n_households))
    for start in range(0, n_scenarios, size):
        yield slice(start, min(n_scenarios, start + size))


def household_results(
    fig: HouseholdFigures,
    costs_units: Sequence[int],
    scenarios: Sequence[Scenario],
    policy: Policy,
    currency: str,
) -> Iterator[tuple[int, slice, Array, Array, Array]]:
    """For each model and chunk of scenarios: (model, scenarios, affordable, largest loan up to
    the cost, subsidy), each (scenarios in the chunk, households), money in minor units."""
    surplus, capacity = capacities(fig, policy)
    costs = np.asarray(costs_units, dtype=np.int64)
    installments = loan_installments(costs, scenarios, currency)  # (models, scenarios)
    widest = int(costs.max(initial=0)) // _step(currency) + 1
    for chunk in _chunks(len(scenarios), capacity.size):
        offers = scenarios[chunk]
        tabulate = widest * len(offers) <= _TABLE_CELLS
        table = _table(offers, currency, widest) if tabulate else None
        uncapped = None if tabulate else _searched(capacity, offers, currency)
        for m, cost in enumerate(costs.tolist()):
            if table is not None:
                loans = _from_table(table[:, : cost // _step(currency) + 1], capacity, currency)
            else:
                loans = _capped(uncapped, capacity, offers, currency, cost)
            affordable = _judge(fig, surplus, capacity, installments[m, chunk], policy)
            subsidy = np.where(affordable, 0, cost - loans)
            yield m, chunk, affordable, loans, subsidy


def coverage(
    fig: HouseholdFigures,
    costs_units: Sequence[int],
    scenarios: Sequence[Scenario],
    policy: Policy,
    currency: str,
) -> CoverageArrays:
    """Coverage of every model (cost in minor units) on every scenario, with income deciles."""
    n, m_count, s_count = fig.income.size, len(costs_units), len(scenarios)
    if n and max(int(fig.income.max()), int(fig.debt.max()), *costs_units) >= _FIGURE_LIMIT:
        raise ValueError("amounts too large for the bulk path to stay exact; use the exact engine")
    order = np.lexsort((np.arange(n), fig.income))  # by income, then as given: deciles are slices
    fig = HouseholdFigures(fig.income[order], fig.expenses[order], fig.debt[order])
    bounds = _decile_bounds(n)
    slices = [slice(int(bounds[d]), int(bounds[d + 1])) for d in range(DECILES)]
    shape = (m_count, s_count)
    out = {
        "affordable": np.zeros(shape, dtype=np.int64),
        "subsidised": np.zeros(shape, dtype=np.int64),
        "subsidy_total": np.zeros(shape, dtype=np.int64),
        "subsidy_median": np.full(shape, np.nan),
        "decile_affordable": np.zeros((*shape, DECILES), dtype=np.int64),
        "decile_subsidy_median": np.full((*shape, DECILES), np.nan),
    }
    for m, chunk, affordable, _, subsidy in household_results(fig, costs_units, scenarios, policy, currency):
        out["affordable"][m, chunk] = affordable.sum(axis=1)
        out["subsidised"][m, chunk] = (subsidy > 0).sum(axis=1)
        out["subsidy_total"][m, chunk] = subsidy.sum(axis=1)
        if n:
            out["subsidy_median"][m, chunk] = np.median(subsidy, axis=1)
        for d, part in enumerate(slices):
            out["decile_affordable"][m, chunk, d] = affordable[:, part].sum(axis=1)
            if part.stop > part.start:
                out["decile_subsidy_median"][m, chunk, d] = np.median(subsidy[:, part], axis=1)
    sizes = np.diff(bounds)
    income = fig.income
    return CoverageArrays(
        households=n,
        installment=loan_installments(np.asarray(costs_units, dtype=np.int64), scenarios, currency),
        decile_households=sizes,
        decile_income_min=np.array([income[p.start] if p.stop > p.start else -1 for p in slices]),
        decile_income_max=np.array([income[p.stop - 1] if p.stop > p.start else -1 for p in slices]),
        **out,
    )
