"""Affordability policy kh-housing-2026.1: worked examples a loan officer can follow, with every
figure derived by hand in the comments, and the invariants of the largest loan that fits.

Annuity factors used below (PMT of 1 at 1.5 % a month, i.e. 18 % a year):
  24 months: 0.015 / (1 - 1.015^-24) = 0.0499241;  36 months: 0.0361524;  48 months: 0.0293750.
Installments are rounded half-even to the cent and the last one clears the balance, so it can be
a few cents above or below the level (Fineract's convention); the largest of them is what counts.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loansvc.domain.affordability import (
    DEFAULT_POLICY,
    MONTHLY_FACTOR_FRACTIONS,
    MONTHLY_FACTORS,
    AssessmentInput,
    CashFrequency,
    CashLine,
    DebtLine,
    LoanRequest,
    Policy,
    assess,
    max_loan_amount,
    monthly_amount,
    to_currency,
)
from loansvc.domain.errors import InvalidInput
from loansvc.domain.schedule import Amortization, Frequency, InterestMethod, build_schedule

D = Decimal
AS_OF = date(2026, 3, 2)


def household(incomes, expenses=(), debts=(), loan=None, currency="USD", **kw) -> AssessmentInput:
    return AssessmentInput(
        currency=currency,
        household_size=kw.pop("household_size", 4),
        idpoor_level=kw.pop("idpoor_level", 0),
        incomes=tuple(CashLine(*line) for line in incomes),
        expenses=tuple(CashLine(*line) for line in expenses),
        existing_debts=tuple(DebtLine(*line) for line in debts),
        loan=loan,
        as_of=AS_OF,
        **kw,
    )


def monthly_loan(amount, rate="18", term=24) -> LoanRequest:
    return LoanRequest(None if amount is None else D(amount), D(rate), term, Frequency.MONTHLY)


def codes(result) -> list[str]:
    return [r.code for r in result.reasons]


# ---------------------------------------------------------------- the issue's worked example


def issue_example(amount="3000") -> AssessmentInput:
    return household(
        incomes=[("garment wage", D(208), "monthly", "USD"), ("moto-taxi", D(12), "daily")],
        expenses=[("food", D(150), "monthly"), ("utilities and school", D(140), "monthly")],
        debts=[("MFI X", D(45), "monthly", D(800))],
        loan=monthly_loan(amount, term=36),
        household_size=5,
    )


def test_the_issues_worked_example_reproduces_to_the_cent():
    result = assess(issue_example())
    # income: 208 + 12 x 365 / 12 = 208 + 365 = 573.00 (the daily 12 is exactly 365 a month)
    # expenses: 150 + 140 = 290.00; debt service: 45.00
    # surplus: 573.00 - 290.00 - 45.00 = 238.00
    # capacity: min(70 % x 238.00 = 166.60, 50 % x 573.00 - 45.00 = 241.50) = 166.60
    # loan: 3000 x 0.0361524 = 108.457 -> level 108.46 (the last installment, 108.34, is lower)
    # DSTI before: 45 / 573 = 7.853 % -> 7.85; after: (45 + 108.46) / 573 = 26.782 % -> 26.78
    # largest loan: 166.60 / 0.0361524 = 4608.3; 4608 x 0.0361524 = 166.590 -> 166.59 <= 166.60
    #   (its last installment is 166.59 too); 4609 -> 166.626 -> 166.63 > 166.60
    # stress, income x 0.8: 458.40; 458.40 - 290 - 45 - 108.46 = 14.94 >= 0;
    #   DSTI (45 + 108.46) / 458.40 = 33.477 % -> 33.48 <= 75: passes
    assert result.to_dict() == {
        "policy_version": "kh-housing-2026.1",
        "currency": "USD",
        "monthly_income": "573.00",
        "monthly_expenses": "290.00",
        "monthly_debt_service": "45.00",
        "monthly_surplus": "238.00",
        "max_installment": "166.60",
        "max_loan_amount": "4608",
        "loan_installment": "108.46",
        "dsti_before_percent": "7.85",
        "dsti_after_percent": "26.78",
        "decision": "eligible",
        "reasons": [],
        "stress": [
            {
                "scenario": "income_minus_20pct",
                "dsti_after_percent": "33.48",
                "surplus_after_loan": "14.94",
                "passes": True,
            }
        ],
    }
    assert json.loads(json.dumps(result.to_dict())) == result.to_dict()


def test_the_largest_loan_is_within_capacity_and_one_dollar_more_is_not():
    # 4608 -> 166.59 a month, within 166.60; 4609 -> 166.63, above it. Both fail the stress test
    # (458.40 - 290 - 45 - 166.59 = -43.19): capacity is 70 % of the surplus, more than survives
    # a 20 % fall in income, so the largest loan is referred, never refused.
    at_most = assess(issue_example("4608"))
    one_more = assess(issue_example("4609"))
    assert (at_most.decision, codes(at_most)) == ("refer", ["STRESS_FAILS"])
    assert (one_more.decision, codes(one_more)) == ("refer", ["INSTALLMENT_ABOVE_CAPACITY", "STRESS_FAILS"])


def test_without_an_amount_only_capacity_and_the_largest_loan_are_given():
    # the same family asks "how much could we borrow over 36 months at 18 %?"
    result = assess(issue_example(amount=None))
    assert result.max_installment == D("166.60")
    assert result.max_loan_amount == D("4608")
    assert result.loan_installment is None
    assert result.dsti_before_percent == D("7.85")
    assert result.dsti_after_percent is None
    # stress with no new installment: 458.40 - 290 - 45 = 123.40; DSTI 45 / 458.40 = 9.817 % -> 9.82
    (stress,) = result.stress
    assert (stress.surplus_after_loan, stress.dsti_after_percent, stress.passes) == (
        D("123.40"),
        D("9.82"),
        True,
    )
    assert result.decision == "eligible"


# ---------------------------------------------------------------- eligible


def sophea(loan=None, **kw) -> AssessmentInput:
    """Sophea and her husband both sew in a garment factory: 208 and 180 a month."""
    return household(
        incomes=[("Sophea's wage", D(208), "monthly"), ("husband's wage", D(180), "monthly")],
        expenses=[("food", D(160), "monthly"), ("utilities and school", D(70), "monthly")],
        loan=loan or monthly_loan("1500"),
        **kw,
    )


def test_a_two_earner_garment_family_is_eligible_for_a_small_core_house_loan():
    result = assess(sophea())
    # income 208 + 180 = 388.00; expenses 160 + 70 = 230.00; no debts; surplus 158.00
    assert (result.monthly_income, result.monthly_expenses, result.monthly_surplus) == (
        D("388.00"),
        D("230.00"),
        D("158.00"),
    )
    # capacity min(70 % x 158 = 110.60, 50 % x 388 - 0 = 194.00) = 110.60
    assert result.max_installment == D("110.60")
    # 1500 over 24 months: 1500 x 0.0499241 = 74.886 -> 74.89 (last installment 74.80)
    assert result.loan_installment == D("74.89")
    # DSTI 0 before; 74.89 / 388 = 19.302 % -> 19.30 after
    assert (result.dsti_before_percent, result.dsti_after_percent) == (D("0.00"), D("19.30"))
    # stress: 388 x 0.8 = 310.40; 310.40 - 230 - 74.89 = 5.51; 74.89 / 310.40 = 24.127 % -> 24.13
    (stress,) = result.stress
    assert (stress.surplus_after_loan, stress.dsti_after_percent, stress.passes) == (
        D("5.51"),
        D("24.13"),
        True,
    )
    assert (result.decision, result.reasons) == ("eligible", ())
    # largest loan: 110.60 / 0.0499241 = 2215.4, but 2215's level 110.58 leaves a last installment
    # of 110.65 (the level was rounded down); 2214: level 110.53, last 110.57 <= 110.60
    assert result.max_loan_amount == D("2214")


# ---------------------------------------------------------------- referred, one rule at a time


def test_refer_when_the_installment_is_above_capacity_though_the_family_could_pay_it():
    # Dara is a construction foreman (450) and his wife sells vegetables (150); they live rent-free
    # with relatives and spend 100. They ask for 11,000 over 48 months.
    result = assess(
        household(
            incomes=[("foreman", D(450), "monthly"), ("vegetables", D(150), "monthly")],
            expenses=[("food and utilities", D(100), "monthly")],
            loan=monthly_loan("11000", term=48),
        )
    )
    # income 600.00, surplus 500.00; capacity min(70 % x 500 = 350, 50 % x 600 = 300) = 300.00
    assert result.max_installment == D("300.00")
    # 11000 x 0.0293750 = 323.125 -> level 323.12, rounded down, so the last installment that
    # clears the balance is 323.53: the largest, above 300.00 but within the 500.00 surplus
    assert result.loan_installment == D("323.53")
    # DSTI 323.53 / 600 = 53.92 %; stress 480 - 100 - 323.53 = 56.47, 323.53 / 480 = 67.40 %: passes
    assert result.dsti_after_percent == D("53.92")
    assert (result.stress[0].surplus_after_loan, result.stress[0].passes) == (D("56.47"), True)
    assert (result.decision, codes(result)) == ("refer", ["INSTALLMENT_ABOVE_CAPACITY"])
    message = result.reasons[0].message
    for figure in ("USD 323.53", "USD 300.00", "70%", "USD 500.00", "50%"):
        assert figure in message


def test_refer_an_idpoor_household_for_a_thorough_review():
    # Sophea's figures, but the family holds an IDPoor level 1 card
    result = assess(sophea(idpoor_level=1))
    assert (result.decision, codes(result)) == ("refer", ["IDPOOR_REVIEW"])
    assert "IDPoor level 1" in result.reasons[0].message


def test_refer_a_household_that_already_borrows_from_three_lenders():
    # income 400, expenses 120; declared: MFI X 20 and a moneylender 25 a month; in loansvc one
    # more lender collects 30 a month -> debt service 20 + 25 + 30 = 75.00 from 3 lenders
    result = assess(
        household(
            incomes=[("wages", D(400), "monthly")],
            expenses=[("food and utilities", D(120), "monthly")],
            debts=[("MFI X", D(20), "monthly", D(300)), ("moneylender", D(25), "monthly", D(200))],
            loan=monthly_loan("2000"),
            active_lenders=1,
            extra_debt_service=D(30),
        )
    )
    assert result.monthly_debt_service == D("75.00")
    # surplus 400 - 120 - 75 = 205; capacity min(143.50, 200 - 75 = 125.00) = 125.00
    assert (result.monthly_surplus, result.max_installment) == (D("205.00"), D("125.00"))
    # 2000 x 0.0499241 = 99.848 -> 99.85 <= 125.00; DSTI 75 / 400 = 18.75, 174.85 / 400 = 43.71
    assert result.loan_installment == D("99.85")
    assert (result.dsti_before_percent, result.dsti_after_percent) == (D("18.75"), D("43.71"))
    # stress 320 - 120 - 75 - 99.85 = 25.15; 174.85 / 320 = 54.64 %: passes
    assert (result.stress[0].surplus_after_loan, result.stress[0].dsti_after_percent) == (
        D("25.15"),
        D("54.64"),
    )
    assert (result.decision, codes(result)) == ("refer", ["TOO_MANY_LENDERS"])
    # the partner hears the count, never the other lenders' names
    assert "3 lenders" in result.reasons[0].message and "MFI X" not in result.reasons[0].message


def test_refer_when_a_twenty_percent_fall_in_income_would_leave_a_shortfall():
    # income 400, expenses 250, no debts: surplus 150, capacity min(105.00, 200.00) = 105.00
    result = assess(
        household(
            incomes=[("wages", D(400), "monthly")],
            expenses=[("food, rent and school", D(250), "monthly")],
            loan=monthly_loan("2000"),
        )
    )
    # 99.85 fits 105.00; DSTI 99.85 / 400 = 24.9625 % -> 24.96 (half-even)
    assert (result.loan_installment, result.dsti_after_percent) == (D("99.85"), D("24.96"))
    # stress: 320 - 250 - 99.85 = -29.85 < 0; DSTI 99.85 / 320 = 31.20 %
    (stress,) = result.stress
    assert (stress.surplus_after_loan, stress.dsti_after_percent, stress.passes) == (
        D("-29.85"),
        D("31.20"),
        False,
    )
    assert (result.decision, codes(result)) == ("refer", ["STRESS_FAILS"])
    assert result.reasons[0].message == (
        "If all income fell by 20%, bringing income to USD 320.00 a month, the household would have "
        "a shortfall of USD 29.85 after the loan and its other commitments, and debt payments would "
        "take 31.20% of income (at most 75% allowed)."
    )


def test_refer_a_loan_priced_above_the_legal_rate_cap():
    # Sophea's family offered 1500 over 24 months at 20 % a year (r = 1/60 a month):
    # PMT 76.344 -> level 76.34, last installment 76.42 -> installment 76.42, within 110.60;
    # stress 310.40 - 230 - 76.42 = 3.98 >= 0
    result = assess(sophea(loan=monthly_loan("1500", rate="20")))
    assert result.loan_installment == D("76.42")
    assert result.stress[0].surplus_after_loan == D("3.98")
    assert (result.decision, codes(result)) == ("refer", ["RATE_ABOVE_LEGAL_CAP"])
    assert result.reasons[0].message == (
        "The loan's interest rate of 20% a year is above the legal cap of 18% a year "
        "for microfinance lending."
    )


# ---------------------------------------------------------------- ineligible, one rule at a time


def test_ineligible_without_income_and_dsti_is_null():
    # the factory closed: the wage is 0 this month, the family still spends 120
    result = assess(
        household(
            incomes=[("garment wage", D(0), "monthly")],
            expenses=[("food", D(120), "monthly")],
            loan=monthly_loan("1000", term=12),
        )
    )
    assert (result.monthly_income, result.monthly_surplus, result.max_installment) == (
        D("0.00"),
        D("-120.00"),
        D("0.00"),
    )
    assert (result.dsti_before_percent, result.dsti_after_percent) == (None, None)
    assert result.stress[0].dsti_after_percent is None and not result.stress[0].passes
    # 1000 over 12 months: PMT 91.680 -> 91.68; nothing fits a capacity of 0
    assert (result.loan_installment, result.max_loan_amount) == (D("91.68"), D("0"))
    # every rule that fires is listed, in the policy's order, refer rules after ineligible ones
    assert result.decision == "ineligible"
    assert codes(result) == [
        "INCOME_NOT_POSITIVE",
        "NO_SURPLUS",
        "INSTALLMENT_EXCEEDS_SURPLUS",
        "INSTALLMENT_ABOVE_CAPACITY",
        "STRESS_FAILS",
    ]
    assert result.to_dict()["dsti_before_percent"] is None


def test_a_family_with_no_income_line_at_all_gets_the_policys_answer():
    # no wage, no trade: income 0.00; the family still spends 120, so the surplus is -120.00.
    # Not an input error: the policy's own rule answers, ineligible with INCOME_NOT_POSITIVE
    result = assess(household(incomes=[], expenses=[("food", D(120), "monthly")]))
    assert (result.monthly_income, result.monthly_surplus, result.max_installment) == (
        D("0.00"),
        D("-120.00"),
        D("0.00"),
    )
    assert (result.dsti_before_percent, result.dsti_after_percent) == (None, None)
    assert result.decision == "ineligible"
    assert codes(result)[:2] == ["INCOME_NOT_POSITIVE", "NO_SURPLUS"]
    # and its snapshot replays: no income line is a valid input, stored and read back
    snapshot = json.loads(json.dumps(household(incomes=[]).to_dict()))
    assert AssessmentInput.from_dict(snapshot).incomes == ()


def test_ineligible_when_nothing_is_left_after_expenses_and_debts():
    # income 300, expenses 260, debts 40: surplus exactly 0; asked only what could be lent
    result = assess(
        household(
            incomes=[("wages", D(300), "monthly")],
            expenses=[("food and rent", D(260), "monthly")],
            debts=[("MFI X", D(40), "monthly", D(500))],
            loan=monthly_loan(None),
        )
    )
    # capacity max(0, min(0, 150 - 40)) = 0 -> no loan fits; DSTI 40 / 300 = 13.33 %
    assert (result.monthly_surplus, result.max_installment, result.max_loan_amount) == (
        D("0.00"),
        D("0.00"),
        D("0"),
    )
    assert result.dsti_before_percent == D("13.33")
    # stress without a loan: 240 - 260 - 40 = -60
    assert result.stress[0].surplus_after_loan == D("-60.00")
    assert (result.decision, codes(result)) == ("ineligible", ["NO_SURPLUS", "STRESS_FAILS"])
    assert "leaves nothing" in result.reasons[0].message


def test_ineligible_when_debt_payments_would_take_more_than_three_quarters_of_income():
    # income 400, expenses 50, debts 150 + 100 = 250: surplus 100, capacity max(0, min(70, -50)) = 0
    result = assess(
        household(
            incomes=[("wages", D(400), "monthly")],
            expenses=[("food", D(50), "monthly")],
            debts=[("MFI X", D(150), "monthly", D(2000)), ("MFI Y", D(100), "monthly", D(1500))],
            loan=monthly_loan("2000"),
        )
    )
    # 99.85 fits the 100.00 surplus, but DSTI (250 + 99.85) / 400 = 87.4625 % -> 87.46 > 75
    assert (result.dsti_before_percent, result.dsti_after_percent) == (D("62.50"), D("87.46"))
    # stress: 320 - 50 - 250 - 99.85 = -79.85; 349.85 / 320 = 109.33 %
    assert (result.stress[0].surplus_after_loan, result.stress[0].dsti_after_percent) == (
        D("-79.85"),
        D("109.33"),
    )
    assert result.decision == "ineligible"
    assert codes(result) == ["DSTI_ABOVE_MAX", "INSTALLMENT_ABOVE_CAPACITY", "STRESS_FAILS"]
    assert "87.46%" in result.reasons[0].message and "USD 349.85" in result.reasons[0].message


def test_ineligible_when_the_installment_is_more_than_the_surplus():
    # income 400, expenses 320: surplus 80, capacity min(56.00, 200.00) = 56.00; 99.85 > 80
    result = assess(
        household(
            incomes=[("wages", D(400), "monthly")],
            expenses=[("food, rent, school, medicine", D(320), "monthly")],
            loan=monthly_loan("2000"),
        )
    )
    assert (result.monthly_surplus, result.max_installment, result.loan_installment) == (
        D("80.00"),
        D("56.00"),
        D("99.85"),
    )
    # DSTI 24.96 % is fine: only the surplus rule makes it ineligible (the others follow from it)
    assert result.dsti_after_percent == D("24.96")
    assert result.decision == "ineligible"
    assert codes(result) == ["INSTALLMENT_EXCEEDS_SURPLUS", "INSTALLMENT_ABOVE_CAPACITY", "STRESS_FAILS"]


# ---------------------------------------------------------------- riel loan, dollar income


def test_a_riel_loan_with_a_dollar_wage_and_its_fx_stress():
    # Chanthou's wage is 208 USD; her mother sells rice cakes for 20,000 riel a day; they spend
    # 700,000 riel a month and repay a moneylender 10 USD a week. The loan is in riel, 4100 / USD.
    result = assess(
        household(
            currency="KHR",
            incomes=[("garment wage", D(208), "monthly", "USD"), ("rice cakes", D(20000), "daily")],
            expenses=[("food, rent and school", D(700000), "monthly")],
            debts=[("moneylender", D(10), "weekly", D(150), "USD")],
            loan=LoanRequest(D(6000000), D(18), 36, Frequency.MONTHLY),
        )
    )
    # income: 208 x 4100 = 852,800 + 20,000 x 365 / 12 = 608,333.33 -> 1,461,133.33 -> 1,461,133
    # debt: 10 x 52 / 12 = 43.333 USD x 4100 = 177,666.67 -> 177,667
    # surplus: 1,461,133 - 700,000 - 177,667 = 583,466
    assert (result.monthly_income, result.monthly_debt_service, result.monthly_surplus) == (
        D("1461133"),
        D("177667"),
        D("583466"),
    )
    # capacity: min(70 % x 583,466 = 408,426.2, 730,566.5 - 177,667 = 552,899.5) -> 408,426 riel
    assert result.max_installment == D("408426")
    # 6,000,000 x 0.0361524 = 216,914.37 -> level 216,914; the last installment clears 216,931
    assert result.loan_installment == D("216931")
    # DSTI: 177,667 / 1,461,133 = 12.16 %; (177,667 + 216,931) / 1,461,133 = 394,598 / ... = 27.01 %
    assert (result.dsti_before_percent, result.dsti_after_percent) == (D("12.16"), D("27.01"))
    income_cut, fx = result.stress
    # all income x 0.8: 1,461,133.33 x 0.8 = 1,168,906.67 -> 1,168,907;
    #   1,168,907 - 700,000 - 177,667 - 216,931 = 74,309; 394,598 / 1,168,907 = 33.76 %
    assert (income_cut.scenario, income_cut.surplus_after_loan, income_cut.dsti_after_percent) == (
        "income_minus_20pct",
        D("74309"),
        D("33.76"),
    )
    # the dollar wage loses 10 % in riel: 852,800 x 0.9 = 767,520 + 608,333.33 = 1,375,853.33 ->
    #   1,375,853; 1,375,853 - 700,000 - 177,667 - 216,931 = 281,255; 394,598 / 1,375,853 = 28.68 %
    assert (fx.scenario, fx.surplus_after_loan, fx.dsti_after_percent, fx.passes) == (
        "fx_10pct_adverse",
        D("281255"),
        D("28.68"),
        True,
    )
    assert result.decision == "eligible"
    # largest loan in hundreds of riel: 408,426 / 0.0361524 = 11,297,342; 11,297,300's level is
    # 408,424 but its last installment 408,449; 11,297,200: level 408,421, last 408,418 -> fits;
    # from 11,297,400 the level (408,428) is already above 408,426
    assert result.max_loan_amount == D("11297200")


def test_no_fx_scenario_when_every_income_is_in_the_loan_currency():
    assert [s.scenario for s in assess(sophea()).stress] == ["income_minus_20pct"]


# ---------------------------------------------------------------- weekly and daily earnings


def test_weekly_and_daily_incomes_are_summed_exactly_then_rounded_once():
    # Sokha sells noodles (9 a day); her husband labours on sites (45 a week); a son and a
    # daughter bring 10 a week each. Food costs 7 a day, rent and utilities 60 a month.
    result = assess(
        household(
            incomes=[
                ("noodles", D(9), "daily"),
                ("construction", D(45), "weekly"),
                ("son", D(10), "weekly"),
                ("daughter", D(10), "weekly"),
            ],
            expenses=[("food", D(7), "daily"), ("rent and utilities", D(60), "monthly")],
            loan=LoanRequest(D(1500), D(18), 104, Frequency.WEEKLY),
        )
    )
    # income: 9 x 365/12 = 273.75; 45 x 52/12 = 195; 10 x 52/12 = 43.333.. twice
    #   = 555.41666.. -> 555.42 (rounding each line first would give 555.41)
    # expenses: 7 x 365/12 = 212.91666.. + 60 = 272.91666.. -> 272.92
    assert (result.monthly_income, result.monthly_expenses) == (D("555.42"), D("272.92"))
    # surplus 282.50; capacity min(197.75, 277.71) = 197.75
    assert (result.monthly_surplus, result.max_installment) == (D("282.50"), D("197.75"))
    # 1500 over 104 weeks at 18 % (0.18 / 52 a week): PMT 17.1993 -> 17.20 (the last is 17.12);
    #   a month holds 52 / 12 weeks: 17.20 x 52 / 12 = 74.5333 -> 74.53
    assert result.loan_installment == D("74.53")
    # DSTI 74.53 / 555.42 = 13.42 %; stress 555.41666 x 0.8 = 444.333 -> 444.33,
    #   444.33 - 272.92 - 74.53 = 96.88, 74.53 / 444.33 = 16.77 %
    assert result.dsti_after_percent == D("13.42")
    assert (result.stress[0].surplus_after_loan, result.stress[0].dsti_after_percent) == (
        D("96.88"),
        D("16.77"),
    )
    assert result.decision == "eligible"
    # the weekly installment may be at most 197.75 x 12 / 52 = 45.63; 3979's level is 45.62 but
    # its last installment 46.15 (x 52/12 = 199.98); 3978: last 45.99; 3977: last 45.65 (197.82);
    # 3976: level 45.59, last 45.54 -> 45.59 x 52/12 = 197.56 fits
    assert result.max_loan_amount == D("3976")


# ---------------------------------------------------------------- monthly factors and currencies


def test_monthly_factors_are_exact_fractions():
    assert MONTHLY_FACTOR_FRACTIONS[CashFrequency.DAILY] == (365, 12)
    assert MONTHLY_FACTOR_FRACTIONS[CashFrequency.QUARTERLY] == (1, 3)
    # multiply, then divide once: 12 a day is 365 a month exactly, not 12 x 30.4166..67
    assert monthly_amount(D(12), CashFrequency.DAILY) == D(365)
    assert monthly_amount(D(3), CashFrequency.WEEKLY) == D(13)
    assert monthly_amount(D(6), CashFrequency.BIWEEKLY) == D(13)
    assert monthly_amount(D(12), CashFrequency.EVERY_4_WEEKS) == D(13)
    assert monthly_amount(D(250), CashFrequency.MONTHLY) == D(250)
    assert monthly_amount(D(300), CashFrequency.QUARTERLY) == D(100)
    assert monthly_amount(D(1200), CashFrequency.YEARLY) == D(100)
    # the published factors, for display, are the fractions divided once at 34 digits
    assert MONTHLY_FACTORS[CashFrequency.WEEKLY] == D("4.333333333333333333333333333333333")
    assert MONTHLY_FACTORS[CashFrequency.MONTHLY] == 1
    # three lines of 4 a day: 3 x (4 x 365 / 12 = 121.666..) = 365.00 exactly, not 3 x 121.67
    result = assess(household(incomes=[("a", D(4), "daily"), ("b", D(4), "daily"), ("c", D(4), "daily")]))
    assert result.monthly_income == D("365.00")


def test_currency_conversion_at_the_policy_rate():
    assert to_currency(D(100), "USD", "KHR", D(4100)) == D(410000)
    assert to_currency(D(8200), "KHR", "USD", D(4100)) == D(2)
    assert to_currency(D("12.34"), "USD", "USD", D(4100)) == D("12.34")
    with pytest.raises(InvalidInput) as caught:
        to_currency(D(1), "EUR", "USD", D(4100))
    assert caught.value.code == "UNSUPPORTED_CONVERSION"


# ---------------------------------------------------------------- policy versions and replay


def test_policy_round_trips_through_json():
    recorded = json.loads(json.dumps(DEFAULT_POLICY.to_dict()))
    assert recorded["surplus_share"] == "0.70" and recorded["max_active_lenders"] == 3
    assert Policy.from_dict(recorded) == DEFAULT_POLICY


def test_a_stored_assessment_replays_to_the_same_answer_after_the_default_changes():
    inp = issue_example()
    stored = json.loads(
        json.dumps(
            {"policy": DEFAULT_POLICY.to_dict(), "input": inp.to_dict(), "result": assess(inp).to_dict()}
        )
    )
    # a new version lends at most 60 % of the surplus: min(60 % x 238 = 142.80, 241.50) = 142.80;
    # 3950's last installment is 142.87 and 3951's level 142.84; 3949: level 142.77, last 142.60
    stricter = Policy(version="kh-housing-2027.1", surplus_share=D("0.60"))
    now = assess(inp, stricter)
    assert (now.policy_version, now.max_installment, now.max_loan_amount) == (
        "kh-housing-2027.1",
        D("142.80"),
        D("3949"),
    )
    replayed = assess(AssessmentInput.from_dict(stored["input"]), Policy.from_dict(stored["policy"]))
    assert replayed.to_dict() == stored["result"]


def test_assessment_input_round_trips_through_json():
    inp = household(
        currency="KHR",
        incomes=[("wage", D(208), "monthly", "USD")],
        debts=[("", D(10), "weekly", D(0), "USD")],
        loan=LoanRequest(
            None, D("17.5"), 18, "biweekly", grace_principal_periods=2, installment_multiple=D(100)
        ),
        active_lenders=1,
        extra_debt_service=D(12000),
    )
    assert AssessmentInput.from_dict(json.loads(json.dumps(inp.to_dict()))) == inp


# ---------------------------------------------------------------- bad input


def snapshot(**changes) -> dict:
    d = issue_example().to_dict()
    d.update(changes)
    return d


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        (
            {"expenses": [{"label": "food", "amount": "-5", "frequency": "monthly"}]},
            "INVALID_AMOUNT",
            "expenses[0].amount",
        ),
        (
            {"incomes": [{"label": "wage", "amount": "208", "frequency": "fortnightly"}]},
            "INVALID_ENUM",
            "incomes[0].frequency",
        ),
        (
            {"incomes": [{"label": "wage", "amount": "208", "frequency": "monthly", "currency": "XYZ"}]},
            "UNKNOWN_CURRENCY",
            "incomes[0].currency",
        ),
        (
            {"incomes": [{"label": "wage", "amount": "208", "frequency": "monthly", "currency": "EUR"}]},
            "UNSUPPORTED_CONVERSION",
            "incomes[0].currency",
        ),
        ({"currency": "XYZ"}, "UNKNOWN_CURRENCY", "currency"),
        ({"idpoor_level": 3}, "INVALID_INPUT", "idpoor_level"),
        (
            {"loan": {"amount": "3000", "annual_rate_percent": "18", "term": 0, "frequency": "monthly"}},
            None,
            "loan.term",
        ),
        (
            {"loan": {"amount": "-1", "annual_rate_percent": "18", "term": 36, "frequency": "monthly"}},
            None,
            "loan.amount",
        ),
        ({"household": 1}, "UNKNOWN_FIELD", "household"),
    ],
)
def test_bad_input_names_the_field(changes, code, field):
    with pytest.raises(InvalidInput) as caught:
        AssessmentInput.from_dict(snapshot(**changes))
    assert caught.value.field == field
    if code:
        assert caught.value.code == code


def test_a_policy_share_above_one_is_refused():
    with pytest.raises(InvalidInput) as caught:
        Policy.from_dict({**DEFAULT_POLICY.to_dict(), "income_share": "1.5"})
    assert (caught.value.code, caught.value.field) == ("INVALID_POLICY", "income_share")


# ---------------------------------------------------------------- the largest loan, as a property


def monthly_largest(loan: LoanRequest, units: int, currency: str) -> Decimal:
    """The definition, independent of the search: the largest installment x periods / 12, half-even."""
    step = D(100) if currency == "KHR" else D(1)
    schedule = build_schedule(loan.terms(units * step, currency, AS_OF))
    largest = max(i.total for i in schedule.installments)
    q = D(1) if currency == "KHR" else D("0.01")
    return (largest * loan.frequency.periods_per_year / 12).quantize(q, rounding=ROUND_HALF_EVEN)


@settings(max_examples=60, deadline=None)
@given(
    currency=st.sampled_from(["USD", "KHR"]),
    capacity_cents=st.integers(1, 60000),
    rate=st.integers(0, 360).map(lambda r: D(r) / 10),
    term=st.integers(1, 60),
    frequency=st.sampled_from(list(Frequency)),
    method=st.sampled_from(list(InterestMethod)),
    amortization=st.sampled_from(list(Amortization)),
    grace=st.integers(0, 3),
    multiple=st.sampled_from([None, 1, 5]),
)
def test_the_largest_loan_fits_and_one_unit_more_does_not(
    currency, capacity_cents, rate, term, frequency, method, amortization, grace, multiple
):
    capacity = D(capacity_cents) / 100 if currency == "USD" else D(capacity_cents * 41)
    unit = 1 if currency == "USD" else 100
    loan = LoanRequest(
        None,
        rate,
        term,
        frequency,
        method,
        amortization,
        min(grace, term - 1),
        None if multiple is None else D(multiple * unit),
    )
    amount = max_loan_amount(capacity, loan, currency, AS_OF)
    units = int(amount / unit)
    assert amount == units * unit
    if units:
        assert monthly_largest(loan, units, currency) <= capacity
    # not one more unit, nor (per-period interest) any of the next few
    for above in range(units + 1, units + 6):
        assert monthly_largest(loan, above, currency) > capacity


def test_nothing_fits_a_capacity_of_zero():
    assert max_loan_amount(D(0), monthly_loan(None), "USD", AS_OF) == 0
