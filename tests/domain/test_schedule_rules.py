"""Each schedule rule of issue 3 on a small loan whose figures are worked out in the comments:
frequencies, day counts, due-date anchoring, grace, multiples and rounding, KHR, fees.
Tranches, the jurisdiction's warnings and the refusals are in test_schedule_validation.py.

Most cases lend 1000 USD at 1 % per period, so the level installment over 4 periods is
PMT(1 %, 4, 1000) = 1000 x 0.01 / (1 - 1.01^-4) = 256.2811 -> 256.28.
"""

from datetime import date
from decimal import Decimal

import pytest

from loansvc.domain.dates import days_30_360
from loansvc.domain.schedule import (
    Amortization,
    DayCount,
    Fee,
    FeeTiming,
    Frequency,
    InterestCalculation,
    InterestMethod,
    LoanTerms,
    Rounding,
    build_schedule,
    monthly_equivalent_factor,
    simulate,
)


def d(text: str) -> Decimal:
    return Decimal(text)


def terms(**changes) -> LoanTerms:
    fields = dict(
        principal=d("1000"),
        currency="USD",
        annual_rate_percent=d("12"),
        term=4,
        frequency=Frequency.MONTHLY,
        disbursement_date=date(2024, 1, 31),
    )
    fields.update(changes)
    return LoanTerms(**fields)


def rows(schedule) -> list[tuple[str, str]]:
    return [(f"{i.principal}", f"{i.interest}") for i in schedule.installments]


def dues(schedule) -> list[date]:
    return [i.due_date for i in schedule.installments]


# 1 % a period, balance after each: 753.72, 504.98, 253.75; interest 7.5372 -> 7.54, 5.0498 -> 5.05,
# 2.5375 -> 2.54; the last installment is 253.75 + 2.54 = 256.29.
ONE_PERCENT_ROWS = [("246.28", "10.00"), ("248.74", "7.54"), ("251.23", "5.05"), ("253.75", "2.54")]


@pytest.mark.parametrize(
    ("frequency", "rate", "expected_dues"),
    [
        # months from one anchor, clamped: 31 Jan -> 29 Feb (2024), 31 Mar, 30 Apr, 31 May
        (Frequency.MONTHLY, "12", ["2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31"]),
        (Frequency.QUARTERLY, "4", ["2024-04-30", "2024-07-31", "2024-10-31", "2025-01-31"]),
        # weeks are 7-day steps: 28, 14 and 7 days
        (Frequency.EVERY_4_WEEKS, "13", ["2024-02-28", "2024-03-27", "2024-04-24", "2024-05-22"]),
        (Frequency.BIWEEKLY, "26", ["2024-02-14", "2024-02-28", "2024-03-13", "2024-03-27"]),
        (Frequency.WEEKLY, "52", ["2024-02-07", "2024-02-14", "2024-02-21", "2024-02-28"]),
    ],
)
def test_each_frequency_divides_the_annual_rate_by_its_periods_per_year(frequency, rate, expected_dues):
    # 12 %/12 = 4 %/4 = 13 %/13 = 26 %/26 = 52 %/52 = 1 % a period
    schedule = build_schedule(terms(frequency=frequency, annual_rate_percent=d(rate)))
    assert schedule.installment_amount == d("256.28")
    assert rows(schedule) == ONE_PERCENT_ROWS
    assert dues(schedule) == [date.fromisoformat(x) for x in expected_dues]


@pytest.mark.parametrize(
    ("frequency", "factor"),
    [
        (Frequency.MONTHLY, Decimal(1)),
        (Frequency.QUARTERLY, Decimal(4) / Decimal(12)),
        (Frequency.EVERY_4_WEEKS, Decimal(13) / Decimal(12)),
        (Frequency.BIWEEKLY, Decimal(26) / Decimal(12)),
        (Frequency.WEEKLY, Decimal(52) / Decimal(12)),
    ],
)
def test_monthly_equivalent_factor(frequency, factor):
    assert abs(monthly_equivalent_factor(frequency) - factor) < d("1e-25")


# Daily interest, 1000 at 12 % disbursed 31 Jan 2024, due 29 Feb (29 days) and 31 Mar (31 days).
# The level installment is still PMT(1 %, 2, 1000) = 507.5124 -> 507.51.
@pytest.mark.parametrize(
    ("day_count", "expected"),
    [
        # 1000 x 0.12 x 29/365 = 9.5342 -> 9.53; 502.02 x 0.12 x 31/365 = 5.1165 -> 5.12
        (DayCount.ACTUAL_365, [("497.98", "9.53"), ("502.02", "5.12")]),
        # 1000 x 0.12 x 29/360 = 9.6667 -> 9.67; 502.16 x 0.12 x 31/360 = 5.1890 -> 5.19
        (DayCount.ACTUAL_360, [("497.84", "9.67"), ("502.16", "5.19")]),
        # 2024 is a leap year: 1000 x 0.12 x 29/366 = 9.5082 -> 9.51; 502.00 x 0.12 x 31/366 = 5.1023 -> 5.10
        (DayCount.ACTUAL_ACTUAL, [("498.00", "9.51"), ("502.00", "5.10")]),
        # bond basis: 31 Jan -> 29 Feb is 30 - 1 = 29 days; 29 Feb -> 31 Mar keeps the 31st
        # (the start is not the 30th or 31st): 30 + 2 = 32 days; 502.16 x 0.12 x 32/360 = 5.3564 -> 5.36
        (DayCount.THIRTY_360, [("497.84", "9.67"), ("502.16", "5.36")]),
    ],
)
def test_each_day_count(day_count, expected):
    schedule = build_schedule(
        terms(term=2, interest_calculation=InterestCalculation.DAILY, day_count=day_count)
    )
    assert schedule.installment_amount == d("507.51")
    assert rows(schedule) == expected


def test_actual_actual_weighs_each_day_by_its_own_year():
    # 15 Dec 2023 -> 15 Jan 2024: 17 days of 2023 over 365 and 14 days of 2024 over 366:
    # 1000 x 0.12 x (17/365 + 14/366) = 10.1792 -> 10.18
    schedule = build_schedule(
        terms(
            term=1,
            disbursement_date=date(2023, 12, 15),
            interest_calculation=InterestCalculation.DAILY,
            day_count=DayCount.ACTUAL_ACTUAL,
        )
    )
    assert rows(schedule) == [("1000.00", "10.18")]


def test_thirty_360_us_bond_basis():
    assert days_30_360(date(2024, 1, 31), date(2024, 2, 29)) == 29
    assert days_30_360(date(2024, 2, 29), date(2024, 3, 31)) == 32
    # a 31st end becomes the 30th when the start is the 30th or 31st
    assert days_30_360(date(2024, 3, 30), date(2024, 3, 31)) == 0
    assert days_30_360(date(2024, 3, 31), date(2024, 4, 30)) == 30
    assert days_30_360(date(2024, 1, 31), date(2024, 3, 31)) == 60


def test_daily_interest_counts_a_long_first_period():
    # first repayment 60 days after disbursement: 1000 x 0.12 x 60/365 = 19.7260 -> 19.73
    schedule = build_schedule(
        terms(
            disbursement_date=date(2024, 1, 1),
            first_repayment_date=date(2024, 3, 1),
            interest_calculation=InterestCalculation.DAILY,
        )
    )
    assert schedule.installments[0].interest == d("19.73")


def test_per_period_interest_ignores_the_calendar():
    # 21 days to the first due date, still a full 1 % period: 10.00
    schedule = build_schedule(
        terms(disbursement_date=date(2024, 1, 10), first_repayment_date=date(2024, 1, 31))
    )
    assert schedule.installments[0].interest == d("10.00")
    assert rows(schedule) == ONE_PERCENT_ROWS


# --- Due-date anchoring --------------------------------------------------------------------------


def test_due_dates_are_never_chained_over_month_ends():
    # 31 Jan 2024 -> 29 Feb, then back to 31 Mar (not 29 Mar), 30 Apr, 31 May
    assert dues(build_schedule(terms())) == [
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
        date(2024, 5, 31),
    ]
    # not a leap year: 28 Feb
    assert dues(build_schedule(terms(term=2, disbursement_date=date(2023, 1, 31)))) == [
        date(2023, 2, 28),
        date(2023, 3, 31),
    ]


def test_first_repayment_date_is_the_anchor():
    # disbursed 10 Jan, first due 31 Jan: then 29 Feb, 31 Mar, 30 Apr (k-1 months after the anchor)
    schedule = build_schedule(
        terms(disbursement_date=date(2024, 1, 10), first_repayment_date=date(2024, 1, 31))
    )
    assert dues(schedule) == [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30)]
    # the anchor's own day is kept: anchored on 29 Feb, the next ones are the 29th
    schedule = build_schedule(terms(term=3, first_repayment_date=date(2024, 2, 29)))
    assert dues(schedule) == [date(2024, 2, 29), date(2024, 3, 29), date(2024, 4, 29)]


# --- Grace ----------------------------------------------------------------------------------------


def test_principal_grace():
    # installment 1 is interest only (10.00); PMT(1 %, 3, 1000) = 340.0221 -> 340.02 then:
    # 330.02/10.00, balance 669.98 -> 6.70 and 333.32, balance 336.66 -> 3.37 and 336.66
    schedule = build_schedule(terms(grace_principal_periods=1))
    assert schedule.installment_amount == d("340.02")
    assert rows(schedule) == [("0.00", "10.00"), ("330.02", "10.00"), ("333.32", "6.70"), ("336.66", "3.37")]
    assert schedule.installments[0].balance == d("1000.00")


def test_interest_payment_grace_defers_interest_without_compounding():
    # installment 1 shows no interest but accrues 10.00; its principal is still 256.28 - 10.00;
    # installment 2 carries its own 7.54 plus the deferred 10.00
    schedule = build_schedule(terms(grace_interest_periods=1))
    assert rows(schedule) == [("246.28", "0.00"), ("248.74", "17.54"), ("251.23", "5.05"), ("253.75", "2.54")]
    assert [i.total for i in schedule.installments[:2]] == [d("246.28"), d("266.28")]
    assert schedule.total_interest == d("25.13")


def test_interest_free_periods_accrue_nothing():
    # the level stays 256.28, all principal in period 1; balance 743.72 -> 7.44 and 248.84,
    # balance 494.88 -> 4.95 and 251.33, balance 243.55 -> 2.44: the last is smaller, 245.99
    schedule = build_schedule(terms(interest_free_periods=1))
    assert rows(schedule) == [("256.28", "0.00"), ("248.84", "7.44"), ("251.33", "4.95"), ("243.55", "2.44")]
    assert schedule.installments[-1].total == d("245.99")


def test_principal_and_interest_grace_together_leave_an_empty_first_installment():
    # period 1: no principal (principal grace), its 10.00 deferred (interest grace) -> total 0
    schedule = build_schedule(terms(grace_principal_periods=1, grace_interest_periods=1))
    first, second = schedule.installments[:2]
    assert (first.principal, first.interest, first.total) == (d("0.00"), d("0.00"), d("0.00"))
    # installment 2: 340.02 - 10.00 of principal, 10.00 + 10.00 of interest
    assert (second.principal, second.interest) == (d("330.02"), d("20.00"))


def test_flat_with_interest_free_periods():
    # RS01's inputs (5000 EUR, 12 %, 18 months, multiple 1) with 2 interest-free periods: total
    # interest 5000 x 1 % x 16 = 800.00; installments 1-2 are the level 328 all principal, 3-17 are
    # 278/50, the last takes 5000 - 2 x 328 - 15 x 278 = 174 and 800 - 15 x 50 = 50.
    schedule = build_schedule(_rs01(interest_free_periods=2))
    assert rows(schedule) == [("328.00", "0.00")] * 2 + [("278.00", "50.00")] * 15 + [("174.00", "50.00")]
    assert schedule.total_interest == d("800.00")


def test_flat_with_principal_grace():
    # level over 16: 5000/16 + 50 = 362.50 -> 362 (half-even tie); 2 x 0/50, 15 x 312/50,
    # the last 5000 - 15 x 312 = 320 and 50; total interest 18 x 50 = 900
    schedule = build_schedule(_rs01(grace_principal_periods=2))
    assert schedule.installment_amount == d("362.00")
    assert rows(schedule) == [("0.00", "50.00")] * 2 + [("312.00", "50.00")] * 15 + [("320.00", "50.00")]


def _rs01(**changes) -> LoanTerms:
    return terms(
        principal=d("5000"),
        currency="EUR",
        term=18,
        disbursement_date=date(2022, 11, 1),
        interest_method=InterestMethod.FLAT,
        installment_multiple=d("1"),
        **changes,
    )


# --- Multiples and rounding -----------------------------------------------------------------------


def test_installment_multiple_of_five():
    # 256.28 / 5 = 51.256 -> 51 x 5 = 255.00; 245.00/10.00, balance 755.00 -> 7.55 and 247.45,
    # balance 507.55 -> 5.0755 -> 5.08 and 249.92, balance 257.63 -> 2.5763 -> 2.58
    schedule = build_schedule(terms(installment_multiple=d("5")))
    assert schedule.installment_amount == d("255.00")
    assert rows(schedule) == [("245.00", "10.00"), ("247.45", "7.55"), ("249.92", "5.08"), ("257.63", "2.58")]


def test_half_up_rounding_on_the_fineract_1250_case():
    # 1250 x 1.25 % = 15.625 -> 15.63 half-up (15.62 half-even); then 943.63 x 1.25 % = 11.795375
    # -> 11.80, 633.43 -> 7.917875 -> 7.92, 319.35 -> 3.991875 -> 3.99: last total 323.34
    schedule = build_schedule(
        terms(
            principal=d("1250"),
            annual_rate_percent=d("15"),
            installment_multiple=d("1"),
            rounding=Rounding.HALF_UP,
        )
    )
    assert rows(schedule) == [
        ("306.37", "15.63"),
        ("310.20", "11.80"),
        ("314.08", "7.92"),
        ("319.35", "3.99"),
    ]


@pytest.mark.parametrize(
    ("rounding", "level", "last"),
    [
        # 1002 / 4 = 250.50 exactly: a tie at a multiple of 1
        (Rounding.HALF_EVEN, "250.00", "252.00"),
        (Rounding.HALF_UP, "251.00", "249.00"),
    ],
)
def test_both_rounding_modes_on_an_installment_tie_at_zero_rate(rounding, level, last):
    schedule = build_schedule(
        terms(principal=d("1002"), annual_rate_percent=d("0"), installment_multiple=d("1"), rounding=rounding)
    )
    assert schedule.installment_amount == d(level)
    assert [i.total for i in schedule.installments] == [d(level)] * 3 + [d(last)]
    assert schedule.total_interest == 0


def test_khr_has_no_minor_unit():
    # 4 000 000 riel at 18 % (1.5 % a month) over 12: PMT = 366 719.97 -> 366 720 riel -> 366 700 at a
    # multiple of 100. Interest 60 000, principal 306 700, balance 3 693 300; then 3 693 300 x 1.5 % =
    # 55 399.5, a tie -> 55 400 (even); principal 311 300.
    schedule = build_schedule(
        terms(
            principal=d("4000000"),
            currency="KHR",
            annual_rate_percent=d("18"),
            term=12,
            installment_multiple=d("100"),
        )
    )
    assert schedule.installment_amount == d("366700")
    assert rows(schedule)[:2] == [("306700", "60000"), ("311300", "55400")]
    assert schedule.total_principal == d("4000000")
    assert all(i.total == i.total.to_integral_value() for i in schedule.installments)


def test_equal_principal_ignores_the_installment_multiple():
    # 1000 / 4 = 250.00 a month whatever the multiple; interest 10.00, 7.50, 5.00, 2.50
    schedule = build_schedule(terms(amortization=Amortization.EQUAL_PRINCIPAL, installment_multiple=d("7")))
    assert rows(schedule) == [("250.00", "10.00"), ("250.00", "7.50"), ("250.00", "5.00"), ("250.00", "2.50")]


# --- Fees -----------------------------------------------------------------------------------------


def test_fees_of_both_timings():
    # 2 % upfront of 1000 = 20.00 withheld; 1.50 added to each of 12 installments.
    # Interest is untouched: PMT(1 %, 12, 1000) = 88.8488 -> 88.85, so each total is 90.35.
    loan = terms(
        term=12,
        fees=(
            Fee("admin", FeeTiming.UPFRONT, percent=d("2")),
            Fee("service", FeeTiming.PER_INSTALLMENT, amount=d("1.50")),
        ),
    )
    schedule = build_schedule(loan)
    plain = build_schedule(terms(term=12))
    assert [i.interest for i in schedule.installments] == [i.interest for i in plain.installments]
    assert schedule.installments[0].fees == d("1.50")
    assert schedule.installments[0].total == d("90.35")
    assert schedule.upfront_fees == d("20.00")
    assert schedule.total_fees == d("38.00")  # 20.00 + 12 x 1.50
    assert schedule.total == plain.total + d("38.00")
    advances, payments = schedule.cash_flows(loan)
    assert [(a.date, a.amount) for a in advances] == [(date(2024, 1, 31), d("980.00"))]
    assert len(payments) == 12 and payments[0].amount == d("90.35")
    # 980 = 90.35 x a(12, i): a = 10.8467 lies between a(12, 1.5 %) = 10.9075 and a(12, 1.6 %) = 10.8399,
    # so i is about 1.59 % and the APR about 19.1 %: above the cap, though the nominal rate is 12 %
    simulation = simulate(loan)
    assert d("18.8") < simulation.apr_percent < d("19.4")
    assert [w.code for w in simulation.warnings] == ["APR_ABOVE_CAP"]


@pytest.mark.parametrize(("rounding", "fee"), [(Rounding.HALF_EVEN, "12.62"), (Rounding.HALF_UP, "12.63")])
def test_percent_fees_round_with_the_terms_rounding(rounding, fee):
    # 1.01 % of 1250 = 12.625, a tie
    schedule = build_schedule(
        terms(
            principal=d("1250"), rounding=rounding, fees=(Fee("admin", FeeTiming.UPFRONT, percent=d("1.01")),)
        )
    )
    assert schedule.upfront_fees == d(fee)
