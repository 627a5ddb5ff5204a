"""Tranches, the jurisdiction's warnings and the refusals of issue 3's schedule rules, on the
same small loan as test_schedule_rules.py: 1000 USD at 1 % per period, whose level installment
over 4 periods is PMT(1 %, 4, 1000) = 1000 x 0.01 / (1 - 1.01^-4) = 256.2811 -> 256.28.
"""

from datetime import date
from decimal import Decimal

import pytest

from loansvc.domain.errors import InvalidInput
from loansvc.domain.schedule import (
    CAMBODIA,
    Fee,
    FeeTiming,
    Frequency,
    InterestCalculation,
    InterestMethod,
    JurisdictionRules,
    LoanTerms,
    Tranche,
    build_schedule,
    simulate,
    validate_terms,
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


# --- Tranches -------------------------------------------------------------------------------------


def test_tranche_on_a_due_date_with_per_period_interest():
    # 1000 at 1 % a month over 6, disbursed 15 Jan; 500 more on 15 Mar (the 2nd due date).
    # PMT(1 %, 6, 1000) = 172.5484 -> 172.55: 162.55/10.00 (balance 837.45), 164.18/8.37 (673.27).
    # The tranche joins after installment 2: 1173.27, PMT(1 %, 4, 1173.27) = 300.6869 -> 300.69:
    # 288.96/11.73 (884.31), 291.85/8.84 (592.46), 294.77/5.92 (297.69), 297.69/2.98.
    loan = terms(
        term=6, disbursement_date=date(2024, 1, 15), tranches=(Tranche(date(2024, 3, 15), d("500")),)
    )
    schedule = build_schedule(loan)
    assert schedule.installment_amount == d("172.55")
    assert rows(schedule) == [
        ("162.55", "10.00"),
        ("164.18", "8.37"),
        ("288.96", "11.73"),
        ("291.85", "8.84"),
        ("294.77", "5.92"),
        ("297.69", "2.98"),
    ]
    assert schedule.installments[1].balance == d("673.27")  # the tranche joins after this installment
    assert schedule.total_principal == d("1500.00")
    advances, _ = schedule.cash_flows(loan)
    assert [(a.date, a.amount) for a in advances] == [
        (date(2024, 1, 15), d("1000")),
        (date(2024, 3, 15), d("500")),
    ]


def test_tranche_inside_a_period_with_daily_interest():
    # 1000 at 12 %, actual/365, disbursed 1 Jan 2023; 500 more on 21 Jan. Period 1 accrues
    # 1000 x 0.12 x 20/365 + 1500 x 0.12 x 11/365 = 4380/365 = 12.00. The level is recomputed from
    # installment 1: PMT(1 %, 3, 1500) = 510.0332 -> 510.03: 498.03/12.00 (balance 1001.97);
    # 28 days: 1001.97 x 0.12 x 28/365 = 9.2236 -> 9.22 and 500.81 (501.16);
    # 31 days: 501.16 x 0.12 x 31/365 = 5.1077 -> 5.11 and 501.16.
    loan = terms(
        term=3,
        disbursement_date=date(2023, 1, 1),
        interest_calculation=InterestCalculation.DAILY,
        tranches=(Tranche(date(2023, 1, 21), d("500")),),
    )
    schedule = build_schedule(loan)
    assert schedule.installment_amount == d("340.02")  # before the tranche: PMT(1 %, 3, 1000)
    assert rows(schedule) == [("498.03", "12.00"), ("500.81", "9.22"), ("501.16", "5.11")]
    assert simulate(loan).apr_percent > 0


# --- Warnings -------------------------------------------------------------------------------------


def codes(simulation) -> list[str]:
    return [w.code for w in simulation.warnings]


def test_flat_rate_is_simulated_with_a_warning():
    # 1000 flat at 1 % a month over 12: 83.33 + 10.00 = 93.33 a month; 1000/93.33 = 10.7147 is
    # a(12, i) at about i = 1.79 %, an APR near 21.5 %: above the cap as well
    simulation = simulate(terms(term=12, interest_method=InterestMethod.FLAT))
    assert codes(simulation) == ["APR_ABOVE_CAP", "FLAT_RATE_PROHIBITED"]
    assert d("21.2") < simulation.apr_percent < d("21.8")


def test_nominal_rate_above_the_cambodian_cap():
    assert codes(simulate(terms(annual_rate_percent=d("24")))) == ["NOMINAL_RATE_ABOVE_CAP", "APR_ABOVE_CAP"]


def test_at_the_cap_without_fees_there_is_no_warning():
    # 3000 at 18 % over 36 months: rounding moves the APR only in the third decimal
    simulation = simulate(terms(principal=d("3000"), annual_rate_percent=d("18"), term=36))
    assert codes(simulation) == []


def test_other_jurisdictions_configure_the_rules():
    relaxed = JurisdictionRules(name="XX", rate_cap_percent=None, flat_rate_prohibited=False)
    assert (
        codes(simulate(terms(annual_rate_percent=d("30"), interest_method=InterestMethod.FLAT), relaxed))
        == []
    )
    strict = JurisdictionRules(name="YY", rate_cap_percent=d("10"))
    assert codes(simulate(terms(), strict)) == ["NOMINAL_RATE_ABOVE_CAP", "APR_ABOVE_CAP"]
    assert CAMBODIA.rate_cap_percent == d("18")


# --- Validation: 422 naming the field -------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"principal": d("0")}, "principal"),
        ({"principal": d("-5")}, "principal"),
        ({"principal": d("10.005")}, "principal"),
        ({"currency": "XYZ"}, "currency"),
        ({"annual_rate_percent": d("-1")}, "annual_rate_percent"),
        ({"term": 0}, "term"),
        ({"grace_principal_periods": -1}, "grace_principal_periods"),
        ({"grace_principal_periods": 4}, "grace_principal_periods"),
        ({"grace_interest_periods": -1}, "grace_interest_periods"),
        ({"grace_interest_periods": 4}, "grace_interest_periods"),
        ({"interest_free_periods": -1}, "interest_free_periods"),
        ({"interest_free_periods": 5}, "interest_free_periods"),
        ({"installment_multiple": d("0")}, "installment_multiple"),
        ({"installment_multiple": d("-1")}, "installment_multiple"),
        ({"installment_multiple": d("0.001")}, "installment_multiple"),
        ({"first_repayment_date": date(2024, 1, 30)}, "first_repayment_date"),
        ({"tranches": (Tranche(date(2024, 2, 29), d("0")),)}, "tranches[0].amount"),
        ({"tranches": (Tranche(date(2024, 1, 30), d("100")),)}, "tranches[0].date"),
        ({"tranches": (Tranche(date(2024, 6, 1), d("100")),)}, "tranches[0].date"),
        # on the last due date nothing would be left to repay it
        ({"tranches": (Tranche(date(2024, 5, 31), d("100")),)}, "tranches[0].date"),
        # per_period interest: a tranche must be on the disbursement date or a due date
        (
            {"tranches": (Tranche(date(2024, 2, 29), d("100")), Tranche(date(2024, 3, 1), d("100")))},
            "tranches[1].date",
        ),
        (
            {"interest_method": InterestMethod.FLAT, "tranches": (Tranche(date(2024, 2, 29), d("1")),)},
            "tranches",
        ),
        ({"fees": (Fee("x", FeeTiming.UPFRONT),)}, "fees[0]"),
        ({"fees": (Fee("x", FeeTiming.UPFRONT, amount=d("1"), percent=d("1")),)}, "fees[0]"),
        ({"fees": (Fee("x", FeeTiming.PER_INSTALLMENT, amount=d("-1")),)}, "fees[0].amount"),
        ({"fees": (Fee("x", FeeTiming.PER_INSTALLMENT, percent=d("-1")),)}, "fees[0].percent"),
        (
            {
                "fees": (
                    Fee("x", FeeTiming.UPFRONT, amount=d("600")),
                    Fee("y", FeeTiming.UPFRONT, percent=d("40")),
                )
            },
            "fees",
        ),
        ({"frequency": "daily"}, "frequency"),
        ({"interest_method": "compound"}, "interest_method"),
    ],
)
def test_bad_terms_are_refused_naming_the_field(changes, field):
    with pytest.raises(InvalidInput) as caught:
        validate_terms(terms(**changes))
    assert caught.value.field == field
    with pytest.raises(InvalidInput):
        build_schedule(terms(**changes))


def test_a_daily_tranche_may_fall_between_due_dates():
    validate_terms(terms(interest_calculation="daily", tranches=(Tranche(date(2024, 3, 1), d("100")),)))


def test_a_tranche_off_a_due_date_has_its_own_code():
    with pytest.raises(InvalidInput) as caught:
        validate_terms(terms(tranches=(Tranche(date(2024, 3, 1), d("100")),)))
    assert caught.value.code == "TRANCHE_OFF_DUE_DATE"
