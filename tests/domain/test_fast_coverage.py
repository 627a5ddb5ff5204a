"""The vectorised coverage path: a worked example by hand, and property tests that it agrees with
the exact engine (`loansvc.domain.affordability`) for every household: its monthly figures, its
capacity, the installment of the house loan, the affordability verdict and the largest loan.

Figures used below (worked period by period, independently of both engines: interest = balance x
rate rounded half-even, principal = level - interest, the last installment clears the balance):
  2,500 at 18 % over 48 months: level 2500 x 0.0293750 = 73.44, last 73.21
  2,500 at 0 % over 60 months: level 41.67, last 2500 - 59 x 41.67 = 41.47
  the largest loan at 18 % over 48 months with 28.00 a month: 951 (level 27.94, last 27.63);
    952 has level 27.96 but last 28.30, and no amount up to 999 fits again
  with 70.00 a month: 2,375 (level 69.77); 2,376 to 2,383 each have a last installment above 70
  at 0 % over 60 months with 28.00: 1,680 (28.00 each); 1,681: level 28.02
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loansvc.domain.affordability import (
    DEFAULT_POLICY,
    AssessmentInput,
    CashLine,
    DebtLine,
    LoanRequest,
    Policy,
    assess,
    to_currency,
)
from loansvc.domain.fast.coverage import (
    HouseholdFigures,
    Lines,
    Scenario,
    capacities,
    coverage,
    household_results,
    largest_loans,
    loan_installments,
    monthly_figures,
)

D = Decimal
AS_OF = date(2026, 3, 2)
EIGHTEEN_48 = Scenario(D("18"), 48)
FREE_60 = Scenario(D("0"), 60)


def figures(*rows: tuple[str, str, str]) -> HouseholdFigures:
    """Monthly income, expenses and debt service in dollars, as cents."""
    cents = [[int(D(x) * 100) for x in row] for row in rows]
    return HouseholdFigures(*(np.array(column, dtype=np.int64) for column in zip(*cents, strict=True)))


# Four families on the canal, monthly figures in USD (income, expenses, debt service):
CANAL = figures(
    ("600", "180", "0"),  # capacity min(70 % x 420, 50 % x 600) = 294.00
    ("300", "200", "0"),  # min(70, 150) = 70.00
    ("250", "210", "0"),  # min(28, 125) = 28.00
    ("150", "200", "0"),  # surplus -50: capacity 0, and ineligible for any loan
)


def test_capacities_follow_the_policy():
    surplus, capacity = capacities(CANAL, DEFAULT_POLICY)
    assert surplus.tolist() == [42000, 10000, 4000, -5000]
    assert capacity.tolist() == [29400, 7000, 2800, 0]


def test_the_house_loans_installments():
    # 2,500 at 18 % over 48 months: 73.44; at 0 % over 60: 41.67 (see the header)
    assert loan_installments(np.array([250000]), [EIGHTEEN_48, FREE_60], "USD").tolist() == [[7344, 4167]]


def test_the_canal_families_worked_by_hand():
    result = coverage(CANAL, [250000], [EIGHTEEN_48, FREE_60], DEFAULT_POLICY, "USD")
    assert result.households == 4
    # 18 % over 48: 73.44 fits only the first family's 294.00
    #   subsidies: 0; 2500 - 2375 = 125; 2500 - 951 = 1549; 2500 (no capacity): total 4,174.00
    #   median of 0, 125, 1549, 2500: (125 + 1549) / 2 = 837.00
    # 0 % over 60: 41.67 fits 294.00 and 70.00, not 28.00
    #   subsidies: 0; 0; 2500 - 1680 = 820; 2500: total 3,320.00; median (0 + 820) / 2 = 410.00
    assert result.affordable.tolist() == [[1, 2]]
    assert result.subsidised.tolist() == [[3, 2]]
    assert result.subsidy_total.tolist() == [[417400, 332000]]
    assert result.subsidy_median.tolist() == [[83700.0, 41000.0]]
    # deciles of 4 households by income: rank r falls in decile r x 10 // 4 + 1, i.e. 1, 3, 6, 8
    assert result.decile_households.tolist() == [1, 0, 1, 0, 0, 1, 0, 1, 0, 0]
    assert result.decile_income_min.tolist() == [15000, -1, 25000, -1, -1, 30000, -1, 60000, -1, -1]
    assert result.decile_affordable[0, 0].tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    assert result.decile_affordable[0, 1].tolist() == [0, 0, 0, 0, 0, 1, 0, 1, 0, 0]
    medians = result.decile_subsidy_median[0, 0]
    assert [None if np.isnan(x) else x for x in medians.tolist()] == [
        250000.0, None, 154900.0, None, None, 12500.0, None, 0.0, None, None,
    ]  # fmt: skip


def test_the_largest_loans_by_hand():
    _, capacity = capacities(CANAL, DEFAULT_POLICY)
    loans = largest_loans(capacity, [EIGHTEEN_48, FREE_60], "USD", 250000)
    # capped at the cost: the first family could borrow 10,007 at 18 % and 17,640 at 0 %
    assert loans.tolist() == [[250000, 237500, 95100, 0], [250000, 250000, 168000, 0]]


def test_no_households_and_a_household_without_income():
    empty = HouseholdFigures(*(np.zeros(0, dtype=np.int64) for _ in range(3)))
    result = coverage(empty, [250000], [EIGHTEEN_48], DEFAULT_POLICY, "USD")
    assert (result.households, result.affordable.tolist(), result.subsidy_total.tolist()) == (0, [[0]], [[0]])
    assert np.isnan(result.subsidy_median[0, 0])
    # a household that declared no income counts as earning nothing: ineligible, full subsidy
    none = monthly_figures(1, _lines([]), _lines([]), _lines([]), "USD", D("4100"))
    assert none.income.tolist() == [0]
    result = coverage(none, [250000], [EIGHTEEN_48], DEFAULT_POLICY, "USD")
    assert (result.affordable.tolist(), result.subsidy_total.tolist()) == ([[0]], [[250000]])


def _lines(rows) -> Lines:
    return Lines.of([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows])


def test_monthly_figures_sum_exact_fractions_then_round_once():
    # 12 a day is 12 x 365 / 12 = 365.00; 10.50 a week is 10.50 x 52 / 12 = 45.50;
    # 20,500 riel a day is 20,500 x 365 / 12 / 4,100 = 152.083... ; in all 562.583 -> 562.58
    incomes = _lines(
        [(0, D("12"), "daily", "USD"), (0, D("10.50"), "weekly", "USD"), (0, D("20500"), "daily", "KHR")]
    )
    fig = monthly_figures(1, incomes, _lines([]), _lines([]), "USD", D("4100"))
    assert fig.income.tolist() == [56258]
    # in riel: 365 x 4,100 + 45.50 x 4,100 + 20,500 x 365 / 12 = 1,496,500 + 186,550 + 623,541.67
    #   = 2,306,591.67 -> 2,306,592
    fig = monthly_figures(1, incomes, _lines([]), _lines([]), "KHR", D("4100"))
    assert fig.income.tolist() == [2306592]


def test_a_currency_that_does_not_convert_is_refused():
    with pytest.raises(ValueError, match="only USD and KHR"):
        monthly_figures(
            1, _lines([(0, D("100"), "monthly", "EUR")]), _lines([]), _lines([]), "USD", D("4100")
        )


# ---------------------------------------------------------------- agreement with the exact engine

FREQUENCIES = ["daily", "weekly", "biweekly", "every_4_weeks", "monthly", "quarterly", "yearly"]


@st.composite
def line(draw, currencies=("USD", "KHR"), low=0, high=60000):
    currency = draw(st.sampled_from(currencies))
    if currency == "KHR":
        amount = D(draw(st.integers(0, 300))) * 1000  # riel, in thousands
    else:
        amount = D(draw(st.integers(low, high))) / 100
    return amount, draw(st.sampled_from(FREQUENCIES)), currency


@st.composite
def household(draw):
    incomes = draw(st.lists(line(), min_size=1, max_size=3))
    expenses = draw(st.lists(line(("USD",), 0, 20000), max_size=3))
    debts = draw(st.lists(line(("USD", "KHR"), 100, 5000), max_size=2))
    # a loan with a lender in loansvc: its largest installment, monthly, in dollars or in riel
    programme = draw(st.none() | st.tuples(st.integers(100, 20000), st.sampled_from(["USD", "KHR"])))
    return incomes, expenses, debts, programme


def programme_debt(programme, currency: str) -> Decimal:
    """The monthly installment of a programme loan in the assessment's currency, as the service's
    programme_loans passes it (unrounded: riel into dollars does not terminate)."""
    if programme is None:
        return D(0)
    units, loan_currency = programme
    amount = D(units) / 100 if loan_currency == "USD" else D(units) * 100
    return to_currency(amount, loan_currency, currency, D("4100"))


@st.composite
def scenario(draw):
    term = draw(st.integers(3, 60))
    return Scenario(
        annual_rate_percent=D(draw(st.integers(0, 3000))) / 100,
        term=term,
        frequency=draw(st.sampled_from(["monthly", "weekly", "biweekly", "every_4_weeks", "quarterly"])),
        grace_principal_periods=draw(st.integers(0, min(3, term - 1))),
    )


def _exact(h, s: Scenario, cost: Decimal, currency: str, policy: Policy):
    incomes, expenses, debts, programme = h
    return assess(
        AssessmentInput(
            currency=currency,
            household_size=4,
            idpoor_level=0,
            incomes=tuple(CashLine("income", a, f, c) for a, f, c in incomes),
            expenses=tuple(CashLine("expense", a, f, c) for a, f, c in expenses),
            existing_debts=tuple(DebtLine("lender", a, f, D(0), c) for a, f, c in debts),
            extra_debt_service=programme_debt(programme, currency),
            loan=LoanRequest(
                cost,
                s.annual_rate_percent,
                s.term,
                s.frequency,
                grace_principal_periods=s.grace_principal_periods,
            ),
            as_of=AS_OF,
        ),
        policy,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    households=st.lists(household(), min_size=1, max_size=6),
    scenarios=st.lists(scenario(), min_size=1, max_size=2),
    currency=st.sampled_from(["USD", "KHR"]),
    cost_units=st.integers(100, 9000),
    strict=st.booleans(),
)
def test_the_fast_path_agrees_with_the_exact_engine_household_by_household(
    households, scenarios, currency, cost_units, strict
):
    # a strict policy (DSTI at most 30 %, below the 50 % income share) makes ineligibility reachable
    policy = Policy(version="strict", max_dsti_percent=D("30")) if strict else DEFAULT_POLICY
    if currency == "USD":  # 100.00 to 9,000.99 dollars, with cents; whole loans in dollars
        cost, scale, step = D(cost_units) + D(cost_units % 100) / 100, 100, 100
    else:  # 100,000 to 9,000,099 riel; whole loans in hundreds of riel
        cost, scale, step = D(cost_units) * 1000 + cost_units % 100, 1, 100
    cost_minor = int(cost * scale)
    rows: dict[str, list] = {"incomes": [], "expenses": [], "debts": []}
    extra = {}
    for k, (*groups, programme) in enumerate(households):
        for name, group in zip(rows, groups, strict=True):
            rows[name] += [(k, a, f, c) for a, f, c in group]
        if programme is not None:
            extra[k] = programme_debt(programme, currency)
    lines = [_lines(rows[name]) for name in rows]
    fig = monthly_figures(len(households), *lines, currency, D("4100"), extra)
    surplus, capacity = capacities(fig, policy)
    installments = loan_installments(np.array([cost_minor]), scenarios, currency)[0]
    [(_, _, affordable, capped, subsidy)] = household_results(fig, [cost_minor], scenarios, policy, currency)
    for j, s in enumerate(scenarios):
        exact = [_exact(h, s, cost, currency, policy) for h in households]
        top = max(int(e.max_loan_amount * scale) for e in exact) + 50 * step
        uncapped = largest_loans(capacity, [s], currency, top)[0]
        for k, e in enumerate(exact):
            # the monthly figures, the surplus and the capacity: exactly the engine's
            engine = (e.monthly_income, e.monthly_expenses, e.monthly_debt_service, e.monthly_surplus)
            assert (fig.income[k], fig.expenses[k], fig.debt[k], surplus[k]) == tuple(
                int(x * scale) for x in engine
            )
            assert capacity[k] == int(e.max_installment * scale)
            # the installment of the house loan, as a monthly equivalent
            assert installments[j] == int(e.loan_installment * scale)
            # affordable: within capacity and not ineligible
            fits = e.loan_installment <= e.max_installment and e.decision != "ineligible"
            assert bool(affordable[j, k]) == fits
            # the largest loan agrees with the engine's max_loan_amount within one minor unit
            assert abs(int(uncapped[k]) - int(e.max_loan_amount * scale)) <= 1
            # capped at the cost, it is the largest loan the subsidy is counted from
            whole_cost = cost_minor - cost_minor % step
            if uncapped[k] <= whole_cost:
                assert capped[j, k] == uncapped[k]
            else:
                assert capped[j, k] <= whole_cost
            assert subsidy[j, k] == (0 if fits else cost_minor - capped[j, k])


def test_amounts_too_large_for_int64_are_summed_in_python_integers():
    # 900 billion riel a day: 9e11 x 1e4 x 365 x 4,100 overflows int64; the sum is still exact
    incomes = _lines([(0, D("900000000000"), "daily", "KHR"), (0, D("12"), "daily", "USD")])
    fig = monthly_figures(1, incomes, _lines([]), _lines([]), "KHR", D("4100"))
    # 900e9 x 365 / 12 + 12 x 365 / 12 x 4100 = 27,375,000,000,000 + 1,496,500
    assert fig.income.tolist() == [27_375_000_000_000 + 1_496_500]


@pytest.mark.parametrize("currency", ["USD", "KHR"])
def test_the_search_for_wide_costs_finds_what_the_table_finds(monkeypatch, currency):
    # every capacity from 0 to 600.00 (60,000 riel) on four scenarios, capped at a cost: the
    # unit-by-unit table and the per-household search agree, including the capacities for which
    # a larger loan fits but the cap's own last installment does not (2,000 USD at 18 % over 48
    # months: level 58.75, last 58.79), found in a window of units below the cap
    import loansvc.domain.fast.coverage as fast_coverage

    capacity = np.arange(0, 60001, dtype=np.int64)
    scenarios = [
        EIGHTEEN_48,
        FREE_60,
        Scenario(D("15.5"), 104, "weekly"),
        Scenario(D("12"), 36, "monthly", 2),
    ]
    cap = 200000 if currency == "USD" else 2_000_050
    tabulated = largest_loans(capacity, scenarios, currency, cap)
    windows = []
    table = fast_coverage._table

    def spy(offers, cur, width, first=0):
        windows.append(first)
        return table(offers, cur, width, first)

    monkeypatch.setattr(fast_coverage, "_table", spy)
    monkeypatch.setattr(fast_coverage, "_TABLE_CELLS", 0)
    monkeypatch.setattr(fast_coverage, "_WINDOW", 3)  # too narrow for some: they fall back to all units
    searched = largest_loans(capacity, scenarios, currency, cap)
    assert (searched == tabulated).all()
    assert any(first > 0 for first in windows)  # the window below the cap was used
    assert searched.max() == cap - cap % 100
