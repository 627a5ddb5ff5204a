"""APR and EIR: the published Regulation Z and EU examples, and hand-checked unit periods."""

from datetime import date
from decimal import Decimal

import pytest

from loansvc.domain.dates import add_months
from loansvc.domain.errors import InvalidInput
from loansvc.domain.rates import (
    AprMethod,
    CashFlow,
    UnitPeriod,
    actuarial_rate,
    effective_rate,
    solve_rate,
    unit_period_for,
)
from loansvc.domain.schedule import Frequency, LoanTerms, annuity_payment, simulate


def d(text: str) -> Decimal:
    return Decimal(text)


def flow(when: date, amount: str) -> CashFlow:
    return CashFlow(when, Decimal(amount))


def monthly(first: date, count: int, amount: str) -> list[CashFlow]:
    return [flow(add_months(first, k), amount) for k in range(count)]


def two_places(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


# --- US Regulation Z, Appendix J, section (c) (published to 2 decimals) -----------------------


def test_reg_z_c_1_i_monthly_payments():
    # Source: Reg Z Appendix J (c)(1)(i): 5000 on 1978-01-10, 24 x 230.00 from 1978-02-10: APR 9.69 %.
    result = actuarial_rate([flow(date(1978, 1, 10), "5000")], monthly(date(1978, 2, 10), 24, "230.00"))
    assert two_places(result.apr_percent) == d("9.69")
    # the contract of POST /v1/rates/apr (issue 3) publishes the full figures for this example
    assert result.apr_percent == d("9.6857")
    assert result.periodic_rate == d("0.00807142")
    assert result.eir_percent == d("10.1275")


def test_reg_z_c_1_ii_odd_first_period():
    # Source: Reg Z Appendix J (c)(1)(ii): 6000 on 1978-02-10, 36 x 200.00 from 1978-04-01
    # (t = 1, f = 19/30 for the first payment): APR 11.82 %.
    result = actuarial_rate([flow(date(1978, 2, 10), "6000")], monthly(date(1978, 4, 1), 36, "200.00"))
    assert two_places(result.apr_percent) == d("11.82")


def test_reg_z_c_2_i_irregular_first_payment():
    # Source: Reg Z Appendix J (c)(2)(i): 5000 on 1978-01-10; 250.00 on 1978-02-10, then
    # 23 x 230.00 from 1978-03-10: APR 10.08 %.
    payments = [flow(date(1978, 2, 10), "250.00"), *monthly(date(1978, 3, 10), 23, "230.00")]
    result = actuarial_rate([flow(date(1978, 1, 10), "5000")], payments)
    assert two_places(result.apr_percent) == d("10.08")


def test_reg_z_c_5_i_single_advance_single_payment_term_unit():
    # Source: Reg Z Appendix J (c)(5)(i): 1000 on 1978-01-03, 1080.00 on 1978-09-15 (255 days),
    # the unit period is the term: i = 0.08, APR = 0.08 x 365/255 = 11.4510 % -> 11.45 %.
    result = actuarial_rate(
        [flow(date(1978, 1, 3), "1000")], [flow(date(1978, 9, 15), "1080.00")], UnitPeriod.TERM
    )
    assert two_places(result.apr_percent) == d("11.45")
    assert result.periodic_rate == d("0.08000000")


def test_term_unit_of_whole_months_counts_months_per_year():
    # 1000 -> 1030 after 3 months: i = 0.03, 12/3 = 4 periods a year: APR 12 %,
    # EIR = 1.03^4 - 1 = 12.5509 %
    result = actuarial_rate(
        [flow(date(2024, 1, 15), "1000")], [flow(date(2024, 4, 15), "1030")], UnitPeriod.TERM
    )
    assert result.apr_percent == d("12.0000")
    assert result.eir_percent == d("12.5509")


# --- EU Consumer Credit Directive, Annex I ----------------------------------------------------


def test_eu_aprc_example_1():
    # Source: European Commission, "Examples for the calculation of the APRC" (2015), example 1:
    # 200 000 credit less a 4 000 fee = 196 000 received; 240 monthly x 1432.86 at t = k/12.
    # APRC 6.434412 %. Dated on the 15th so every t is whole months (k/12 years).
    start = date(2015, 1, 15)
    result = effective_rate([flow(start, "196000")], monthly(add_months(start, 1), 240, "1432.86"))
    assert result.periodic_rate * 100 == d("6.434412")
    assert result.apr_percent == result.eir_percent == d("6.4344")


def test_effective_rate_counts_remaining_days_over_365_or_366():
    # 1000 -> 1010 after 30 days. With no 29 February in the 12 months ending on the payment date,
    # t = 30/365 and X = 1.01^(365/30) - 1 = 12.8695 %; with one (2024-03-31), t = 30/366 and
    # X = 1.01^(366/30) - 1 = 12.9070 %.
    plain = effective_rate([flow(date(2023, 3, 1), "1000")], [flow(date(2023, 3, 31), "1010")])
    leap = effective_rate([flow(date(2024, 3, 1), "1000")], [flow(date(2024, 3, 31), "1010")])
    assert plain.apr_percent == d("12.8695")
    assert leap.apr_percent == d("12.9070")


# --- The examples of the domain notes ----------------------------------------------------------


def test_one_percent_a_month_is_apr_12_and_eir_12_6825():
    # 100 lent, 101 repaid a month later: i = 1 %; APR 12 %, EIR = 1.01^12 - 1 = 12.6825 %
    result = actuarial_rate([flow(date(2024, 1, 15), "100")], [flow(date(2024, 2, 15), "101")])
    assert result.apr_percent == d("12.0000")
    assert result.periodic_rate == d("0.01000000")
    assert result.eir_percent == d("12.6825")


def test_numpy_financial_pmt():
    # Source: numpy-financial docs: pmt(0.075/12, 180, 200000) = -1854.0247200054619.
    payment = annuity_payment(d("200000"), d("0.075") / 12, 180)
    assert abs(payment - d("1854.0247200054619")) < d("1e-9")
    assert payment.quantize(d("0.01")) == d("1854.02")


def test_apr_of_the_numpy_financial_loan_is_its_nominal_rate():
    # 180 payments of 1854.02 (the last one clearing the balance) on 200 000 at 7.5 %: the
    # APR is the nominal rate to well within a basis point.
    terms = LoanTerms(
        principal=d("200000"),
        currency="USD",
        annual_rate_percent=d("7.5"),
        term=180,
        frequency=Frequency.MONTHLY,
        disbursement_date=date(2024, 1, 15),
    )
    assert abs(simulate(terms).apr_percent - d("7.5")) < d("0.01")


def test_flat_two_percent_a_month_over_twelve_months_is_about_41_7():
    # 1000 at 2 % flat a month: 1000/12 + 20 = 103.33 a month for 12 months; solving
    # 1000 = 103.33 x a(12, i) gives i ~ 3.475 %, an APR of about 41.7 %.
    start = date(2024, 1, 15)
    result = actuarial_rate([flow(start, "1000")], monthly(add_months(start, 1), 12, "103.33"))
    assert abs(result.apr_percent - d("41.7")) < d("0.05")


# --- Unit periods, each checked on a flow whose rate is obvious ---------------------------------


@pytest.mark.parametrize(
    ("unit", "start", "paid", "amount", "apr", "eir"),
    [
        # one month, 1 %: APR 12, EIR 1.01^12 - 1
        (UnitPeriod.MONTH, date(2024, 1, 15), date(2024, 2, 15), "1010", "12.0000", "12.6825"),
        # 15 days, 0.5 %: 24 semimonths a year, EIR 1.005^24 - 1
        (UnitPeriod.SEMIMONTH, date(2024, 1, 1), date(2024, 1, 16), "1005", "12.0000", "12.7160"),
        # three months, 3 %: 4 quarters, EIR 1.03^4 - 1
        (UnitPeriod.QUARTER, date(2024, 1, 15), date(2024, 4, 15), "1030", "12.0000", "12.5509"),
        # one year, 10 %
        (UnitPeriod.YEAR, date(2021, 1, 1), date(2022, 1, 1), "1100", "10.0000", "10.0000"),
        # seven days, 1 %: 52 weeks, EIR 1.01^52 - 1
        (UnitPeriod.WEEK, date(2024, 1, 1), date(2024, 1, 8), "1010", "52.0000", "67.7689"),
        # fourteen days, 2 %: 26 biweeks, EIR 1.02^26 - 1
        (UnitPeriod.BIWEEK, date(2024, 1, 1), date(2024, 1, 15), "1020", "52.0000", "67.3418"),
        # 28 days, 4 %: 13 four-week periods, EIR 1.04^13 - 1
        (UnitPeriod.FOUR_WEEKS, date(2024, 1, 1), date(2024, 1, 29), "1040", "52.0000", "66.5074"),
        # one day, 0.1 %: 365 days, EIR 1.001^365 - 1
        (UnitPeriod.DAY, date(2024, 1, 1), date(2024, 1, 2), "1001", "36.5000", "44.0251"),
    ],
)
def test_each_unit_period(unit, start, paid, amount, apr, eir):
    result = actuarial_rate([flow(start, "1000")], [flow(paid, amount)], unit)
    assert result.apr_percent == d(apr)
    assert result.eir_percent == d(eir)


def test_month_end_counts_back_over_month_ends():
    # 28 Feb 2019 is one whole month after 31 Jan 2019: 1000 -> 1010 is exactly 1 %.
    result = actuarial_rate([flow(date(2019, 1, 31), "1000")], [flow(date(2019, 2, 28), "1010")])
    assert result.periodic_rate == d("0.01000000")


@pytest.mark.parametrize(
    ("start", "paid"),
    [
        # Appendix J (b)(3)(iv): a series on the 29th or 30th uses the last day of February ...
        (date(2023, 1, 30), date(2023, 2, 28)),
        (date(2024, 1, 29), date(2024, 2, 29)),
        # ... and a date on the 30th is one month after the 30th, even when it ends its month
        (date(2024, 3, 30), date(2024, 4, 30)),
        # a month-end series runs month end to month end
        (date(2024, 4, 30), date(2024, 5, 31)),
    ],
)
def test_a_month_on_the_29th_30th_or_31st_is_a_whole_month(start, paid):
    result = actuarial_rate([flow(start, "1000")], [flow(paid, "1010")])
    assert result.periodic_rate == d("0.01000000")


def test_odd_days_are_simple_interest_over_thirty():
    # 31 Jan -> 15 Mar 2019: back one month is 15 Feb, then 15 days to 31 Jan: t = 1, f = 15/30.
    # At i = 1 %: 1000 x (1 + 0.5 x 0.01) x 1.01 = 1015.05, so that payment is exactly 1 %.
    result = actuarial_rate([flow(date(2019, 1, 31), "1000")], [flow(date(2019, 3, 15), "1015.05")])
    assert result.periodic_rate == d("0.01000000")


def test_year_unit_with_an_odd_month_fraction():
    # 1 Jan 2021 -> 1 Jul 2022: one whole year and 6 whole months, f = 6/12.
    # At i = 10 %: 1000 x (1 + 0.5 x 0.10) x 1.10 = 1155, so that payment is exactly 10 %.
    result = actuarial_rate(
        [flow(date(2021, 1, 1), "1000")], [flow(date(2022, 7, 1), "1155")], UnitPeriod.YEAR
    )
    assert result.periodic_rate == d("0.10000000")


def test_solve_rate_dispatches_on_the_method():
    advances, payments = [flow(date(2024, 1, 15), "100")], [flow(date(2024, 2, 15), "101")]
    assert solve_rate(AprMethod.ACTUARIAL, advances, payments).apr_percent == d("12.0000")
    # effective: X = 1.01^12 - 1 for one whole month
    assert solve_rate(AprMethod.EFFECTIVE, advances, payments).apr_percent == d("12.6825")


@pytest.mark.parametrize("method", [AprMethod.ACTUARIAL, AprMethod.EFFECTIVE])
def test_a_payment_cancelling_the_advance_on_its_day_costs_nothing(method):
    same_day = date(2024, 1, 15)
    result = solve_rate(method, [flow(same_day, "100")], [flow(same_day, "100")])
    assert result.apr_percent == d("0.0000")


def test_payments_equal_to_the_advance_cost_nothing():
    result = actuarial_rate([flow(date(2024, 1, 15), "100")], monthly(date(2024, 2, 15), 4, "25"))
    assert result.apr_percent == d("0.0000")
    assert result.eir_percent == d("0.0000")


@pytest.mark.parametrize(
    ("frequency", "unit"),
    [
        (Frequency.MONTHLY, UnitPeriod.MONTH),
        (Frequency.QUARTERLY, UnitPeriod.QUARTER),
        (Frequency.EVERY_4_WEEKS, UnitPeriod.FOUR_WEEKS),
        (Frequency.BIWEEKLY, UnitPeriod.BIWEEK),
        (Frequency.WEEKLY, UnitPeriod.WEEK),
    ],
)
def test_unit_period_for_each_frequency(frequency, unit):
    assert unit_period_for(frequency) is unit


# --- No solution: 422 naming the field ----------------------------------------------------------

START = date(2024, 1, 15)


@pytest.mark.parametrize(
    ("advances", "payments", "field"),
    [
        ([], [flow(START, "10")], "advances"),
        ([flow(START, "100")], [], "payments"),
        # payments worth less than the advances
        ([flow(START, "100")], [flow(date(2024, 2, 15), "99.99")], "payments"),
        # a payment before the first advance
        ([flow(START, "100")], [flow(date(2024, 1, 14), "50"), flow(date(2024, 2, 15), "60")], "payments"),
        ([flow(START, "0")], [flow(date(2024, 2, 15), "10")], "advances"),
        ([flow(START, "100")], [flow(date(2024, 2, 15), "-10"), flow(date(2024, 3, 15), "120")], "payments"),
        # more paid than lent, but all on the day of the advance: no rate can discount it
        ([flow(START, "100")], [flow(START, "110")], "payments"),
    ],
)
@pytest.mark.parametrize("method", [AprMethod.ACTUARIAL, AprMethod.EFFECTIVE])
def test_no_solution_is_refused_naming_the_field(advances, payments, field, method):
    with pytest.raises(InvalidInput) as caught:
        solve_rate(method, advances, payments)
    assert caught.value.code == "NO_RATE_SOLUTION"
    assert caught.value.field == field


def test_term_unit_needs_one_advance_and_one_payment():
    with pytest.raises(InvalidInput) as caught:
        actuarial_rate([flow(START, "100")], monthly(date(2024, 2, 15), 2, "60"), UnitPeriod.TERM)
    assert caught.value.field == "unit_period"
