"""Allocating a family's payments to its schedule, told as a loan officer would, with the
arithmetic in the comments; then the invariants over random schedules and payments.

Most stories use Mrs Sokha's loan: 300 USD over 3 months at 1.5 % a month (18 % a year, the cap),
level installments, plus a 1.00 USD service fee each month.
  PMT = 300 x 0.015 / (1 - 1.015^-3) = 4.5 x 1.045678375 / 0.045678375 = 103.0147 -> 103.01
  #1 interest 300 x 0.015 = 4.50,            principal 103.01 - 4.50 = 98.51,  balance 201.49
  #2 interest 201.49 x 0.015 = 3.0224 -> 3.02, principal 103.01 - 3.02 = 99.99, balance 101.50
  #3 interest 101.50 x 0.015 = 1.5225 -> 1.52, principal: the balance 101.50 (103.02 in all)
With the fee: 104.01, 104.01 and 104.02 on the 15th of February, March and April 2024;
312.04 in all, of which 300.00 principal.
"""

from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loansvc.domain.errors import InvalidInput
from loansvc.domain.repayments import (
    DEFAULT_ORDER,
    Component,
    Due,
    Payment,
    Prepayment,
    ahead_of_schedule,
    allocate,
    allocation_order,
    remaining_principal,
    states_as_of,
)
from loansvc.domain.schedule import Frequency, LoanTerms, build_schedule


def d(text: str) -> Decimal:
    return Decimal(text)


FEB, MAR, APR = date(2024, 2, 15), date(2024, 3, 15), date(2024, 4, 15)
SOKHA = (
    Due(1, FEB, principal=d("98.51"), interest=d("4.50"), fees=d("1.00")),
    Due(2, MAR, principal=d("99.99"), interest=d("3.02"), fees=d("1.00")),
    Due(3, APR, principal=d("101.50"), interest=d("1.52"), fees=d("1.00")),
)


def pay(*payments: tuple[str, date, str]) -> list[Payment]:
    return [Payment(pid, when, d(amount)) for pid, when, amount in payments]


def test_the_schedule_in_the_docstring_is_the_engines():
    # the same loan without the fee: 103.01, 103.01, 103.02 as worked out above
    schedule = build_schedule(
        LoanTerms(
            principal=d("300"),
            currency="USD",
            annual_rate_percent=d("18"),
            term=3,
            frequency=Frequency.MONTHLY,
            disbursement_date=date(2024, 1, 15),
        )
    )
    dues = [Due.of(i) for i in schedule.installments]
    assert [(x.principal, x.interest, x.penalty) for x in dues] == [
        (d("98.51"), d("4.50"), 0),
        (d("99.99"), d("3.02"), 0),
        (d("101.50"), d("1.52"), 0),
    ]
    assert [x.due_date for x in dues] == [FEB, MAR, APR]


def test_paying_each_installment_on_its_due_date_settles_the_loan():
    allocation = allocate(
        SOKHA, pay(("p1", FEB, "104.01"), ("p2", MAR, "104.01"), ("p3", APR, "104.02")), currency="USD"
    )
    assert [s.fully_paid_on for s in allocation.installments] == [FEB, MAR, APR]
    assert [s.paid_by_due_date for s in allocation.installments] == [d("104.01"), d("104.01"), d("104.02")]
    assert [s.remaining for s in allocation.installments] == [0, 0, 0]
    assert allocation.principal_repaid == d("300.00")
    assert allocation.credit_balance == 0
    assert allocation.is_settled
    assert remaining_principal(allocation) == 0
    # one line per payment, each on its own installment
    assert [(ln.payment_id, ln.number, ln.total) for ln in allocation.lines] == [
        ("p1", 1, d("104.01")),
        ("p2", 2, d("104.01")),
        ("p3", 3, d("104.02")),
    ]


def test_a_partial_payment_pays_fees_then_interest_then_principal():
    # Sokha brings 50.00 on the due date: fee 1.00, interest 4.50, principal 50 - 5.50 = 44.50
    allocation = allocate(SOKHA, pay(("p1", FEB, "50.00")), currency="USD")
    (line,) = allocation.lines
    assert (line.penalty, line.fees, line.interest, line.principal) == (0, d("1.00"), d("4.50"), d("44.50"))
    first = allocation.installments[0]
    assert first.remaining == d("54.01")  # 104.01 - 50.00
    assert first.fully_paid_on is None
    assert first.paid_by_due_date == d("50.00")
    assert allocation.principal_repaid == d("44.50")
    assert remaining_principal(allocation) == d("255.50")  # 300.00 - 44.50
    assert not allocation.is_settled


def test_a_late_payment_completes_the_installment_on_its_own_date():
    # 50.00 on the due date, the other 54.01 on 2 March: all principal, fee and interest being paid
    late = date(2024, 3, 2)
    allocation = allocate(SOKHA, pay(("p1", FEB, "50.00"), ("p2", late, "54.01")), currency="USD")
    first = allocation.installments[0]
    assert first.fully_paid_on == late
    assert first.paid_by_due_date == d("50.00")  # only the first payment was on time
    second_line = allocation.lines[1]
    assert (second_line.number, second_line.principal, second_line.interest) == (1, d("54.01"), 0)
    assert allocation.installments[1].total_paid == 0


def test_a_payment_after_two_missed_installments_pays_the_oldest_first():
    # nothing paid in February or March; on 20 March Sokha brings 150.00:
    # #1 takes 104.01 in full, #2 the other 45.99: fee 1.00, interest 3.02, principal 41.97
    allocation = allocate(SOKHA, pay(("p1", date(2024, 3, 20), "150.00")), currency="USD")
    one, two, three = allocation.installments
    assert one.fully_paid_on == date(2024, 3, 20) and one.paid_by_due_date == 0
    assert (two.fees_paid, two.interest_paid, two.principal_paid) == (d("1.00"), d("3.02"), d("41.97"))
    assert two.remaining == d("58.02")  # 104.01 - 45.99
    assert three.total_paid == 0
    assert ahead_of_schedule(allocation, "p1") == 0  # both installments were already due


def test_an_early_payment_pays_the_next_installment_and_shortens_the_loan():
    # on 15 February she pays two installments at once: 2 x 104.01 = 208.02
    allocation = allocate(SOKHA, pay(("p1", FEB, "208.02")), currency="USD")
    one, two, three = allocation.installments
    assert one.fully_paid_on == two.fully_paid_on == FEB
    assert two.paid_by_due_date == d("104.01")  # paid before it fell due
    assert three.total_paid == 0
    # #2 was not yet due on 15 February: its 104.01 went ahead of schedule, #1 was on time
    assert ahead_of_schedule(allocation, "p1") == d("104.01")
    assert remaining_principal(allocation) == d("101.50")  # only #3's principal is left
    assert Prepayment("reduce_term") is Prepayment.REDUCE_TERM


def test_paying_more_than_everything_leaves_a_credit_balance():
    # 320.00 on 10 February against 312.04 owed in all: 7.96 left over
    allocation = allocate(SOKHA, pay(("p1", date(2024, 2, 10), "320.00")), currency="USD")
    assert allocation.is_settled
    assert allocation.credit_balance == d("7.96")
    assert allocation.principal_repaid == d("300.00")
    assert ahead_of_schedule(allocation, "p1") == d("312.04")  # nothing was due yet on 10 February
    # a later payment once everything is paid goes wholly to the credit balance
    again = allocate(SOKHA, pay(("p1", date(2024, 2, 10), "320.00"), ("p2", MAR, "5.00")), currency="USD")
    assert again.credit_balance == d("12.96")
    assert [ln.payment_id for ln in again.lines] == ["p1", "p1", "p1"]


def test_a_penalty_is_paid_first_by_default_and_the_product_can_change_the_order():
    # a 2.00 late fee on #1; Sokha pays 5.00
    dues = (Due(1, FEB, d("98.51"), d("4.50"), d("1.00"), penalty=d("2.00")), *SOKHA[1:])
    payments = pay(("p1", date(2024, 2, 20), "5.00"))
    # default: penalty 2.00, fee 1.00, interest the remaining 2.00 of 4.50, principal nothing
    (line,) = allocate(dues, payments, currency="USD").lines
    assert (line.penalty, line.fees, line.interest, line.principal) == (d("2.00"), d("1.00"), d("2.00"), 0)
    # interest and principal first: interest 4.50, principal 0.50
    order = allocation_order(["interest", "principal", "fees", "penalty"])
    (line,) = allocate(dues, payments, order=order, currency="USD").lines
    assert (line.penalty, line.fees, line.interest, line.principal) == (0, 0, d("4.50"), d("0.50"))


def test_the_product_order_must_name_each_component_once():
    assert allocation_order(["penalty", "fees", "interest", "principal"]) == DEFAULT_ORDER
    for bad in (["fees", "interest", "principal"], ["fees", "fees", "interest", "principal"], ["tax"]):
        with pytest.raises(InvalidInput) as caught:
            allocation_order(bad)
        assert caught.value.code == "INVALID_ALLOCATION_ORDER"
    with pytest.raises(InvalidInput):
        allocate(SOKHA, [], order=(Component.PRINCIPAL,), currency="USD")


def test_riel_amounts_are_whole_riel():
    # a 1,200,000 riel materials loan in two installments of 600,000 + interest
    dues = (
        Due(1, FEB, d("600000"), d("18000"), d("0")),
        Due(2, MAR, d("600000"), d("9000"), d("0")),
    )
    allocation = allocate(dues, pay(("p1", FEB, "700000")), currency="KHR")
    # #1: interest 18,000 then principal 600,000; #2: 700,000 - 618,000 = 82,000 -> interest 9,000,
    # principal 73,000
    assert allocation.installments[1].principal_paid == d("73000")
    assert allocation.principal_repaid == d("673000")
    with pytest.raises(InvalidInput) as caught:
        allocate(dues, pay(("p1", FEB, "0.5")), currency="KHR")
    assert caught.value.code == "AMOUNT_NOT_IN_MINOR_UNIT"


def test_an_installment_owing_nothing_is_settled_without_a_payment():
    # a principal-and-interest grace month: #1 owes nothing
    dues = (Due(1, FEB, d("0.00"), d("0.00"), d("0.00")), Due(2, MAR, d("100.00"), d("3.00"), d("0.00")))
    allocation = allocate(dues, pay(("p1", MAR, "103.00")), currency="USD")
    assert [ln.number for ln in allocation.lines] == [2]
    first = allocation.installments[0]
    assert first.is_settled and first.fully_paid_on is None
    assert allocation.is_settled


def test_looking_back_counts_only_the_payments_made_by_then():
    late = date(2024, 3, 2)
    allocation = allocate(SOKHA, pay(("p1", FEB, "50.00"), ("p2", late, "54.01")), currency="USD")
    before = states_as_of(allocation, date(2024, 2, 20))[0]
    assert (before.total_paid, before.fully_paid_on, before.paid_by_due_date) == (
        d("50.00"),
        None,
        d("50.00"),
    )
    on_the_day = states_as_of(allocation, late)[0]
    assert (on_the_day.total_paid, on_the_day.fully_paid_on) == (d("104.01"), late)
    assert states_as_of(allocation, date(2024, 1, 1))[0].total_paid == 0


@pytest.mark.parametrize(
    ("payments", "code"),
    [
        ([Payment("p1", FEB, d("0.00"))], "PAYMENT_NOT_POSITIVE"),
        ([Payment("p1", FEB, d("-5.00"))], "NEGATIVE_AMOUNT"),
        ([Payment("p1", FEB, d("10.005"))], "AMOUNT_NOT_IN_MINOR_UNIT"),
        ([Payment("p1", MAR, d("1.00")), Payment("p2", FEB, d("1.00"))], "PAYMENTS_NOT_IN_ORDER"),
        ([Payment("p1", FEB, d("1.00")), Payment("p1", MAR, d("1.00"))], "DUPLICATE_PAYMENT"),
        ([Payment("p1", FEB, d("NaN"))], "INVALID_INPUT"),
    ],
)
def test_bad_payments_are_refused(payments, code):
    with pytest.raises(InvalidInput) as caught:
        allocate(SOKHA, payments, currency="USD")
    assert caught.value.code == code


def test_bad_schedules_and_floats_are_refused():
    with pytest.raises(InvalidInput) as caught:
        allocate((*SOKHA, SOKHA[0]), [], currency="USD")
    assert caught.value.code == "DUPLICATE_INSTALLMENT"
    swapped = (Due(1, MAR, d("1.00"), d("0"), d("0")), Due(2, FEB, d("1.00"), d("0"), d("0")))
    with pytest.raises(InvalidInput) as caught:
        allocate(swapped, [], currency="USD")
    assert caught.value.code == "DUE_DATES_NOT_IN_ORDER"
    with pytest.raises(InvalidInput) as caught:
        allocate((Due(1, FEB, d("1.001"), d("0"), d("0")),), [], currency="USD")
    assert caught.value.code == "AMOUNT_NOT_IN_MINOR_UNIT"
    with pytest.raises(TypeError):
        allocate(SOKHA, [Payment("p1", FEB, 10.5)], currency="USD")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as caught:
        allocate(SOKHA, [], currency="XYZ")
    assert caught.value.code == "UNKNOWN_CURRENCY"


# ---- invariants over random schedules and payments ----------------------------------------


@st.composite
def loans(draw):
    """(currency, dues, payments): up to 8 installments, up to 10 payments in date order."""
    currency = draw(st.sampled_from(["USD", "KHR"]))
    unit = d("0.01") if currency == "USD" else d("100")  # riel are counted in hundreds
    small = st.integers(0, 20_000).map(lambda n: n * unit)
    start = date(2024, 1, 1)
    dues, when = [], start
    for number in range(1, draw(st.integers(1, 8)) + 1):
        when += timedelta(days=draw(st.integers(0, 40)))
        dues.append(Due(number, when, draw(small), draw(small), draw(small), draw(small)))
    payments, paid_on = [], start
    for k in range(draw(st.integers(0, 10))):
        paid_on += timedelta(days=draw(st.integers(0, 60)))
        payments.append(Payment(f"p{k}", paid_on, draw(st.integers(1, 60_000)) * unit))
    # the product order too
    order = tuple(draw(st.permutations(list(Component))))
    return currency, dues, payments, order


def _parts(state):
    return (
        (state.principal_paid, state.principal_due),
        (state.interest_paid, state.interest_due),
        (state.fees_paid, state.fees_due),
        (state.penalty_paid, state.penalty_due),
    )


@settings(max_examples=300, deadline=None)
@given(loans())
def test_every_amount_paid_is_allocated_or_left_as_credit(loan):
    currency, dues, payments, order = loan
    allocation = allocate(dues, payments, order=order, currency=currency)
    paid = sum((p.amount for p in payments), Decimal(0))
    allocated = sum((ln.total for ln in allocation.lines), Decimal(0))
    assert allocated + allocation.credit_balance == paid
    assert sum((s.total_paid for s in allocation.installments), Decimal(0)) == allocated
    # each payment's lines add up to at most its amount; only the last can leave credit
    for payment in payments:
        share = sum((ln.total for ln in allocation.lines if ln.payment_id == payment.id), Decimal(0))
        assert 0 <= share <= payment.amount


@settings(max_examples=300, deadline=None)
@given(loans())
def test_nothing_is_paid_beyond_what_is_due(loan):
    currency, dues, payments, order = loan
    allocation = allocate(dues, payments, order=order, currency=currency)
    for state in allocation.installments:
        for paid, due in _parts(state):
            assert 0 <= paid <= due
        assert state.remaining >= 0
        assert 0 <= state.paid_by_due_date <= state.total_paid
        assert (state.fully_paid_on is not None) == (state.remaining == 0 and state.total_due > 0)
    assert allocation.principal_repaid <= sum((x.principal for x in dues), Decimal(0))
    assert remaining_principal(allocation) >= 0
    # a credit balance only once everything is paid
    assert allocation.credit_balance == 0 or allocation.is_settled
    for line in allocation.lines:
        assert min(line.principal, line.interest, line.fees, line.penalty) >= 0 and line.total > 0


@settings(max_examples=300, deadline=None)
@given(loans())
def test_the_oldest_installment_and_the_first_component_in_order_come_first(loan):
    currency, dues, payments, order = loan
    states = allocate(dues, payments, order=order, currency=currency).installments
    for earlier, later in pairwise(states):
        if later.total_paid > 0:
            assert earlier.remaining == 0
    for state in states:
        paid = dict(
            zip(
                Component,
                (state.penalty_paid, state.fees_paid, state.interest_paid, state.principal_paid),
                strict=True,
            )
        )
        due = dict(
            zip(
                Component,
                (state.penalty_due, state.fees_due, state.interest_due, state.principal_due),
                strict=True,
            )
        )
        for k, component in enumerate(order[1:], start=1):
            if paid[component] > 0:
                assert all(paid[c] == due[c] for c in order[:k])


def _unpaid_dues(states):
    return [
        Due(
            s.number,
            s.due_date,
            s.principal_due - s.principal_paid,
            s.interest_due - s.interest_paid,
            s.fees_due - s.fees_paid,
            s.penalty_due - s.penalty_paid,
        )
        for s in states
    ]


@settings(max_examples=300, deadline=None)
@given(loans())
def test_one_payment_at_a_time_gives_the_same_state_as_all_at_once(loan):
    currency, dues, payments, order = loan
    whole = allocate(dues, payments, order=order, currency=currency)
    # incrementally: each payment against what is still unpaid after the ones before it
    paid = {x.number: [Decimal(0)] * 4 for x in dues}
    finished: dict[int, date] = {}
    credit = Decimal(0)
    remaining = list(dues)
    for payment in payments:
        step = allocate(remaining, [payment], order=order, currency=currency)
        for line in step.lines:
            totals = paid[line.number]
            for k, part in enumerate((line.principal, line.interest, line.fees, line.penalty)):
                totals[k] += part
        for state in step.installments:
            if state.fully_paid_on is not None:
                finished[state.number] = state.fully_paid_on
        credit += step.credit_balance
        remaining = _unpaid_dues(step.installments)
    for state in whole.installments:
        assert paid[state.number] == [
            state.principal_paid,
            state.interest_paid,
            state.fees_paid,
            state.penalty_paid,
        ]
        assert finished.get(state.number) == state.fully_paid_on
    assert credit == whole.credit_balance


@settings(max_examples=200, deadline=None)
@given(loans(), st.integers(0, 700))
def test_looking_back_equals_allocating_only_the_earlier_payments(loan, days):
    currency, dues, payments, order = loan
    as_of = date(2024, 1, 1) + timedelta(days=days)
    earlier = [p for p in payments if p.paid_on <= as_of]
    expected = allocate(dues, earlier, order=order, currency=currency).installments
    assert states_as_of(allocate(dues, payments, order=order, currency=currency), as_of) == expected
