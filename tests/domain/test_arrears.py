"""Arrears as a loan officer meets them: days past due, overdue amounts, aging buckets, the NBC
classes on both tables with their provisions, every edge of every table checked on both sides.

NBC table (../shared/domain.md):   term <= 1 year   term > 1 year   provision
  normal                            0-14             0-29            1 %
  special mention                   15-30            30-89           3 %
  substandard                       31-60            90-179          20 %
  doubtful                          61-90            180-359         50 %
  loss                              91+              360+            100 %
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loansvc.domain.arrears import (
    BUCKETS,
    CLASSES,
    DEFAULT_ARREARS_POLICY,
    ArrearsPolicy,
    Owed,
    aging_bucket,
    at_risk,
    classify,
    days_past_due,
    loan_arrears,
    overdue_amount,
    provision,
    term_in_months,
)
from loansvc.domain.errors import InvalidInput
from loansvc.domain.repayments import Due, Payment, allocate, remaining_principal, states_as_of


def d(text: str) -> Decimal:
    return Decimal(text)


# Mr Dara's 1,200.00 USD loan over 24 months (the long-term table), on the 10th of each month.
DARA = (
    # #1 paid in full: 45.00 + 18.00
    Owed(
        1,
        date(2024, 1, 10),
        d("45.00"),
        d("18.00"),
        d("0.00"),
        principal_paid=d("45.00"),
        interest_paid=d("18.00"),
    ),
    # #2 partly paid: interest 17.32 and 20.00 of its 45.68 principal, so 25.68 still owed
    Owed(
        2,
        date(2024, 2, 10),
        d("45.68"),
        d("17.32"),
        d("0.00"),
        principal_paid=d("20.00"),
        interest_paid=d("17.32"),
    ),
    # #3 nothing paid, and a 2.00 late fee charged on it
    Owed(3, date(2024, 3, 10), d("46.36"), d("16.64"), d("0.00"), penalty_due=d("2.00")),
    # #4 and #5 nothing paid
    Owed(4, date(2024, 4, 10), d("47.06"), d("15.94"), d("0.00")),
    Owed(5, date(2024, 5, 10), d("47.77"), d("15.23"), d("0.00")),
)
DARA_OUTSTANDING = d("1135.00")  # 1200.00 - 45.00 - 20.00


def test_dara_two_months_behind_is_special_mention():
    arrears = loan_arrears(DARA, DARA_OUTSTANDING, 24, "USD", date(2024, 4, 10))
    # #2 is the oldest installment with something unpaid: 10 Feb -> 10 Apr 2024 is
    # 19 days left of February (a leap year: 29 days) + 31 of March + 10 of April = 60 days.
    # #4 falls due on 10 April itself, so it is not late yet.
    assert arrears.days_past_due == 60
    assert arrears.bucket == "31-60"
    assert arrears.classification == "special_mention"  # 30-89 on the long-term table
    # overdue: principal 25.68 + 46.36 = 72.04, interest 16.64, late fee 2.00 -> 90.68
    assert arrears.overdue_principal == d("72.04")
    assert arrears.overdue_interest == d("16.64")
    assert arrears.overdue_fees == 0
    assert arrears.overdue_penalty == d("2.00")
    assert arrears.overdue_amount == d("90.68")
    # 3 % of 1,135.00 = 34.05
    assert arrears.provision_percent == 3
    assert arrears.provision == d("34.05")
    assert arrears.non_performing is False


def test_dara_a_month_later_is_substandard_and_non_performing():
    arrears = loan_arrears(DARA, DARA_OUTSTANDING, 24, "USD", date(2024, 5, 10))
    # 60 days + the 30 of April = 90
    assert arrears.days_past_due == 90
    assert arrears.bucket == "61-90"
    assert arrears.classification == "substandard"  # 90-179 on the long-term table
    # #4 is now late too: principal 72.04 + 47.06 = 119.10, interest 16.64 + 15.94 = 32.58,
    # + the 2.00 late fee = 153.68; #5, due that day, is not yet late
    assert (arrears.overdue_principal, arrears.overdue_interest) == (d("119.10"), d("32.58"))
    assert arrears.overdue_amount == d("153.68")
    assert arrears.provision == d("227.00")  # 20 % of 1,135.00
    assert arrears.non_performing is True  # 90 days: NBC's 90+


def test_the_same_arrears_on_a_one_year_loan_are_graded_on_the_short_term_table():
    # 60 days: substandard (31-60), 20 % of 1,135.00 = 227.00
    sixty = loan_arrears(DARA, DARA_OUTSTANDING, 12, "USD", date(2024, 4, 10))
    assert (sixty.classification, sixty.provision) == ("substandard", d("227.00"))
    # 90 days: doubtful (61-90), 50 % of 1,135.00 = 567.50
    ninety = loan_arrears(DARA, DARA_OUTSTANDING, 12, "USD", date(2024, 5, 10))
    assert (ninety.classification, ninety.provision) == ("doubtful", d("567.50"))


def test_days_past_due_starts_the_day_after_the_due_date():
    owed = [Owed(1, date(2024, 3, 15), d("100.00"), d("3.00"), d("0.00"))]
    assert days_past_due(owed, date(2024, 3, 14)) == 0
    assert days_past_due(owed, date(2024, 3, 15)) == 0  # due today: can still be paid today
    assert days_past_due(owed, date(2024, 3, 16)) == 1
    assert days_past_due(owed, date(2024, 4, 14)) == 30  # 16 days of March + 14 of April
    assert overdue_amount(owed, date(2024, 3, 15)) == 0
    assert overdue_amount(owed, date(2024, 3, 16)) == d("103.00")
    # across 29 February 2024: 28 Feb -> 1 Mar is 2 days
    leap = [Owed(1, date(2024, 2, 28), d("1.00"), d("0"), d("0"))]
    assert days_past_due(leap, date(2024, 3, 1)) == 2


def test_a_late_but_fully_paid_installment_no_longer_counts():
    owed = [
        Owed(
            1,
            date(2024, 1, 10),
            d("50.00"),
            d("5.00"),
            d("0"),
            principal_paid=d("50.00"),
            interest_paid=d("5.00"),
        ),
        Owed(
            2,
            date(2024, 2, 10),
            d("50.00"),
            d("4.00"),
            d("0"),
            interest_paid=d("4.00"),
            principal_paid=d("49.99"),
        ),
    ]
    # one cent left on #2 keeps it late: 10 Feb -> 1 Mar 2024 = 20 days
    assert days_past_due(owed, date(2024, 3, 1)) == 20
    assert overdue_amount(owed, date(2024, 3, 1)) == d("0.01")
    with pytest.raises(InvalidInput) as caught:
        days_past_due(
            [Owed(1, date(2024, 1, 10), d("1.00"), d("0"), d("0"), principal_paid=d("2.00"))],
            date(2024, 2, 1),
        )
    assert caught.value.code == "OVERPAID_INSTALLMENT"


@pytest.mark.parametrize(
    ("dpd", "bucket"),
    [
        (0, "current"),
        (1, "1-30"),
        (30, "1-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "91-180"),
        (180, "91-180"),
        (181, "181-365"),
        (365, "181-365"),
        (366, "365+"),
        (5000, "365+"),
    ],
)
def test_aging_bucket_edges(dpd, bucket):
    assert aging_bucket(dpd) == bucket


@pytest.mark.parametrize(
    ("dpd", "klass"),
    [
        (0, "normal"),
        (14, "normal"),
        (15, "special_mention"),
        (30, "special_mention"),
        (31, "substandard"),
        (60, "substandard"),
        (61, "doubtful"),
        (90, "doubtful"),
        (91, "loss"),
        (400, "loss"),
    ],
)
def test_short_term_table_edges(dpd, klass):
    assert classify(dpd, 12) == klass
    assert classify(dpd, 6) == klass


@pytest.mark.parametrize(
    ("dpd", "klass"),
    [
        (0, "normal"),
        (29, "normal"),
        (30, "special_mention"),
        (89, "special_mention"),
        (90, "substandard"),
        (179, "substandard"),
        (180, "doubtful"),
        (359, "doubtful"),
        (360, "loss"),
        (1000, "loss"),
    ],
)
def test_long_term_table_edges(dpd, klass):
    assert classify(dpd, 13) == klass
    assert classify(dpd, 48) == klass


def test_the_term_decides_the_table_one_year_is_short():
    # 20 days late: special mention on a short loan (15-30), normal on a long one (0-29)
    assert classify(20, 12) == "special_mention"
    assert classify(20, 13) == "normal"
    assert classify(20, term_in_months(13, "every_4_weeks")) == "special_mention"  # 13 x 12/13 = 12
    assert classify(20, term_in_months(14, "every_4_weeks")) == "normal"  # 12.92 months


@pytest.mark.parametrize(
    ("term", "frequency", "months"),
    [
        (12, "monthly", "12"),
        (4, "quarterly", "12"),
        (5, "quarterly", "15"),
        (13, "every_4_weeks", "12"),
        (26, "biweekly", "12"),
        (52, "weekly", "12"),
        (39, "biweekly", "18"),  # 39 x 12 / 26
        (78, "weekly", "18"),  # 78 x 12 / 52
    ],
)
def test_term_in_months(term, frequency, months):
    assert term_in_months(term, frequency) == d(months)


def test_term_in_months_just_past_a_year_is_long_term():
    assert term_in_months(53, "weekly") > 12  # 636 / 52 = 12.23
    assert term_in_months(27, "biweekly") > 12  # 324 / 26 = 12.46
    with pytest.raises(InvalidInput):
        term_in_months(12, "daily")
    with pytest.raises(InvalidInput):
        term_in_months(0, "monthly")


@pytest.mark.parametrize(
    ("principal", "klass", "currency", "expected"),
    [
        ("1000.00", "normal", "USD", "10.00"),  # 1 %
        ("1234.56", "special_mention", "USD", "37.04"),  # 3 % = 37.0368
        ("333.33", "substandard", "USD", "66.67"),  # 20 % = 66.666
        ("0.05", "doubtful", "USD", "0.02"),  # 50 % = 0.025, half-even to the even cent
        ("0.15", "doubtful", "USD", "0.08"),  # 50 % = 0.075, half-even to the even cent
        ("2500.00", "loss", "USD", "2500.00"),  # 100 %
        ("1250050", "special_mention", "KHR", "37502"),  # 3 % = 37,501.5 -> even riel
        ("1250150", "special_mention", "KHR", "37504"),  # 3 % = 37,504.5 -> even riel
        ("0.00", "loss", "USD", "0.00"),
    ],
)
def test_provisions(principal, klass, currency, expected):
    amount = provision(d(principal), klass, currency)
    assert amount == d(expected)
    assert amount.as_tuple().exponent == (-2 if currency == "USD" else 0)


def test_provision_refuses_an_unknown_class_or_negative_principal():
    with pytest.raises(InvalidInput) as caught:
        provision(d("10.00"), "watch", "USD")
    assert caught.value.code == "UNKNOWN_LOAN_CLASS"
    with pytest.raises(InvalidInput):
        provision(d("-1.00"), "normal", "USD")


def test_non_performing_from_90_days_and_par_from_more_than_x_days():
    owed = [Owed(1, date(2024, 1, 1), d("10.00"), d("0"), d("0"))]
    assert loan_arrears(owed, d("10.00"), 24, "USD", date(2024, 3, 30)).non_performing is False  # 89 days
    assert loan_arrears(owed, d("10.00"), 24, "USD", date(2024, 3, 31)).non_performing is True  # 90 days
    # PAR_x counts a loan *more than* x days late (../shared/domain.md), taken literally:
    # a loan exactly 1 day late is not yet in PAR1, one 2 days late is
    assert [at_risk(dpd, x) for dpd, x in [(1, 1), (30, 30), (90, 90)]] == [False, False, False]
    assert [at_risk(dpd, x) for dpd, x in [(2, 1), (31, 30), (91, 90)]] == [True, True, True]


def test_a_reversed_payment_brings_back_its_arrears():
    # Sokha's 3-month loan (test_repayments): 104.01, 104.01, 104.02 due 15 Feb, Mar, Apr 2024
    dues = (
        Due(1, date(2024, 2, 15), d("98.51"), d("4.50"), d("1.00")),
        Due(2, date(2024, 3, 15), d("99.99"), d("3.02"), d("1.00")),
        Due(3, date(2024, 4, 15), d("101.50"), d("1.52"), d("1.00")),
    )
    feb = Payment("p1", date(2024, 2, 15), d("104.01"))
    mar = Payment("p2", date(2024, 3, 15), d("104.01"))
    as_of = date(2024, 4, 1)
    both = allocate(dues, [feb, mar], currency="USD")
    assert loan_arrears(both.installments, remaining_principal(both), 3, "USD", as_of).days_past_due == 0
    # the March payment is reversed: replayed without it, #2 is 17 days late on 1 April
    without = allocate(dues, [feb], currency="USD")
    arrears = loan_arrears(without.installments, remaining_principal(without), 3, "USD", as_of)
    assert arrears.days_past_due == 17
    assert (arrears.bucket, arrears.classification) == ("1-30", "special_mention")  # short term: 15-30
    assert arrears.overdue_amount == d("104.01")
    # outstanding 300.00 - 98.51 = 201.49; 3 % = 6.0447 -> 6.04
    assert arrears.provision == d("6.04")


def test_arrears_on_a_past_date_count_only_the_payments_made_by_then():
    dues = (Due(1, date(2024, 2, 15), d("100.00"), d("2.00"), d("0.00")),)
    late = allocate(dues, [Payment("p1", date(2024, 2, 25), d("102.00"))], currency="USD")
    assert days_past_due(states_as_of(late, date(2024, 2, 20)), date(2024, 2, 20)) == 5
    assert days_past_due(states_as_of(late, date(2024, 2, 25)), date(2024, 2, 25)) == 0


def test_the_policy_is_configurable_and_round_trips():
    assert ArrearsPolicy.from_dict(DEFAULT_ARREARS_POLICY.to_dict()) == DEFAULT_ARREARS_POLICY
    assert DEFAULT_ARREARS_POLICY.to_dict()["provision_percent"]["substandard"] == "20"
    stricter = ArrearsPolicy.from_dict(
        {
            "long_term_bounds": [15, 60, 120, 240],
            "provision_percent": {
                "normal": "1",
                "special_mention": "5",
                "substandard": "25",
                "doubtful": "50",
                "loss": "100",
            },
        }
    )
    assert stricter.short_term_bounds == DEFAULT_ARREARS_POLICY.short_term_bounds  # left as default
    assert classify(15, 24, stricter) == "special_mention"
    assert provision(d("200.00"), "special_mention", "USD", stricter) == d("10.00")  # 5 %
    hash(stricter)  # usable as a cache key
    with pytest.raises(TypeError):
        stricter.provision_percent["loss"] = d("0")  # type: ignore[index]


@pytest.mark.parametrize(
    "settings_",
    [
        {"shortterm_bounds": [15, 31, 61, 91]},  # misspelt
        {"short_term_bounds": [15, 31, 61]},
        {"long_term_bounds": [30, 90, 90, 360]},
        {"long_term_bounds": [0, 90, 180, 360]},
        {"provision_percent": {"normal": "1"}},
        {"provision_percent": dict.fromkeys(CLASSES, "101")},
        {"non_performing_dpd": 0},
        {"short_term_max_months": "12"},
    ],
)
def test_a_bad_policy_is_refused(settings_):
    with pytest.raises(InvalidInput) as caught:
        ArrearsPolicy.from_dict(settings_)
    assert caught.value.code == "INVALID_ARREARS_POLICY"


def test_float_provision_rates_are_refused():
    with pytest.raises(TypeError):
        ArrearsPolicy(provision_percent={**dict.fromkeys(CLASSES, d("1")), "loss": 100.0})


# ---- invariants --------------------------------------------------------------------------


@given(st.integers(0, 2000), st.integers(0, 2000), st.sampled_from([6, 12, 13, 36]))
def test_buckets_and_classes_never_improve_as_days_pass(a, b, months):
    low, high = sorted((a, b))
    assert BUCKETS.index(aging_bucket(low)) <= BUCKETS.index(aging_bucket(high))
    assert CLASSES.index(classify(low, months)) <= CLASSES.index(classify(high, months))
    # a long loan is never graded worse than a short one for the same days
    assert CLASSES.index(classify(high, 36)) <= CLASSES.index(classify(high, 12))


@st.composite
def owed_lists(draw):
    owed, when = [], date(2024, 1, 1)
    for number in range(1, draw(st.integers(1, 8)) + 1):
        when += timedelta(days=draw(st.integers(0, 40)))
        due = draw(st.integers(0, 10_000))
        paid = draw(st.integers(0, due))
        owed.append(
            Owed(number, when, Decimal(due) / 100, d("0.00"), d("0.00"), principal_paid=Decimal(paid) / 100)
        )
    return owed


@settings(max_examples=200, deadline=None)
@given(owed_lists(), st.integers(0, 500))
def test_late_exactly_when_something_overdue_is_unpaid(owed, days):
    as_of = date(2024, 1, 1) + timedelta(days=days)
    dpd = days_past_due(owed, as_of)
    assert (dpd > 0) == (overdue_amount(owed, as_of) > 0)
    assert 0 <= dpd <= max(0, (as_of - owed[0].due_date).days)
    # the next day, a late loan is one day later (unless paid, which nothing here does)
    if dpd:
        assert days_past_due(owed, as_of + timedelta(days=1)) == dpd + 1
