"""POST /v1/schedules/simulate, /v1/schedules/compare and /v1/rates/apr through HTTP.

The published cases of ../shared/reference/public-cases.md are reproduced to the cent (schedules)
or to their published precision (rates), each with its source. Then one request per rule of
issue 3, to show the contract: field names, money as strings, 200. The arithmetic itself is
tested in depth in tests/domain; the figures here are derived in the comments (most on 1000 USD
at 1 % a period, whose level installment over 4 periods is PMT(1 %, 4, 1000) = 256.2811 ->
256.28). Last, bad input: 422 problem details naming the field, never a 500.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tests.api.helpers import assert_problem, create_lender

SIMULATE = "/v1/schedules/simulate"
COMPARE = "/v1/schedules/compare"
APR = "/v1/rates/apr"


def d(text: str) -> Decimal:
    return Decimal(text)


def loan(**changes: Any) -> dict[str, Any]:
    """1000 USD at 12 %/year (1 % a month) over 4 months, disbursed on 31 January 2024."""
    return {
        "principal": "1000.00",
        "currency": "USD",
        "annual_rate_percent": "12",
        "term": 4,
        "frequency": "monthly",
        "disbursement_date": "2024-01-31",
        **changes,
    }


def fineract(**changes: Any) -> dict[str, Any]:
    """The shared inputs of the Fineract cases: 5000 EUR at 12 %/year, 18 monthly, due on the 1st."""
    return {
        "principal": "5000",
        "currency": "EUR",
        "annual_rate_percent": "12",
        "term": 18,
        "frequency": "monthly",
        "disbursement_date": "2022-11-01",
        "first_repayment_date": "2022-12-01",
        **changes,
    }


@pytest.fixture()
def simulate(client, officer):
    def _simulate(body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = client.post(SIMULATE, json=body, headers=headers or officer)
        assert response.status_code == 200, response.text
        return response.json()

    return _simulate


@pytest.fixture()
def apr(client, finance):
    def _apr(body: dict[str, Any]) -> dict[str, Any]:
        response = client.post(APR, json=body, headers=finance)
        assert response.status_code == 200, response.text
        return response.json()

    return _apr


def rows(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(i["principal"], i["interest"]) for i in body["installments"]]


def pairs(text: str) -> list[tuple[str, str]]:
    return [tuple(pair.split("/")) for pair in text.split()]  # type: ignore[misc]


def words(text: str) -> list[str]:
    return text.split()


def codes(body: dict[str, Any]) -> list[str]:
    return [w["code"] for w in body["warnings"]]


def monthly(start: date, count: int, amount: str) -> list[dict[str, str]]:
    """`count` payments of `amount` on `start`'s day of each month (a day every month has)."""
    assert start.day <= 28
    months = [start.year * 12 + start.month - 1 + k for k in range(count)]
    return [{"date": date(m // 12, m % 12 + 1, start.day).isoformat(), "amount": amount} for m in months]


def at_two_places(rate: str) -> Decimal:
    return d(rate).quantize(d("0.01"))


ONE_PERCENT_ROWS = [("246.28", "10.00"), ("248.74", "7.54"), ("251.23", "5.05"), ("253.75", "2.54")]

# ---------------------------------------------------------------- every role may call


@pytest.mark.parametrize("role", ["admin", "loan_officer", "finance_lead", "partner"])
def test_any_authenticated_role_may_simulate_compare_and_price(client, admin, make_key, role):
    headers = make_key(role, create_lender(client, admin)["id"] if role == "partner" else None)
    assert client.post(SIMULATE, json=loan(), headers=headers).status_code == 200
    assert client.post(COMPARE, json=[loan()], headers=headers).status_code == 200
    flows = {
        "advances": [{"date": "2024-01-31", "amount": "100"}],
        "payments": [{"date": "2024-02-29", "amount": "101"}],
    }
    assert client.post(APR, json=flows, headers=headers).status_code == 200


def test_without_a_key_it_is_401(client):
    assert_problem(client.post(SIMULATE, json=loan()), 401)


# ---------------------------------------------------------------- the published schedules

# Source: apache/fineract, fineract-e2e-tests-runner/src/test/resources/features/LoanRepayment.feature
RS02 = pairs(
    "255.00/50.00 257.55/47.45 260.13/44.87 262.73/42.27 265.35/39.65 268.01/36.99 "
    "270.69/34.31 273.39/31.61 276.13/28.87 278.89/26.11 281.68/23.32 284.50/20.50 "
    "287.34/17.66 290.21/14.79 293.12/11.88 296.05/8.95 299.01/5.99 300.22/3.00"
)


def test_rs02_declining_balance_to_the_cent(simulate):
    # Source: Fineract LoanRepayment.feature, RS02: the raw PMT 304.91 rounds to 305.00 at a
    # multiple of 1; the last installment clears the balance, 300.22 + 3.00 = 303.22.
    body = simulate(fineract(installment_multiple="1"))
    assert body["currency"] == "EUR"
    assert body["installment_amount"] == "305.00"
    assert rows(body) == RS02
    assert [i["total"] for i in body["installments"]] == ["305.00"] * 17 + ["303.22"]
    first = body["installments"][0]
    assert first == {
        "number": 1,
        "due_date": "2022-12-01",
        "principal": "255.00",
        "interest": "50.00",
        "fees": "0.00",
        "total": "305.00",
        "balance": "4745.00",  # 5000.00 - 255.00
    }
    assert body["installments"][-1]["due_date"] == "2024-05-01"
    assert body["installments"][-1]["balance"] == "0.00"
    assert body["totals"] == {
        "principal": "5000.00",
        "interest": "488.22",
        "fees": "0.00",
        "total": "5488.22",
    }
    # Source: issue 3, the "Response 200" example, which is RS02's schedule
    assert (body["apr_percent"], body["eir_percent"]) == ("11.9996", "12.6820")
    assert body["warnings"] == []


def test_rs01_flat_to_the_cent(simulate):
    # Source: Fineract LoanRepayment.feature, RS01: 5000 x 1 % = 50.00 a month; 5000/18 + 50 =
    # 327.78 -> 328; 17 x 278.00/50.00 and a last 274.00/50.00; total interest 900.00.
    body = simulate(fineract(interest_method="flat", installment_multiple="1"))
    assert rows(body) == [("278.00", "50.00")] * 17 + [("274.00", "50.00")]
    assert body["totals"]["interest"] == "900.00"
    assert body["installment_amount"] == "328.00"
    # flat 12 % charges interest on money already repaid: 5000 = 328 x a(18, i) needs
    # a(18, i) = 15.24, i.e. i near 1.8 % a month, an APR near 21 %: above the 18 % cap as well
    assert codes(body) == ["APR_ABOVE_CAP", "FLAT_RATE_PROHIBITED"]


def test_rs04_equal_principal_to_the_cent(simulate):
    # Source: Fineract LoanRepayment.feature, RS04: principal 277.78 x 17 and 277.74; interest
    # on the declining balance; total interest 475.00; no level installment.
    body = simulate(fineract(amortization="equal_principal"))
    interest = words(
        "50.00 47.22 44.44 41.67 38.89 36.11 33.33 30.56 27.78 "
        "25.00 22.22 19.44 16.67 13.89 11.11 8.33 5.56 2.78"
    )
    assert [i["principal"] for i in body["installments"]] == ["277.78"] * 17 + ["277.74"]
    assert [i["interest"] for i in body["installments"]] == interest
    assert body["totals"]["interest"] == "475.00"
    assert body["installment_amount"] is None


def test_fineract_1250_at_15_percent_to_the_cent(simulate):
    # Source: Fineract LoanRepayment.feature: 1250 at 15 %/year over 4 months, multiple of 1,
    # disbursed 2023-09-01; 1250 x 1.25 % = 15.625 -> 15.62 (half-even).
    body = simulate(
        fineract(
            principal="1250",
            annual_rate_percent="15",
            term=4,
            disbursement_date="2023-09-01",
            first_repayment_date=None,
            installment_multiple="1",
        )
    )
    assert rows(body) == pairs("306.38/15.62 310.20/11.80 314.08/7.92 319.34/3.99")
    assert [i["total"] for i in body["installments"]] == ["322.00"] * 3 + ["323.33"]
    assert body["totals"]["interest"] == "39.33"
    assert body["installments"][0]["due_date"] == "2023-10-01"  # one month after disbursement


def test_numpy_financial_documentation_cases(simulate):
    # Source: numpy-financial docs: 2500 at 8.24 %/year over 12 months, first installment
    # principal 200.58, interest 17.17.
    body = simulate(loan(principal="2500", annual_rate_percent="8.24", term=12))
    assert rows(body)[0] == ("200.58", "17.17")
    # Source: numpy-financial docs: pmt(0.075/12, 180, 200000) = -1854.0247200054619 -> 1854.02
    body = simulate(loan(principal="200000", annual_rate_percent="7.5", term=180))
    assert body["installment_amount"] == "1854.02"


# ---------------------------------------------------------------- the published rates


def test_regulation_z_c_1_i_exact_response(apr):
    # Source: Regulation Z, Appendix J (c)(1)(i): 5000 on 1978-01-10, 24 x 230.00 monthly from
    # 1978-02-10; APR 9.69 %. Issue 3 publishes the whole response for it.
    body = apr(
        {
            "method": "actuarial",
            "unit_period": "month",
            "advances": [{"date": "1978-01-10", "amount": "5000.00"}],
            "payments": monthly(date(1978, 2, 10), 24, "230.00"),
        }
    )
    assert body == {"apr_percent": "9.6857", "periodic_rate": "0.00807142", "eir_percent": "10.1275"}
    assert at_two_places(body["apr_percent"]) == d("9.69")


def test_regulation_z_c_1_ii_odd_first_period(apr):
    # Source: Regulation Z, Appendix J (c)(1)(ii): 6000 on 1978-02-10, 36 x 200.00 monthly from
    # 1978-04-01 (t = 1, f = 19/30); APR 11.82 %.
    body = apr(
        {
            "advances": [{"date": "1978-02-10", "amount": "6000"}],
            "payments": monthly(date(1978, 4, 1), 36, "200.00"),
        }
    )
    assert at_two_places(body["apr_percent"]) == d("11.82")


def test_regulation_z_c_2_i_irregular_first_payment(apr):
    # Source: Regulation Z, Appendix J (c)(2)(i): 5000 on 1978-01-10; 250.00 on 1978-02-10, then
    # 23 x 230.00 monthly from 1978-03-10; APR 10.08 %.
    payments = [{"date": "1978-02-10", "amount": "250.00"}, *monthly(date(1978, 3, 10), 23, "230.00")]
    body = apr({"advances": [{"date": "1978-01-10", "amount": "5000"}], "payments": payments})
    assert at_two_places(body["apr_percent"]) == d("10.08")


def test_regulation_z_c_5_i_single_advance_single_payment(apr):
    # Source: Regulation Z, Appendix J (c)(5)(i): 1000 on 1978-01-03, 1080.00 on 1978-09-15; the
    # unit period is the 255-day term: i = 8 %, APR = 8 % x 365/255 = 11.45 %.
    body = apr(
        {
            "unit_period": "term",
            "advances": [{"date": "1978-01-03", "amount": "1000"}],
            "payments": [{"date": "1978-09-15", "amount": "1080.00"}],
        }
    )
    assert at_two_places(body["apr_percent"]) == d("11.45")
    assert body["periodic_rate"] == "0.08000000"


def test_eu_aprc_example_1(apr):
    # Source: European Commission, "Examples for the calculation of the APRC" (2015), example 1:
    # 200 000 with a 4 000 fee at the start (196 000 received), 240 x 1432.86 at t = k/12 years
    # (monthly from one anchor: whole months); APRC X = 6.434412 %. apr_percent carries the
    # 4 decimals of every rate in the API, 6.4344; the periodic rate, X itself with 8 decimals,
    # carries the published 6 decimals of the percentage.
    body = apr(
        {
            "method": "effective",
            "advances": [{"date": "2015-01-10", "amount": "196000"}],
            "payments": monthly(date(2015, 2, 10), 240, "1432.86"),
        }
    )
    assert body == {"apr_percent": "6.4344", "periodic_rate": "0.06434412", "eir_percent": "6.4344"}


# ---------------------------------------------------------------- each rule, once through HTTP


@pytest.mark.parametrize(
    ("frequency", "rate", "expected_dues"),
    [
        # months from one anchor, clamped: 31 Jan -> 29 Feb (2024), 31 Mar, 30 Apr, 31 May
        ("monthly", "12", ["2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31"]),
        ("quarterly", "4", ["2024-04-30", "2024-07-31", "2024-10-31", "2025-01-31"]),
        # weeks are 7-day steps: 28, 14 and 7 days
        ("every_4_weeks", "13", ["2024-02-28", "2024-03-27", "2024-04-24", "2024-05-22"]),
        ("biweekly", "26", ["2024-02-14", "2024-02-28", "2024-03-13", "2024-03-27"]),
        ("weekly", "52", ["2024-02-07", "2024-02-14", "2024-02-21", "2024-02-28"]),
    ],
)
def test_each_frequency(simulate, frequency, rate, expected_dues):
    # 12 %/12 = 4 %/4 = 13 %/13 = 26 %/26 = 52 %/52 = 1 % a period. Balances after each
    # installment: 753.72, 504.98, 253.75; interest 10.00, 7.54, 5.05 (5.0498), 2.54 (2.5375).
    body = simulate(loan(frequency=frequency, annual_rate_percent=rate))
    assert body["installment_amount"] == "256.28"
    assert rows(body) == ONE_PERCENT_ROWS
    assert [i["due_date"] for i in body["installments"]] == expected_dues
    assert [i["balance"] for i in body["installments"]] == ["753.72", "504.98", "253.75", "0.00"]


@pytest.mark.parametrize(
    ("day_count", "expected"),
    [
        # 29 days then 31: 1000 x 0.12 x 29/365 = 9.5342 -> 9.53; 502.02 x 0.12 x 31/365 = 5.1165 -> 5.12
        ("actual/365", [("497.98", "9.53"), ("502.02", "5.12")]),
        # 1000 x 0.12 x 29/360 = 9.6667 -> 9.67; 502.16 x 0.12 x 31/360 = 5.1890 -> 5.19
        ("actual/360", [("497.84", "9.67"), ("502.16", "5.19")]),
        # 2024 is a leap year: 1000 x 0.12 x 29/366 = 9.5082 -> 9.51; 502.00 x 0.12 x 31/366 = 5.10
        ("actual/actual", [("498.00", "9.51"), ("502.00", "5.10")]),
        # bond basis: 31 Jan -> 29 Feb = 29 days; 29 Feb -> 31 Mar = 32 (the 31st stays, the
        # start being the 29th): 502.16 x 0.12 x 32/360 = 5.3564 -> 5.36
        ("30/360", [("497.84", "9.67"), ("502.16", "5.36")]),
    ],
)
def test_each_day_count_with_daily_interest(simulate, day_count, expected):
    # the level is still PMT(1 %, 2, 1000) = 507.5124 -> 507.51, whatever the calendar
    body = simulate(loan(term=2, interest_calculation="daily", day_count=day_count))
    assert body["installment_amount"] == "507.51"
    assert rows(body) == expected


def test_due_dates_anchor_over_month_ends(simulate):
    # disbursed 31 January: 29 February (leap year), then back to 31 March, 30 April, 31 May
    body = simulate(loan())
    assert [i["due_date"] for i in body["installments"]] == [
        "2024-02-29",
        "2024-03-31",
        "2024-04-30",
        "2024-05-31",
    ]
    # with first_repayment_date as the anchor, k-1 months after it, its own day kept: the 30th
    body = simulate(loan(disbursement_date="2024-01-10", first_repayment_date="2024-01-30"))
    assert [i["due_date"] for i in body["installments"]] == [
        "2024-01-30",
        "2024-02-29",
        "2024-03-30",
        "2024-04-30",
    ]


def test_principal_grace(simulate):
    # installment 1 is interest only (10.00); then PMT(1 %, 3, 1000) = 340.0221 -> 340.02:
    # 330.02/10.00 (balance 669.98), 333.32/6.70, 336.66/3.37
    body = simulate(loan(grace_principal_periods=1))
    assert body["installment_amount"] == "340.02"
    assert rows(body) == [("0.00", "10.00"), ("330.02", "10.00"), ("333.32", "6.70"), ("336.66", "3.37")]


def test_interest_payment_grace(simulate):
    # installment 1 shows no interest but accrues 10.00 (its principal is still 256.28 - 10.00);
    # installment 2 carries its own 7.54 plus the deferred 10.00, not compounded
    body = simulate(loan(grace_interest_periods=1))
    assert rows(body) == [("246.28", "0.00"), ("248.74", "17.54"), ("251.23", "5.05"), ("253.75", "2.54")]
    assert body["totals"]["interest"] == "25.13"


def test_interest_free_periods(simulate):
    # period 1 accrues nothing, so the level 256.28 is all principal; 743.72 x 1 % = 7.44 and
    # 248.84; 494.88 -> 4.95 and 251.33; the last is smaller: 243.55 + 2.44 = 245.99
    body = simulate(loan(interest_free_periods=1))
    assert rows(body) == [("256.28", "0.00"), ("248.84", "7.44"), ("251.33", "4.95"), ("243.55", "2.44")]
    assert body["installments"][-1]["total"] == "245.99"


def test_installment_multiple(simulate):
    # 256.28 / 5 = 51.256 -> 51 x 5 = 255.00; balances 755.00, 507.55, 257.63
    body = simulate(loan(installment_multiple="5"))
    assert body["installment_amount"] == "255.00"
    assert rows(body) == [("245.00", "10.00"), ("247.45", "7.55"), ("249.92", "5.08"), ("257.63", "2.58")]


@pytest.mark.parametrize(
    ("rounding", "expected"),
    [
        # 1250 x 1.25 % = 15.625: 15.62 half-even (the Fineract case) ...
        ("half_even", "306.38/15.62 310.20/11.80 314.08/7.92 319.34/3.99"),
        # ... 15.63 half-up; then 943.63 x 1.25 % = 11.795375 -> 11.80, 633.43 -> 7.92,
        # 319.35 x 1.25 % = 3.991875 -> 3.99
        ("half_up", "306.37/15.63 310.20/11.80 314.08/7.92 319.35/3.99"),
    ],
)
def test_both_rounding_modes(simulate, rounding, expected):
    body = simulate(
        loan(principal="1250", annual_rate_percent="15", installment_multiple="1", rounding=rounding)
    )
    assert rows(body) == pairs(expected)


def test_khr_has_no_minor_unit(simulate):
    # 4 000 000 riel at 18 % (1.5 % a month) over 12: PMT = 366 719.97 -> 366 720 -> 366 700 at a
    # multiple of 100; interest 60 000, principal 306 700; then 3 693 300 x 1.5 % = 55 399.5, a
    # tie -> 55 400 (even), principal 311 300. Whole riel travel without a decimal point.
    body = simulate(
        loan(
            principal="4000000", currency="KHR", annual_rate_percent="18", term=12, installment_multiple="100"
        )
    )
    assert body["currency"] == "KHR"
    assert body["installment_amount"] == "366700"
    assert rows(body)[:2] == [("306700", "60000"), ("311300", "55400")]
    assert body["installments"][0]["balance"] == "3693300"
    assert body["totals"]["principal"] == "4000000"
    assert all("." not in i["total"] for i in body["installments"])


def test_fees_of_both_timings(simulate):
    # 2 % upfront of 1000 = 20.00 withheld at disbursement; 1.50 added to each of 12 installments.
    # Interest is untouched: PMT(1 %, 12, 1000) = 88.8488 -> 88.85, so each total is 90.35.
    body = simulate(
        loan(
            term=12,
            fees=[
                {"name": "admin", "percent": "2", "timing": "upfront"},
                {"name": "service", "amount": "1.50", "timing": "per_installment"},
            ],
        )
    )
    plain = simulate(loan(term=12))
    assert [i["interest"] for i in body["installments"]] == [i["interest"] for i in plain["installments"]]
    first = body["installments"][0]
    assert (first["fees"], first["total"]) == ("1.50", "90.35")
    assert body["totals"]["fees"] == "38.00"  # 20.00 + 12 x 1.50
    assert d(body["totals"]["total"]) == d(plain["totals"]["total"]) + d("38.00")
    # 980 received = 90.35 x a(12, i): a = 10.8467 lies between a(12, 1.5 %) = 10.9075 and
    # a(12, 1.6 %) = 10.8399, so the APR is about 19.1 %: fees push a 12 % loan over the cap
    assert d("18.8") < d(body["apr_percent"]) < d("19.4")
    assert codes(body) == ["APR_ABOVE_CAP"]


def test_a_tranche_on_a_due_date_with_per_period_interest(simulate):
    # 1000 at 1 % a month over 6, disbursed 15 Jan; 500 more on 15 Mar (the 2nd due date).
    # PMT(1 %, 6, 1000) = 172.5484 -> 172.55: 162.55/10.00 (837.45), 164.18/8.37 (673.27).
    # The tranche joins after installment 2: 1173.27, PMT(1 %, 4, 1173.27) = 300.6869 -> 300.69:
    # 288.96/11.73, 291.85/8.84, 294.77/5.92, 297.69/2.98.
    body = simulate(
        loan(term=6, disbursement_date="2024-01-15", tranches=[{"date": "2024-03-15", "amount": "500"}])
    )
    assert body["installment_amount"] == "172.55"
    assert rows(body) == pairs("162.55/10.00 164.18/8.37 288.96/11.73 291.85/8.84 294.77/5.92 297.69/2.98")
    assert body["installments"][1]["balance"] == "673.27"  # the tranche joins after it
    assert body["totals"]["principal"] == "1500.00"


def test_a_tranche_inside_a_period_with_daily_interest(simulate):
    # 1000 at 12 %, actual/365, disbursed 1 Jan 2023; 500 more on 21 Jan. Period 1 accrues
    # 1000 x 0.12 x 20/365 + 1500 x 0.12 x 11/365 = 4380/365 = 12.00; the level is recomputed:
    # PMT(1 %, 3, 1500) = 510.0332 -> 510.03: 498.03/12.00 (1001.97); 28 days: 9.2236 -> 9.22
    # and 500.81; 31 days on 501.16: 5.1077 -> 5.11 and 501.16.
    body = simulate(
        loan(
            term=3,
            disbursement_date="2023-01-01",
            interest_calculation="daily",
            tranches=[{"date": "2023-01-21", "amount": "500"}],
        )
    )
    assert rows(body) == pairs("498.03/12.00 500.81/9.22 501.16/5.11")
    assert body["installment_amount"] == "340.02"  # before the tranche: PMT(1 %, 3, 1000)


# ---------------------------------------------------------------- the Cambodian warnings


def test_nominal_rate_above_the_cap(simulate):
    # 24 % a year is above the 18 % cap, and without fees its APR is about 24 % too
    body = simulate(loan(annual_rate_percent="24"))
    assert codes(body) == ["NOMINAL_RATE_ABOVE_CAP", "APR_ABOVE_CAP"]
    assert all(w["message"] for w in body["warnings"])


def test_a_big_upfront_fee_at_18_percent_breaks_the_apr_cap(simulate):
    # 3000 at 18 % over 12: PMT(1.5 %, 12, 3000) = 275.04; a 5 % fee leaves 2850 received, and
    # 2850 = 275.04 x a(12, i) needs a = 10.362: between a(12, 2.3 %) = 10.39 and a(12, 2.4 %) =
    # 10.33, an APR near 28 %. The nominal 18 % itself is at the cap, not above it.
    fee = {"name": "admin", "percent": "5", "timing": "upfront"}
    body = simulate(loan(principal="3000", annual_rate_percent="18", term=12, fees=[fee]))
    assert codes(body) == ["APR_ABOVE_CAP"]
    assert d("27") < d(body["apr_percent"]) < d("29")


def test_flat_rate_is_prohibited(simulate):
    # 1000 flat at 8 % over 12: 83.33 + 6.67 = 90.00 a month; 1000/90 = 11.11 = a(12, i) at about
    # i = 1.2 %, an APR near 14.5 %: under the cap, so flat interest is the only warning
    body = simulate(loan(annual_rate_percent="8", term=12, interest_method="flat"))
    assert codes(body) == ["FLAT_RATE_PROHIBITED"]


def test_at_the_cap_without_fees_there_is_no_warning(simulate):
    body = simulate(loan(principal="3000", annual_rate_percent="18", term=36))
    assert body["warnings"] == []
    assert abs(d(body["apr_percent"]) - d("18")) < d("0.05")


def test_money_and_rates_travel_as_strings(simulate):
    body = simulate(loan(fees=[{"name": "service", "amount": "1", "timing": "per_installment"}]))
    for row in body["installments"]:
        assert all(isinstance(row[k], str) for k in ("principal", "interest", "fees", "total", "balance"))
    assert all(isinstance(v, str) for v in body["totals"].values())
    assert all(isinstance(body[k], str) for k in ("installment_amount", "apr_percent", "eir_percent"))
    assert len(body["apr_percent"].split(".")[1]) == 4


# ---------------------------------------------------------------- compare


def test_compare_three_offers_side_by_side(client, officer, simulate):
    # 3000 USD over 24 months, three ways:
    # A. 18 % declining, no fee: PMT(1.5 %, 24, 3000) = 45 / (1 - 1.015^-24) = 149.77; APR ~ 18.0
    # B. 14 % declining, 2 % upfront: PMT(1.1667 %, 24, 3000) = 144.04; 2940 = 144.04 x a(24, i),
    #    a = 20.41 between a(24, 1.30 %) = 20.50 and a(24, 1.35 %) = 20.39: APR ~ 16.1
    # C. 11 % flat: 125.00 + 27.50 = 152.50; 3000/152.5 = 19.67 = a(24, i) at i ~ 1.63 %: APR ~ 19.6
    # The cheapest by APR is B (index 1), though its nominal rate is not the only difference;
    # by shown APR the ranks are B 1, A 2, C 3.
    offers = [
        loan(label="A", principal="3000", annual_rate_percent="18", term=24),
        loan(
            label="B",
            principal="3000",
            annual_rate_percent="14",
            term=24,
            fees=[{"name": "admin", "percent": "2"}],
        ),
        loan(label="C", principal="3000", annual_rate_percent="11", term=24, interest_method="flat"),
    ]
    response = client.post(COMPARE, json=offers, headers=officer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cheapest_index"] == 1
    summaries = body["offers"]
    assert [s["index"] for s in summaries] == [0, 1, 2]
    assert [s["rank"] for s in summaries] == [2, 1, 3]
    assert all(s["apr_percent_shown"] == str(d(s["apr_percent"]).quantize(d("0.01"))) for s in summaries)
    assert [s["label"] for s in summaries] == ["A", "B", "C"]
    assert [s["installment_amount"] for s in summaries] == ["149.77", "144.04", "152.50"]
    assert [s["total_fees"] for s in summaries] == ["0.00", "60.00", "0.00"]
    assert summaries[2]["total_interest"] == "660.00"  # flat: 27.50 x 24
    for offer, summary in zip(offers, summaries, strict=True):
        alone = simulate(offer)  # each summary is the offer's own simulation, summed up
        totals = alone["totals"]
        assert summary["currency"] == "USD"
        assert (summary["principal"], summary["term"], summary["frequency"]) == ("3000.00", 24, "monthly")
        assert summary["installment_amount"] == alone["installment_amount"]
        assert summary["largest_installment"] == max((i["total"] for i in alone["installments"]), key=d)
        assert summary["total_interest"] == totals["interest"]
        assert summary["total_fees"] == totals["fees"]
        assert d(summary["total_cost"]) == d(totals["interest"]) + d(totals["fees"])
        assert summary["total_paid"] == totals["total"]
        assert (summary["apr_percent"], summary["eir_percent"]) == (
            alone["apr_percent"],
            alone["eir_percent"],
        )
        assert summary["warnings"] == alone["warnings"]
    assert d("17.95") < d(summaries[0]["apr_percent"]) < d("18.05")
    assert d("15.6") < d(summaries[1]["apr_percent"]) < d("16.6")
    assert d("19.1") < d(summaries[2]["apr_percent"]) < d("20.1")
    assert [w["code"] for w in summaries[2]["warnings"]] == ["APR_ABOVE_CAP", "FLAT_RATE_PROHIBITED"]


def test_compare_offers_in_different_currencies_names_no_cheapest(client, officer):
    offers = [loan(), loan(principal="4000000", currency="KHR")]
    body = client.post(COMPARE, json=offers, headers=officer).json()
    assert body["cheapest_index"] is None
    assert [s["currency"] for s in body["offers"]] == ["USD", "KHR"]
    assert [s["rank"] for s in body["offers"]] == [None, None]  # not ranked across currencies


# Ranking by the APR as shown. 3,000 USD over 24 months, declining balance, no fee: the APR is the
# nominal rate but for the rounding of the installments to the cent. Worked period by period
# (interest = balance x rate / 12 rounded half-even, the last installment clears the balance) and
# the APR found by bisection on the present value of those payments, independently of the engine:
#   18 %:      PMT = 3000 x 0.015 / (1 - 1.015^-24) = 149.7723 -> 149.77, last 149.84; APR 18.000096
#   17.9994 %: PMT = 149.7714 -> 149.77, last 149.81; APR 17.999373
#   17.99 %:   PMT = 149.7578 -> 149.76, last 149.70; APR 17.990064
# shown with 4 decimals: 18.0001, 17.9994, 17.9901; with 2: 18.00, 18.00, 17.99.


def _usd_3000(rate: str, **changes: Any) -> dict[str, Any]:
    return loan(principal="3000", annual_rate_percent=rate, term=24, **changes)


def test_offers_whose_aprs_differ_past_the_shown_decimals_share_the_rank_and_name_no_winner(client, officer):
    # 18.0001 against 17.9994: 0.0007 apart, both shown 18.00: rounding noise names no winner.
    # An 11 % flat offer (APR about 19.6, see above) comes third: competition ranking 1, 1, 3.
    offers = [_usd_3000("18"), _usd_3000("17.9994"), _usd_3000("11", interest_method="flat")]
    response = client.post(COMPARE, json=offers, headers=officer)
    assert response.status_code == 200, response.text
    body = response.json()
    summaries = body["offers"]
    assert [s["apr_percent"] for s in summaries[:2]] == ["18.0001", "17.9994"]
    assert [s["apr_percent_shown"] for s in summaries[:2]] == ["18.00", "18.00"]
    assert [s["rank"] for s in summaries] == [1, 1, 3]
    assert body["cheapest_index"] is None


def test_a_shown_difference_names_the_cheapest(client, officer):
    # 18.0001 (shown 18.00) against 17.9901 (shown 17.99): the 17.99 % offer is the cheapest
    body = client.post(COMPARE, json=[_usd_3000("18"), _usd_3000("17.99")], headers=officer).json()
    summaries = body["offers"]
    assert [(s["apr_percent"], s["apr_percent_shown"]) for s in summaries] == [
        ("18.0001", "18.00"),
        ("17.9901", "17.99"),
    ]
    assert [s["rank"] for s in summaries] == [2, 1]
    assert body["cheapest_index"] == 1


def test_identical_offers_share_rank_one(client, officer):
    body = client.post(COMPARE, json=[loan(), loan()], headers=officer).json()
    assert [s["rank"] for s in body["offers"]] == [1, 1]
    assert body["cheapest_index"] is None


def test_a_single_offer_is_the_cheapest(client, officer):
    body = client.post(COMPARE, json=[loan()], headers=officer).json()
    assert ([s["rank"] for s in body["offers"]], body["cheapest_index"]) == ([1], 0)


def test_compare_takes_at_most_20_offers(client, officer):
    assert client.post(COMPARE, json=[loan()] * 20, headers=officer).status_code == 200
    body = assert_problem(client.post(COMPARE, json=[loan()] * 21, headers=officer), 422)
    assert body["errors"][0]["loc"] == ["body"]


def test_compare_names_the_offer_at_fault(client, officer):
    body = assert_problem(
        client.post(COMPARE, json=[loan(), loan(grace_principal_periods=4)], headers=officer), 422
    )
    assert body["errors"][0]["loc"] == ["body", 1, "grace_principal_periods"]


# ---------------------------------------------------------------- bad input: 422 naming the field


def _tranche(when: str, amount: str = "100") -> dict[str, Any]:
    return {"tranches": [{"date": when, "amount": amount}]}


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"principal": "0"}, ["body", "principal"]),
        ({"principal": "-5"}, ["body", "principal"]),
        ({"principal": "10.005"}, ["body", "principal"]),  # below the cent
        ({"principal": 1000.5}, ["body", "principal"]),  # a JSON float is never money
        ({"term": 0}, ["body", "term"]),
        ({"annual_rate_percent": "-1"}, ["body", "annual_rate_percent"]),
        ({"frequency": "daily"}, ["body", "frequency"]),
        ({"interest_method": "compound"}, ["body", "interest_method"]),
        ({"day_count": "30/365"}, ["body", "day_count"]),
        ({"currency": "XYZ"}, ["body", "currency"]),
        # grace that leaves no installment to repay principal, or to collect deferred interest
        ({"grace_principal_periods": 4}, ["body", "grace_principal_periods"]),
        ({"grace_interest_periods": 4}, ["body", "grace_interest_periods"]),
        ({"interest_free_periods": 5}, ["body", "interest_free_periods"]),
        # tranches outside the loan: before the disbursement, on or after the last due date
        (_tranche("2024-01-30"), ["body", "tranches", 0, "date"]),
        (_tranche("2024-05-31"), ["body", "tranches", 0, "date"]),
        # off a due date with per_period interest (due dates: 29 Feb, 31 Mar, ...)
        (_tranche("2024-03-01"), ["body", "tranches", 0, "date"]),
        ({"interest_method": "flat", **_tranche("2024-02-29")}, ["body", "tranches"]),
        ({"fees": [{"name": "admin", "percent": "100"}]}, ["body", "fees"]),
        ({"first_repayment_date": "2024-01-31"}, ["body", "first_repayment_date"]),
        ({"colour": "blue"}, ["body", "colour"]),
    ],
)
def test_bad_simulations_are_422_naming_the_field(client, officer, changes, loc):
    body = assert_problem(client.post(SIMULATE, json=loan(**changes), headers=officer), 422)
    assert loc in [e["loc"] for e in body["errors"]], body


def test_a_tranche_off_a_due_date_has_its_own_code(client, officer):
    assert_problem(
        client.post(SIMULATE, json=loan(**_tranche("2024-03-01")), headers=officer),
        422,
        "TRANCHE_OFF_DUE_DATE",
    )


def test_an_unknown_field_is_called_so(client, officer):
    body = assert_problem(client.post(SIMULATE, json=loan(colour="blue"), headers=officer), 422)
    assert body["errors"][0]["msg"] == "unknown field"


@pytest.mark.parametrize(
    ("flows", "loc", "code"),
    [
        # no payments at all
        ({"payments": []}, ["body", "payments"], None),
        # 24 x 100 = 2400 repays less than the 5000 lent: no rate exists
        ({"payments": monthly(date(1978, 2, 10), 24, "100.00")}, ["body", "payments"], "NO_RATE_SOLUTION"),
        # a payment before the advance
        ({"payments": [{"date": "1977-12-10", "amount": "6000"}]}, ["body", "payments"], "NO_RATE_SOLUTION"),
        ({"method": "yearly"}, ["body", "method"], None),
        ({"unit_period": "fortnight"}, ["body", "unit_period"], None),
        ({"advances": [{"date": "1978-01-10", "amount": 5000.5}]}, ["body", "advances", 0, "amount"], None),
        # the term unit period needs one advance and one payment
        ({"unit_period": "term"}, ["body", "unit_period"], "INVALID_UNIT_PERIOD"),
    ],
)
def test_bad_cash_flows_are_422_naming_the_field(client, finance, flows, loc, code):
    body = {
        "advances": [{"date": "1978-01-10", "amount": "5000.00"}],
        "payments": monthly(date(1978, 2, 10), 24, "230.00"),
        **flows,
    }
    problem = assert_problem(client.post(APR, json=body, headers=finance), 422, code)
    assert loc in [e["loc"] for e in problem["errors"]], problem
