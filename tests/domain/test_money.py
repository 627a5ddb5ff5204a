"""Money: minor units, explicit rounding, and splits that always add back to the whole."""

from decimal import Decimal

import pytest

from loansvc.domain.errors import InvalidInput
from loansvc.domain.money import (
    Rounding,
    minor_unit,
    quantum,
    ratio_split,
    round_down,
    round_money,
    round_to_multiple,
    split_evenly,
)


def test_minor_units_come_from_the_table():
    assert minor_unit("USD") == 2
    assert minor_unit("EUR") == 2
    assert minor_unit("THB") == 2
    # riel is counted in whole riel
    assert minor_unit("KHR") == 0
    assert quantum("USD") == Decimal("0.01")
    assert quantum("KHR") == Decimal("1")


def test_unknown_currency_is_refused_naming_the_field():
    with pytest.raises(InvalidInput) as caught:
        minor_unit("XYZ")
    assert caught.value.code == "UNKNOWN_CURRENCY"
    assert caught.value.field == "currency"


@pytest.mark.parametrize(
    ("amount", "rounding", "expected"),
    [
        # a tie goes to the even cent with half-even (15.625 -> 15.62, as Fineract does) ...
        ("15.625", Rounding.HALF_EVEN, "15.62"),
        ("15.635", Rounding.HALF_EVEN, "15.64"),
        # ... and away from zero with half-up
        ("15.625", Rounding.HALF_UP, "15.63"),
        ("15.624", Rounding.HALF_UP, "15.62"),
    ],
)
def test_round_money_uses_the_mode_it_is_given(amount, rounding, expected):
    assert round_money(Decimal(amount), "USD", rounding) == Decimal(expected)


def test_round_money_in_riel_rounds_to_whole_riel():
    # 2.5 riel is a tie: half-even keeps 2, half-up makes 3
    assert round_money(Decimal("2.5"), "KHR") == Decimal("2")
    assert round_money(Decimal("2.5"), "KHR", Rounding.HALF_UP) == Decimal("3")


def test_a_float_never_becomes_money():
    with pytest.raises(TypeError):
        round_money(0.1, "USD")  # type: ignore[arg-type]


def test_round_down_and_round_to_multiple():
    assert round_down(Decimal("304.91"), Decimal("1")) == Decimal("304")
    # RS02: the raw installment 304.91 becomes 305 at a multiple of 1
    assert round_to_multiple(Decimal("304.91"), Decimal("1")) == Decimal("305")
    # 250.5 is a tie between 250 and 251
    assert round_to_multiple(Decimal("250.5"), Decimal("1")) == Decimal("250")
    assert round_to_multiple(Decimal("250.5"), Decimal("1"), Rounding.HALF_UP) == Decimal("251")
    # riel to the hundred: 366 720 -> 366 700
    assert round_to_multiple(Decimal("366720"), Decimal("100")) == Decimal("366700")


def test_split_evenly_adds_back_to_the_total():
    # 100.00 in 3 parts: 33.34 + 33.33 + 33.33, the first part carries the extra cent
    assert split_evenly(Decimal("100.00"), 3, "USD") == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    parts = split_evenly(Decimal("1000"), 7, "KHR")
    assert sum(parts) == Decimal("1000")
    assert max(parts) - min(parts) <= 1


def test_split_into_no_parts_is_refused():
    with pytest.raises(InvalidInput):
        split_evenly(Decimal("1"), 0, "USD")


def test_ratio_split_keeps_the_whole():
    # 10.00 in ratios 1:1:1 -> 3.34, 3.33, 3.33 (largest remainder takes the spare cent)
    parts = ratio_split(Decimal("10.00"), [Decimal(1), Decimal(1), Decimal(1)], "USD")
    assert sum(parts) == Decimal("10.00")
    assert sorted(parts) == [Decimal("3.33"), Decimal("3.33"), Decimal("3.34")]
    # 100 riel in 1:3 -> 25, 75
    assert ratio_split(Decimal("100"), [Decimal(1), Decimal(3)], "KHR") == [Decimal("25"), Decimal("75")]


def test_ratio_split_refuses_meaningless_ratios():
    with pytest.raises(InvalidInput):
        ratio_split(Decimal("1"), [], "USD")
    with pytest.raises(InvalidInput):
        ratio_split(Decimal("1"), [Decimal(0)], "USD")
    with pytest.raises(InvalidInput):
        ratio_split(Decimal("1"), [Decimal(-1), Decimal(2)], "USD")
