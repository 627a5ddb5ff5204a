"""Repayments told as a family's year: on time, then late, a partial payment, reversals, a file from
the partner MFI, and finally a write-off confirmed by a second key.

The loan: 1,200 USD from the partner MFI at 18 %/year over 12 monthly installments, released in one
tranche on 2026-01-10, so installment k is due on the 10th, k months later.
  rate per month        = 18 % / 12 = 1.5 %
  PMT                   = 1200 x 0.015 / (1 - 1.015^-12) = 110.0160 -> 110.02
  installment 1         : interest 1200.00 x 0.015 = 18.00, principal 110.02 - 18.00 = 92.02, balance 1107.98
  installment 2         : interest 1107.98 x 0.015 = 16.6197 -> 16.62, principal 93.40, balance 1014.58
  installment 3         : interest 1014.58 x 0.015 = 15.2187 -> 15.22, principal 94.80, balance 919.78
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tests.api.helpers import assert_problem
from tests.api.lending import apply, approve, business_day, late_fee_loan, lending_world, release


def set_day(monkeypatch, day: date) -> None:
    business_day(monkeypatch, day)


@pytest.fixture()
def loan(client, session, monkeypatch):
    world = lending_world(client, session)
    set_day(monkeypatch, date(2026, 1, 5))
    applied = apply(
        client, world["partner_1"], world["household"]["id"], world["cash_product"]["id"], "1200", 12
    )
    approve(client, world["partner_2"], applied["id"])
    set_day(monkeypatch, date(2026, 1, 10))
    release(client, world["partner_1"], applied["id"], "1200", "foundation", date(2026, 1, 10))
    return world, applied["id"]


def pay(client, headers, loan_id, amount, paid_on, reference, **extra):
    body = {"amount": amount, "paid_on": paid_on.isoformat(), "reference": reference}
    return client.post(f"/v1/loans/{loan_id}/repayments", headers=headers, json=body, **extra)


def arrears(client, headers, loan_id, as_of):
    response = client.get(
        f"/v1/loans/{loan_id}/arrears", headers=headers, params={"as_of": as_of.isoformat()}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_year_of_payments_late_partial_and_reversed(client, loan, monkeypatch):
    world, loan_id = loan
    partner = world["partner_1"]
    set_day(monkeypatch, date(2026, 6, 1))

    # On time for installment 1: 110.02 = 18.00 interest + 92.02 principal.
    first = pay(client, partner, loan_id, "110.02", date(2026, 2, 10), "R-1")
    assert first.status_code == 201, first.text
    assert first.json()["allocations"] == [
        {"number": 1, "principal": "92.02", "interest": "18.00", "fees": "0.00", "penalty": "0.00"}
    ]
    assert first.json()["outstanding_principal"] == "1107.98"  # 1200.00 - 92.02

    # Late and partial for installment 2: 50.00 pays its interest first (16.62), then 33.38 principal.
    second = pay(client, partner, loan_id, "50.00", date(2026, 3, 20), "R-2")
    assert second.status_code == 201, second.text
    assert second.json()["allocations"] == [
        {"number": 2, "principal": "33.38", "interest": "16.62", "fees": "0.00", "penalty": "0.00"}
    ]

    # As of 1 June: installment 2 (due 10 March) still owes 110.02 - 50.00 = 60.02, and installments 3 and 4
    # (10 April, 10 May) are unpaid: overdue 60.02 + 110.02 + 110.02 = 280.06.
    # Days past due from 10 March: 21 (to 31 March) + 30 (April) + 31 (May) + 1 = 83 -> bucket 61-90.
    # A 12-month loan is graded on the short-term table: 61-90 days is doubtful, provisioned at 50 %.
    # Outstanding principal 1200.00 - 92.02 - 33.38 = 1074.60; provision 537.30.
    june = arrears(client, partner, loan_id, date(2026, 6, 1))
    assert (june["days_past_due"], june["bucket"], june["classification"]) == (83, "61-90", "doubtful")
    assert june["overdue_amount"] == "280.06"
    assert june["outstanding_principal"] == "1074.60"
    assert june["provision"] == "537.30"

    # As of 15 March only installment 2 was late, by 5 days, and nothing of it had been paid yet.
    march = arrears(client, partner, loan_id, date(2026, 3, 15))
    assert (march["days_past_due"], march["overdue_amount"]) == (5, "110.02")

    # The partial payment is reversed (the cheque bounced): installment 2 owes 110.02 again.
    reversed_ = client.post(
        f"/v1/repayments/{second.json()['id']}/reverse",
        headers=partner,
        json={"reason": "cheque returned unpaid"},
    )
    assert reversed_.status_code == 200, reversed_.text
    assert reversed_.json()["reversed"] is True
    after = arrears(client, partner, loan_id, date(2026, 6, 1))
    assert after["overdue_amount"] == "330.06"  # 3 x 110.02
    assert after["outstanding_principal"] == "1107.98"

    # Reversing the first payment too brings back the arrears it had cleared: late since 10 February,
    # 18 (to 28 Feb) + 31 + 30 + 31 + 1 = 111 days -> 91-180, and a short-term loan past 90 days is loss.
    client.post(
        f"/v1/repayments/{first.json()['id']}/reverse", headers=partner, json={"reason": "posted twice"}
    )
    worst = arrears(client, partner, loan_id, date(2026, 6, 1))
    assert (worst["days_past_due"], worst["bucket"], worst["classification"]) == (111, "91-180", "loss")
    assert worst["provision"] == "1200.00"  # 100 % of the whole principal

    # Nothing was deleted: both payments are still listed, marked reversed.
    listed = client.get(f"/v1/loans/{loan_id}/repayments", headers=partner).json()["items"]
    assert [(r["reference"], r["reversed"]) for r in listed] == [("R-1", True), ("R-2", True)]
    history = client.get(f"/v1/loans/{loan_id}/history", headers=partner).json()["items"]
    assert [h["action"] for h in history][-4:] == ["repaid", "repaid", "reversed", "reversed"]


def test_paying_everything_closes_the_loan_and_more_is_refused(client, loan, monkeypatch, db_state):
    world, loan_id = loan
    partner = world["partner_1"]
    set_day(monkeypatch, date(2026, 3, 1))
    schedule = client.get(f"/v1/loans/{loan_id}/schedule", headers=partner).json()["installments"]
    # Everything owed on Feb 10: the installments whose period has begun (up to the first due on
    # or after Feb 10), in full, and the principal of the later ones; never their interest.
    on = "2026-02-10"
    current = next(k for k, i in enumerate(schedule) if i["due_date"] >= on)
    begun, later = schedule[: current + 1], schedule[current + 1 :]
    everything = sum(Decimal(i["total"]) for i in begun) + sum(Decimal(i["principal"]) for i in later)
    quote = client.get(f"/v1/loans/{loan_id}/payoff", headers=partner, params={"on": on}).json()
    assert Decimal(quote["amount"]) == everything

    before = db_state()
    too_much = pay(client, partner, loan_id, str(everything + Decimal("0.01")), date(2026, 2, 10), "R-big")
    assert_problem(too_much, 409, "OVERPAYMENT")
    # the whole schedule, future interest included, is more than the loan owes
    whole = sum(Decimal(i["total"]) for i in schedule)
    assert whole > everything
    whole_paid = pay(client, partner, loan_id, str(whole), date(2026, 2, 10), "R-whole")
    assert_problem(whole_paid, 409, "OVERPAYMENT")
    assert db_state() == before

    # Everything at once closes the loan: the current installment, then the rest on principal.
    paid = pay(client, partner, loan_id, str(everything), date(2026, 2, 10), "R-all")
    assert paid.status_code == 201, paid.text
    assert paid.json()["loan_status"] == "closed"
    assert paid.json()["outstanding_principal"] == "0.00"
    assert [a["number"] for a in paid.json()["allocations"]] == list(range(1, current + 2))
    assert Decimal(paid.json()["prepaid_principal"]) == sum(Decimal(i["principal"]) for i in later)
    again = pay(client, partner, loan_id, "1.00", date(2026, 2, 11), "R-after")
    assert_problem(again, 409, "ILLEGAL_TRANSITION")


def test_bad_payments_are_refused_and_change_nothing(client, loan, monkeypatch, db_state):
    world, loan_id = loan
    partner = world["partner_1"]
    set_day(monkeypatch, date(2026, 3, 1))
    before = db_state()
    for amount in ("0", "-5", "10.001"):
        response = pay(client, partner, loan_id, amount, date(2026, 2, 10), f"R-{amount}")
        assert response.status_code == 422, (amount, response.text)
    assert_problem(pay(client, partner, loan_id, "10", date(2026, 3, 2), "R-future"), 422, "DATE_IN_FUTURE")
    early = pay(client, partner, loan_id, "10", date(2026, 1, 9), "R-early")
    assert_problem(early, 422, "DATE_BEFORE_PREVIOUS_STEP")
    # The materials bank's loan officer does not collect on a partner MFI's loan.
    assert_problem(pay(client, world["officer_1"], loan_id, "10", date(2026, 2, 10), "R-o"), 403)
    assert db_state() == before
    assert pay(client, partner, loan_id, "10", date(2026, 2, 10), "R-ok").status_code == 201
    assert_problem(pay(client, partner, loan_id, "10", date(2026, 2, 11), "R-ok"), 409, "DUPLICATE_REFERENCE")


def _csv(rows: list[str]) -> bytes:
    return ("loan_id,paid_on,amount,reference\n" + "\n".join(rows) + "\n").encode()


def test_the_same_file_twice_records_each_payment_once(client, loan, monkeypatch):
    world, loan_id = loan
    partner = world["partner_1"]
    set_day(monkeypatch, date(2026, 4, 1))
    data = _csv([f"{loan_id},2026-02-10,110.02,F-1", f"{loan_id},2026-03-10,110.02,F-2"])
    first = client.post(
        "/v1/repayments/import", headers=partner, files={"file": ("march.csv", data, "text/csv")}
    )
    assert first.status_code == 200, first.text
    assert first.json() == {"recorded": 2, "duplicates": 0, "rejected": []}
    second = client.post(
        "/v1/repayments/import", headers=partner, files={"file": ("march.csv", data, "text/csv")}
    )
    assert second.json() == {"recorded": 0, "duplicates": 2, "rejected": []}
    # Two installments of 110.02 paid on their due dates: nothing overdue on 1 April.
    assert arrears(client, partner, loan_id, date(2026, 4, 1))["days_past_due"] == 0
    assert client.get(f"/v1/loans/{loan_id}/repayments", headers=partner).json()["total"] == 2


def test_one_bad_row_records_nothing_unless_valid_rows(client, loan, monkeypatch, db_state):
    world, loan_id = loan
    partner = world["partner_1"]
    set_day(monkeypatch, date(2026, 4, 1))
    data = _csv(
        [
            f"{loan_id},2026-02-10,110.02,F-1",
            "no-such-loan,2026-02-10,10.00,F-9",
            f"{loan_id},2026-13-01,5,F-3",
            f"{loan_id},2026-03-10,-1,F-4",
        ]
    )
    before = db_state()
    refused = client.post(
        "/v1/repayments/import", headers=partner, files={"file": ("m.csv", data, "text/csv")}
    )
    assert_problem(refused, 422, "ROWS_REJECTED")
    body = refused.json()
    assert body["recorded"] == 0
    # line 1 is the header: the unknown loan is line 3, the bad date line 4, the negative amount line 5
    assert [r["line"] for r in body["rejected"]] == [3, 4, 5]
    assert "unknown loan" in body["rejected"][0]["reason"]
    assert db_state() == before

    partial = client.post(
        "/v1/repayments/import",
        headers=partner,
        params={"mode": "valid_rows"},
        files={"file": ("m.csv", data, "text/csv")},
    )
    assert partial.status_code == 200, partial.text
    assert partial.json()["recorded"] == 1
    assert [r["line"] for r in partial.json()["rejected"]] == [3, 4, 5]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"loan_id,amount,reference\nx,1,r\n", "MISSING_COLUMNS"),
        ("loan_id,paid_on,amount,reference\nx,2026-01-01,1,caf\u00e9\n".encode("latin-1"), "BAD_ENCODING"),
        (b"", "EMPTY_FILE"),
    ],
)
def test_unreadable_files_get_a_clear_problem(client, loan, monkeypatch, db_state, data, code):
    world, _ = loan
    before = db_state()
    response = client.post(
        "/v1/repayments/import", headers=world["partner_1"], files={"file": ("bad.csv", data, "text/csv")}
    )
    assert_problem(response, 422, code)
    assert db_state() == before


def test_a_file_of_100000_rows_is_refused_whole(client, loan, db_state):
    world, loan_id = loan
    data = _csv([f"{loan_id},2026-02-10,1.00,BULK-{n}" for n in range(100_000)])
    before = db_state()
    response = client.post(
        "/v1/repayments/import", headers=world["partner_1"], files={"file": ("big.csv", data, "text/csv")}
    )
    assert_problem(response, 422, "TOO_MANY_ROWS")
    assert db_state() == before


def test_a_write_off_needs_180_days_and_a_second_key(client, loan, monkeypatch):
    world, loan_id = loan
    p1, p2 = world["partner_1"], world["partner_2"]
    set_day(monkeypatch, date(2026, 6, 1))
    assert pay(client, p1, loan_id, "110.02", date(2026, 2, 10), "R-1").status_code == 201
    # 1 June: late since 10 March, 83 days (see the story above): too early.
    early = client.post(f"/v1/loans/{loan_id}/write-off", headers=p1, json={"reason": "family left"})
    assert_problem(early, 409, "NOT_WRITE_OFF_ELIGIBLE")

    # 26 November: 10 March -> 26 November = 21 + 30 + 31 + 30 + 31 + 31 + 30 + 31 + 26 = 261 days.
    set_day(monkeypatch, date(2026, 11, 26))
    requested = client.post(f"/v1/loans/{loan_id}/write-off", headers=p1, json={"reason": "family left"})
    assert requested.status_code == 202, requested.text
    assert (requested.json()["status"], requested.json()["days_past_due"]) == ("pending", 261)
    assert requested.json()["principal"] == "1107.98"
    same_key = client.post(f"/v1/loans/{loan_id}/write-off", headers=p1, json={"reason": "again"})
    assert_problem(same_key, 409, "FOUR_EYES")
    confirmed = client.post(f"/v1/loans/{loan_id}/write-off", headers=p2, json={"reason": "agreed"})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["loan_status"] == "written_off"
    assert client.get(f"/v1/loans/{loan_id}", headers=p1).json()["status"] == "written_off"


def test_a_late_fee_is_charged_once_and_paid_first(client, session, monkeypatch):
    """A product with a 5.00 late fee once an installment is more than 10 days overdue."""
    world, loan_id = late_fee_loan(client, session, monkeypatch)

    # Installment 1 (due 10 February, 110.02 = 18.00 interest + 92.02 principal) is paid on 5 March,
    # 23 days late: past the 10 days of grace, so it owes the 5.00 fee. The 110.02 pays, in the
    # product's order, the fee 5.00, the interest 18.00, then 87.02 of principal; 5.00 of principal
    # is left, so on 5 March the loan is still 5 March - 10 February = 23 days past due.
    set_day(monkeypatch, date(2026, 3, 5))
    paid = pay(client, world["partner_1"], loan_id, "110.02", date(2026, 3, 5), "R-late")
    assert paid.status_code == 201, paid.text
    assert paid.json()["allocations"] == [
        {"number": 1, "principal": "87.02", "interest": "18.00", "fees": "0.00", "penalty": "5.00"}
    ]
    late = arrears(client, world["partner_1"], loan_id, date(2026, 3, 5))
    assert late["days_past_due"] == 23
    # what is overdue is the 5.00 left on installment 1; installment 2 is not due until 10 March
    assert late["overdue_amount"] == "5.00"
