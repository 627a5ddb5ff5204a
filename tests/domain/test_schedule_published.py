"""The published schedules of the reference loan systems, reproduced to the cent.

Sources are in ../shared/reference/public-cases.md; each case names its own below.
"""

from datetime import date
from decimal import Decimal

from loansvc.domain.schedule import (
    Amortization,
    Frequency,
    InterestMethod,
    LoanTerms,
    build_schedule,
    simulate,
)


def d(text: str) -> Decimal:
    return Decimal(text)


def fineract_terms(**changes) -> LoanTerms:
    """The shared inputs of the Fineract cases: 5000 EUR at 12 %/year, 18 monthly, due on the 1st."""
    fields = dict(
        principal=d("5000"),
        currency="EUR",
        annual_rate_percent=d("12"),
        term=18,
        frequency=Frequency.MONTHLY,
        disbursement_date=date(2022, 11, 1),
        first_repayment_date=date(2022, 12, 1),
    )
    fields.update(changes)
    return LoanTerms(**fields)


def split(schedule) -> list[tuple[Decimal, Decimal]]:
    return [(i.principal, i.interest) for i in schedule.installments]


def pairs(text: str) -> list[tuple[Decimal, Decimal]]:
    return [(d(p), d(i)) for p, i in (pair.split("/") for pair in text.split())]


# Source: apache/fineract, fineract-e2e-tests-runner/src/test/resources/features/LoanRepayment.feature
# (RS02: declining balance, equal installments, rounded to a multiple of 1).
RS02 = pairs(
    "255.00/50.00 257.55/47.45 260.13/44.87 262.73/42.27 265.35/39.65 268.01/36.99 "
    "270.69/34.31 273.39/31.61 276.13/28.87 278.89/26.11 281.68/23.32 284.50/20.50 "
    "287.34/17.66 290.21/14.79 293.12/11.88 296.05/8.95 299.01/5.99 300.22/3.00"
)


def test_rs02_declining_balance_equal_installments_multiple_of_one():
    # Source: Fineract LoanRepayment.feature, RS02.
    schedule = build_schedule(fineract_terms(installment_multiple=d("1")))
    # the raw PMT 304.91 rounds to 305.00 at a multiple of 1
    assert schedule.installment_amount == d("305.00")
    assert split(schedule) == RS02
    assert [i.total for i in schedule.installments[:17]] == [d("305.00")] * 17
    # the last installment clears the balance: 300.22 + 3.00
    assert schedule.installments[-1].total == d("303.22")
    assert schedule.total_interest == d("488.22")
    assert schedule.total_principal == d("5000.00")
    assert schedule.installments[-1].balance == d("0.00")
    # due on the 1st of each month from 2022-12-01
    assert schedule.installments[0].due_date == date(2022, 12, 1)
    assert schedule.installments[-1].due_date == date(2024, 5, 1)


def test_rs02_without_the_explicit_first_repayment_date_is_the_same():
    # Source: Fineract RS02; disbursed on the 1st, one month later is the 1st again.
    schedule = build_schedule(fineract_terms(installment_multiple=d("1"), first_repayment_date=None))
    assert split(schedule) == RS02


def test_rs02_simulation_matches_the_response_published_in_the_spec():
    # Source: issue 3, "Response 200" of POST /v1/schedules/simulate, which shows RS02
    # (installment 305.00, first row 255.00/50.00, total interest 488.22) with
    # apr_percent 11.9996 and eir_percent 12.6820.
    simulation = simulate(fineract_terms(installment_multiple=d("1")))
    assert simulation.apr_percent == d("11.9996")
    assert simulation.eir_percent == d("12.6820")
    assert simulation.schedule.total == d("5488.22")
    assert simulation.warnings == ()


def test_rs01_flat_multiple_of_one():
    # Source: Fineract LoanRepayment.feature, RS01 (flat, same inputs, multiple of 1).
    # Interest per period: 5000 x 1 % = 50.00; installment 5000/18 + 50 = 327.78 -> 328.
    schedule = build_schedule(
        fineract_terms(interest_method=InterestMethod.FLAT, installment_multiple=d("1"))
    )
    assert split(schedule) == [(d("278.00"), d("50.00"))] * 17 + [(d("274.00"), d("50.00"))]
    assert schedule.total_interest == d("900.00")
    assert schedule.installment_amount == d("328.00")


def test_rs04_equal_principal():
    # Source: Fineract LoanRepayment.feature, RS04 (equal principal, no multiple).
    schedule = build_schedule(fineract_terms(amortization=Amortization.EQUAL_PRINCIPAL))
    principal = [d("277.78")] * 17 + [d("277.74")]
    interest = [
        d("50.00"), d("47.22"), d("44.44"), d("41.67"), d("38.89"), d("36.11"),
        d("33.33"), d("30.56"), d("27.78"), d("25.00"), d("22.22"), d("19.44"),
        d("16.67"), d("13.89"), d("11.11"), d("8.33"), d("5.56"), d("2.78"),
    ]  # fmt: skip
    assert [i.principal for i in schedule.installments] == principal
    assert [i.interest for i in schedule.installments] == interest
    assert schedule.total_interest == d("475.00")
    # equal principal has no level installment
    assert schedule.installment_amount is None


def test_1250_at_15_percent_over_4_months_multiple_of_one():
    # Source: Fineract LoanRepayment.feature (declining balance, equal installments, multiple of 1):
    # 1250 at 15 %/year, 4 monthly, disbursed 2023-09-01. Half-even: 15.625 -> 15.62.
    terms = LoanTerms(
        principal=d("1250"),
        currency="EUR",
        annual_rate_percent=d("15"),
        term=4,
        frequency=Frequency.MONTHLY,
        disbursement_date=date(2023, 9, 1),
        installment_multiple=d("1"),
    )
    schedule = build_schedule(terms)
    assert split(schedule) == pairs("306.38/15.62 310.20/11.80 314.08/7.92 319.34/3.99")
    assert schedule.installments[0].total == d("322.00")
    assert schedule.installments[-1].total == d("323.33")
    assert schedule.total_interest == d("39.33")


def test_numpy_financial_2500_at_8_24_percent_first_installment():
    # Source: numpy-financial documentation: 2500 at 8.24 %/year over 12 monthly periods,
    # first installment principal 200.58, interest 17.17.
    terms = LoanTerms(
        principal=d("2500"),
        currency="USD",
        annual_rate_percent=d("8.24"),
        term=12,
        frequency=Frequency.MONTHLY,
        disbursement_date=date(2024, 1, 15),
    )
    first = build_schedule(terms).installments[0]
    assert (first.principal, first.interest) == (d("200.58"), d("17.17"))


def test_numpy_financial_pmt_200000_at_7_5_percent_over_180_months():
    # Source: numpy-financial documentation: pmt(0.075/12, 180, 200000) = -1854.0247200054619,
    # so the level installment in cents is 1854.02.
    terms = LoanTerms(
        principal=d("200000"),
        currency="USD",
        annual_rate_percent=d("7.5"),
        term=180,
        frequency=Frequency.MONTHLY,
        disbursement_date=date(2024, 1, 15),
    )
    schedule = build_schedule(terms)
    assert schedule.installment_amount == d("1854.02")
    # first month's interest: 200000 x 0.075 / 12 = 1250.00
    assert schedule.installments[0].interest == d("1250.00")
    assert schedule.total_principal == d("200000.00")
