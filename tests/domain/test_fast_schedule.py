"""The bulk path (numpy) against the exact engine: the published cases, then random terms.

The contract (issue 3): the bulk path agrees with `build_schedule` within one minor unit on
every installment's principal, interest and total and on the level installment. Its design
(exact integer quotients, see its module docstring) makes it agree exactly; the seeded batch
below holds it to that.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loansvc.domain.fast import (
    level_installments,
    max_principal_for_installment,
    schedule_summary,
    schedules,
)
from loansvc.domain.schedule import LoanTerms, build_schedule

FREQUENCY = {12: "monthly", 4: "quarterly", 13: "every_4_weeks", 26: "biweekly", 52: "weekly"}
DECIMALS = {"USD": 2, "KHR": 0}


def words(text: str) -> list[str]:
    return text.split()


def cents(values) -> list[int]:
    return [round(float(v) * 100) for v in values]


# ---------------------------------------------------------------- the published cases

# Source: apache/fineract, fineract-e2e-tests-runner/src/test/resources/features/
# LoanRepayment.feature, RS02: 5000 EUR at 12 %/year, 18 monthly, multiple of 1.
RS02_PRINCIPAL = words(
    "255.00 257.55 260.13 262.73 265.35 268.01 270.69 273.39 276.13 "
    "278.89 281.68 284.50 287.34 290.21 293.12 296.05 299.01 300.22"
)
RS02_INTEREST = words(
    "50.00 47.45 44.87 42.27 39.65 36.99 34.31 31.61 28.87 26.11 23.32 20.50 17.66 14.79 11.88 8.95 5.99 3.00"
)


def test_rs02_installment_of_305():
    # Source: Fineract RS02. The raw PMT 304.91 rounds to 305.00 at a multiple of 1.
    bulk = schedules(5000, 12, 18, 12, 0, 1)
    assert bulk.level_installment == 305.00
    assert cents(bulk.principal) == cents(RS02_PRINCIPAL)
    assert cents(bulk.interest) == cents(RS02_INTEREST)
    # 17 installments of 305.00 and the last clears the balance: 300.22 + 3.00
    assert cents(bulk.total) == [30500] * 17 + [30322]
    assert bulk.total_interest == pytest.approx(488.22, abs=1e-9)
    assert bulk.largest_installment == 305.00
    assert level_installments(5000, 12, 18, 12, 0, 1) == 305.00


def test_rs01_flat():
    # Source: Fineract RS01: flat, same inputs. 5000 x 1 % = 50.00 a month; 5000/18 + 50 =
    # 327.78 -> 328; 17 x 278/50, then 274/50; total interest 900.00.
    bulk = schedules(5000, 12, 18, 12, 0, 1, interest_method="flat")
    assert bulk.level_installment == 328.00
    assert cents(bulk.principal) == [27800] * 17 + [27400]
    assert cents(bulk.interest) == [5000] * 18
    assert bulk.total_interest == 900.00


def test_rs04_equal_principal():
    # Source: Fineract RS04: equal principal, no multiple; 277.78 x 17 and 277.74; total 475.00.
    bulk = schedules(5000, 12, 18, amortization="equal_principal")
    interest = words(
        "50.00 47.22 44.44 41.67 38.89 36.11 33.33 30.56 27.78 "
        "25.00 22.22 19.44 16.67 13.89 11.11 8.33 5.56 2.78"
    )
    assert cents(bulk.principal) == [27778] * 17 + [27774]
    assert cents(bulk.interest) == cents(interest)
    assert bulk.total_interest == pytest.approx(475.00, abs=1e-9)
    assert np.isnan(bulk.level_installment)  # equal principal has no level installment


def test_fineract_1250_at_15_percent_half_even():
    # Source: Fineract LoanRepayment.feature: 1250 at 15 %/year over 4 months, multiple of 1:
    # 306.38/15.62 (1250 x 1.25 % = 15.625 -> 15.62 half-even), 310.20/11.80, 314.08/7.92,
    # 319.34/3.99; total interest 39.33.
    bulk = schedules(1250, 15, 4, 12, 0, 1)
    assert cents(bulk.principal) == [30638, 31020, 31408, 31934]
    assert cents(bulk.interest) == [1562, 1180, 792, 399]
    assert bulk.largest_installment == 323.33  # the last: 319.34 + 3.99
    # half-up takes the tie up: 15.63, so the first principal is 322 - 15.63 = 306.37
    assert cents(schedules(1250, 15, 4, 12, 0, 1, rounding="half_up").principal)[0] == 30637


def test_numpy_financial_documentation_cases():
    # Source: numpy-financial docs: 2500 at 8.24 % over 12 months, first installment 200.58
    # principal and 17.17 interest; pmt(0.075/12, 180, 200000) = -1854.0247... -> 1854.02.
    bulk = schedules(2500, 8.24, 12)
    assert (bulk.principal[0], bulk.interest[0]) == (200.58, 17.17)
    assert level_installments(200000, 7.5, 180) == 1854.02


def test_khr_has_no_minor_unit():
    # 4 000 000 riel at 18 % over 12 with a multiple of 100: PMT = 366 719.97 -> 366 720 -> 366 700;
    # interest 60 000, then 3 693 300 x 1.5 % = 55 399.5, a tie -> 55 400 (even).
    bulk = schedules(4_000_000, 18, 12, 12, 0, 100, decimals=0)
    assert bulk.level_installment == 366_700
    assert list(bulk.interest[:2]) == [60_000, 55_400]
    assert bulk.principal.sum() == 4_000_000


def test_arguments_broadcast_like_numpy():
    # households down, rates across: PMT(1 %, 18, 5000) = 304.91 and twice the loan 609.82
    levels = level_installments(np.array([[5000.0], [10000.0]]), np.array([12.0, 0.0]), 18)
    assert levels.shape == (2, 2)
    # at 0 %: 5000 / 18 = 277.777... -> 277.78, 10000 / 18 = 555.555... -> 555.56
    assert levels.tolist() == [[304.91, 277.78], [609.82, 555.56]]
    summary = schedule_summary(np.full((3, 4), 1000.0), 12, 4)
    assert summary.largest_installment.shape == (3, 4)
    assert schedules(np.full((3, 4), 1000.0), 12, np.array([1, 2, 3, 4])).principal.shape == (3, 4, 4)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"principal": 0}, "principal"),
        ({"principal": 10.005}, "principal"),
        ({"annual_rate_percent": -1}, "annual_rate_percent"),
        ({"annual_rate_percent": 1.2345678}, "6 decimals"),
        ({"term": 0}, "term"),
        ({"grace_principal_periods": 4}, "grace"),
        ({"interest_method": "compound"}, "interest_method"),
        ({"installment_multiple": 0.001}, "installment_multiple"),
        ({"rounding": "down"}, "rounding"),
    ],
)
def test_terms_the_exact_engine_refuses_are_refused(changes, message):
    arguments = {"principal": 1000, "annual_rate_percent": 12, "term": 4} | changes
    with pytest.raises(ValueError, match=message):
        schedules(**arguments)


# ---------------------------------------------------------------- random terms


@st.composite
def loans(draw) -> dict:
    currency = draw(st.sampled_from(["USD", "KHR"]))
    places = draw(st.sampled_from([0, 2, 4, 6]))
    term = draw(st.integers(1, 120))
    method = draw(st.sampled_from(["declining_balance", "declining_balance", "flat"]))
    multiple = draw(st.sampled_from([None, None, 1, 5, 100]))
    minor = 10 ** DECIMALS[currency]
    return {
        "currency": currency,
        # 0.01 .. 1 000 000 USD, or 1 .. 400 000 000 riel
        "units": draw(st.integers(1, 100_000_000 if currency == "USD" else 400_000_000)),
        "rate": Decimal(draw(st.integers(0, 60 * 10**places))).scaleb(-places),  # 0 .. 60 %
        "term": term,
        "ppy": draw(st.sampled_from(sorted(FREQUENCY))),
        "gp": draw(st.integers(0, term - 1) | st.just(0)),
        "gi": draw(st.integers(0, term - 1) | st.just(0)),
        "free": draw(st.integers(0, term) | st.just(0)),
        "method": method,
        "amortization": draw(st.sampled_from(["equal_installments", "equal_principal"])),
        # a multiple in minor units: 0.01, 0.05 or 1.00 USD; 100, 500 or 10 000 riel
        "multiple": None if multiple is None else multiple * (1 if currency == "USD" else 100),
        "rounding": draw(st.sampled_from(["half_even", "half_up"])),
        "minor": minor,
    }


def exact(loan: dict):
    places = DECIMALS[loan["currency"]]
    return build_schedule(
        LoanTerms(
            principal=Decimal(loan["units"]).scaleb(-places),
            currency=loan["currency"],
            annual_rate_percent=loan["rate"],
            term=loan["term"],
            frequency=FREQUENCY[loan["ppy"]],
            disbursement_date=date(2024, 1, 31),
            interest_method=loan["method"],
            amortization=loan["amortization"],
            grace_principal_periods=loan["gp"],
            grace_interest_periods=loan["gi"],
            interest_free_periods=loan["free"],
            installment_multiple=None
            if loan["multiple"] is None
            else Decimal(loan["multiple"]).scaleb(-places),
            rounding=loan["rounding"],
        )
    )


def bulk(batch: list[dict], rounding: str):
    """One vectorised call over a whole batch of mixed terms, in minor units."""

    def column(key, kind=float):
        return np.array([kind(loan[key]) for loan in batch])

    return schedules(
        column("units") / np.array([loan["minor"] for loan in batch]),
        column("rate"),
        column("term", int),
        column("ppy", int),
        column("gp", int),
        np.array([(loan["multiple"] or 0) / loan["minor"] for loan in batch]),
        grace_interest_periods=column("gi", int),
        interest_free_periods=column("free", int),
        interest_method=[loan["method"] for loan in batch],
        amortization=[loan["amortization"] for loan in batch],
        decimals=np.array([DECIMALS[loan["currency"]] for loan in batch]),
        rounding=rounding,
        units=True,
    )


def differences(batch: list[dict], rounding: str) -> tuple[np.ndarray, np.ndarray]:
    """Per loan, in minor units: the largest difference on any installment's principal,
    interest or total, or on the level installment; and on the total interest or the largest
    installment."""
    batch = [loan | {"rounding": rounding} for loan in batch]
    fast = bulk(batch, rounding)
    worst, totals = [], []
    for row, loan in enumerate(batch):
        schedule = exact(loan)
        minor, n = loan["minor"], loan["term"]
        expected = np.array(
            [[i.principal * minor, i.interest * minor, i.total * minor] for i in schedule.installments],
            dtype=float,
        )
        got = np.stack([fast.principal[row, :n], fast.interest[row, :n], fast.total[row, :n]], axis=1)
        gap = np.abs(got - expected).max()
        assert not fast.principal[row, n:].any()  # padded with zeros after the last installment
        level = schedule.installment_amount
        if level is None:
            assert np.isnan(fast.level_installment[row])
        else:
            gap = max(gap, abs(fast.level_installment[row] - float(level * minor)))
        worst.append(gap)
        largest = max(i.total for i in schedule.installments)
        totals.append(
            max(
                abs(fast.total_interest[row] - float(schedule.total_interest * minor)),
                abs(fast.largest_installment[row] - float(largest * minor)),
            )
        )
    return np.array(worst), np.array(totals)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(loans(), min_size=1, max_size=40), st.sampled_from(["half_even", "half_up"]))
def test_the_bulk_path_agrees_with_the_exact_engine_within_one_minor_unit(batch, rounding):
    # a batch of mixed terms in one call exercises the grouping of alike loans into blocks
    assert differences(batch, rounding)[0].max() <= 1


def test_a_seeded_batch_of_3000_loans_agrees_exactly():
    rng = np.random.default_rng(20240131)
    size = 3000
    currency = rng.choice(["USD", "KHR"], size)
    places = rng.choice([0, 2, 4, 6], size)
    term = rng.integers(1, 121, size)
    batch = [
        {
            "currency": str(currency[i]),
            "units": int(rng.integers(1, 50_000_000)),
            "rate": Decimal(int(rng.integers(0, 40 * 10 ** int(places[i]) + 1))).scaleb(-int(places[i])),
            "term": int(term[i]),
            "ppy": int(rng.choice(sorted(FREQUENCY))),
            "gp": int(rng.integers(0, term[i])) if rng.random() < 0.3 else 0,
            "gi": int(rng.integers(0, term[i])) if rng.random() < 0.2 else 0,
            "free": int(rng.integers(0, term[i] + 1)) if rng.random() < 0.2 else 0,
            "method": "flat" if rng.random() < 0.3 else "declining_balance",
            "amortization": "equal_principal" if rng.random() < 0.3 else "equal_installments",
            "multiple": None
            if rng.random() < 0.5
            else int(rng.choice([1, 5, 100])) * (1 if currency[i] == "USD" else 100),
            "minor": 100 if currency[i] == "USD" else 1,
        }
        for i in range(size)
    ]
    for rounding in ("half_even", "half_up"):
        installments, totals = differences(batch, rounding)
        assert installments.max() == 0
        assert totals.max() == 0  # so the summaries are exact too


# ---------------------------------------------------------------- the largest loan for an installment


def test_max_principal_for_rs02_installment():
    # RS02's terms: 5000 gives a level of 305 (PMT 304.91 -> 305). The largest principal whose
    # level stays 305: the PMT in cents must round to at most 305.49 (305.50 is a tie that
    # half-even takes to 306), i.e. P x 0.0609820 < 305.495, P < 5009.59...: 5009.58.
    found = max_principal_for_installment(305, 12, 18, 12, 0, 1)
    assert found == 5009.58
    loan = {
        "currency": "USD",
        "rate": Decimal(12),
        "term": 18,
        "ppy": 12,
        "gp": 0,
        "gi": 0,
        "free": 0,
        "method": "declining_balance",
        "amortization": "equal_installments",
        "multiple": 100,
        "rounding": "half_even",
        "minor": 100,
    }
    assert exact(loan | {"units": 500958}).installment_amount == Decimal("305.00")
    assert exact(loan | {"units": 500959}).installment_amount == Decimal("306.00")
    # every installment within 305 (the last clears the residue and grows with the principal)
    whole = max_principal_for_installment(305, 12, 18, 12, 0, 1, largest=True)
    assert max(i.total for i in exact(loan | {"units": round(whole * 100)}).installments) <= 305
    assert max(i.total for i in exact(loan | {"units": round(whole * 100) + 1}).installments) > 305


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(loans(), st.integers(1, 2_000_000), st.booleans())
def test_max_principal_is_an_edge_of_the_exact_engine(loan, cap_units, largest):
    loan = loan | {"gi": 0, "free": 0}
    places = DECIMALS[loan["currency"]]
    cap = cap_units / loan["minor"]
    found = max_principal_for_installment(
        cap,
        float(loan["rate"]),
        loan["term"],
        loan["ppy"],
        loan["gp"],
        None if loan["multiple"] is None else loan["multiple"] / loan["minor"],
        interest_method=loan["method"],
        amortization=loan["amortization"],
        decimals=places,
        rounding=loan["rounding"],
        largest=largest,
        units=True,
    )
    units = int(found)

    def fits(units: int) -> bool:
        schedule = exact(loan | {"units": units})
        if largest:
            paid = max(i.total for i in schedule.installments)
        elif schedule.installment_amount is not None:
            paid = schedule.installment_amount
        else:  # equal principal: its first installment after grace
            paid = schedule.installments[loan["gp"]].total
        return paid * loan["minor"] <= cap_units

    # an edge: what was found fits (or is nothing), one minor unit more does not
    assert units == 0 or fits(units)
    assert not fits(units + 1)
