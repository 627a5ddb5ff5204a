"""When a family cannot pay: restructures (preview, four eyes, the new schedule version) and
prepayments that re-amortize without collecting unearned interest, worked to the cent.

The loan of every story: 3,000 USD at 18 % a year, 36 monthly installments, disbursed in one cash
tranche on 2026-01-05, so installment k falls due on the 5th, k months later. The expected figures
are derived here with the textbook rules, independently of the service:
- the per-period rate is 18 / 12 = 1.5 %; each installment's interest is the balance x 1.5 %,
  rounded half-even to the cent;
- the level installment is PMT = B x r / (1 - (1 + r)^-n), rounded half-even:
  3000 x 0.015 / (1 - 1.015^-36) = 108.4572... -> 108.46;
- principal = level - interest; the last installment clears the balance.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from loansvc.domain.dates import add_months
from tests.api.helpers import assert_problem, create_product
from tests.api.lending import apply, approve, business_day, lending_world, release

CENT = Decimal("0.01")
RATE = Decimal("0.015")
DISBURSED_ON = date(2026, 1, 5)


def cents(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_EVEN)


def pmt(balance: Decimal, periods: int) -> Decimal:
    return cents(balance * RATE / (1 - (1 + RATE) ** -periods))


def amortize(balance: Decimal, periods: int, level: Decimal | None = None, interest_only: int = 0):
    """[(principal, interest, total, balance after)] for `periods` installments: `interest_only`
    first, then the level (PMT over the rest unless given); stops once the balance is cleared."""
    rows = []
    for _ in range(interest_only):
        interest = cents(balance * RATE)
        rows.append((Decimal("0.00"), interest, interest, balance))
    level = level or pmt(balance, periods - interest_only)
    for k in range(periods - interest_only):
        interest = cents(balance * RATE)
        last = k == periods - interest_only - 1
        principal = balance if last or level - interest >= balance else level - interest
        balance -= principal
        rows.append((principal, interest, principal + interest, balance))
        if balance == 0:
            break
    return rows


ORIGINAL = amortize(Decimal("3000.00"), 36)


def due(k: int) -> date:
    return add_months(DISBURSED_ON, k)


@pytest.fixture()
def story(client, session, monkeypatch):
    world = lending_world(client, session)
    return world


def open_loan(client, world, monkeypatch, product: dict | None = None) -> str:
    product = product or world["cash_product"]
    business_day(monkeypatch, DISBURSED_ON)
    loan = apply(client, world["officer_1"], world["household"]["id"], product["id"], "3000", 36)
    approve(client, world["partner_1"], loan["id"])
    release(client, world["partner_2"], loan["id"], "3000", "foundation", DISBURSED_ON)
    return loan["id"]


def pay(client, headers, loan_id: str, amount, on: date, monkeypatch, ref: str | None = None):
    business_day(monkeypatch, on)
    body = {"amount": str(amount), "paid_on": on.isoformat(), "reference": ref or f"R-{on}-{amount}"}
    return client.post(f"/v1/loans/{loan_id}/repayments", headers=headers, json=body)


def pay_installments(client, world, loan_id: str, numbers, monkeypatch) -> None:
    for k in numbers:
        response = pay(client, world["partner_1"], loan_id, ORIGINAL[k - 1][2], due(k), monkeypatch)
        assert response.status_code == 201, response.text


def schedule(client, headers, loan_id: str, **params) -> dict:
    response = client.get(f"/v1/loans/{loan_id}/schedule", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def parts(installments) -> list[tuple]:
    return [
        (i["number"], i["due_date"], Decimal(i["principal"]), Decimal(i["interest"]), Decimal(i["total"]))
        for i in installments
    ]


def test_the_original_schedule_is_the_textbook_one(client, story, monkeypatch):
    loan_id = open_loan(client, story, monkeypatch)
    got = parts(schedule(client, story["partner_1"], loan_id)["installments"])
    assert pmt(Decimal(3000), 36) == Decimal("108.46")
    assert got == [(k, due(k).isoformat(), p, i, t) for k, (p, i, t, _) in enumerate(ORIGINAL, 1)]


def test_three_months_interest_only_and_three_more_months_keep_the_installment(client, story, monkeypatch):
    world = story
    loan_id = open_loan(client, world, monkeypatch)
    pay_installments(client, world, loan_id, range(1, 11), monkeypatch)
    # After 10 on-time payments the balance is B10 = 3000 - the principal of installments 1..10.
    b10 = Decimal(3000) - sum(p for p, *_ in ORIGINAL[:10])
    assert b10 == ORIGINAL[9][3]
    # 26 installments were left; 3 of interest only and 3 more months give 29: rows 11-13 pay
    # B10 x 1.5 % each, then 26 level installments amortize B10: PMT(B10, 26) is the old level again.
    expected = amortize(b10, 29, interest_only=3)
    assert len(expected) == 29 and pmt(b10, 26) == Decimal("108.46")
    assert [r[2] for r in expected[:3]] == [cents(b10 * RATE)] * 3
    expected_rows = [(10 + j, due(10 + j).isoformat(), p, i, t) for j, (p, i, t, _) in enumerate(expected, 1)]

    business_day(monkeypatch, due(10))
    body = {
        "effective_on": due(10).isoformat(),
        "reason": "garment factory closed; the mother is looking for work",
        "changes": {"principal_grace_periods": 3, "extend_term_by": 3},
    }
    requested = client.post(f"/v1/loans/{loan_id}/restructures", headers=world["partner_1"], json=body)
    assert requested.status_code == 201, requested.text
    r = requested.json()
    assert r["status"] == "requested"
    preview = r["preview"]
    assert parts(preview["installments"]) == expected_rows
    assert (preview["old_installment"], preview["new_installment"]) == ("108.46", "108.46")
    # the cost still to pay from effective_on: old = interest of rows 11..36; new = the new rows'
    # totals less the balance they repay
    old_cost = sum(i for _, i, _, _ in ORIGINAL[10:])
    new_cost = sum(t for _, _, t, _ in expected) - b10
    assert (Decimal(preview["old_remaining_cost"]), Decimal(preview["new_remaining_cost"])) == (
        old_cost,
        new_cost,
    )
    assert new_cost > old_cost  # three more months of interest
    # what remains is still priced at 18 % a year: APR 18.00 (12 x 1.5 %), EIR 1.015^12 - 1 = 19.56 %
    assert (preview["apr_percent"], preview["eir_percent"]) == ("18.00", "19.56")
    # nothing has changed yet
    assert schedule(client, world["partner_1"], loan_id)["version"] == 1

    # four eyes: the requesting key cannot approve; another partner key can
    same = client.post(f"/v1/restructures/{r['id']}/approve", headers=world["partner_1"])
    assert_problem(same, 409, "FOUR_EYES")
    approved = client.post(f"/v1/restructures/{r['id']}/approve", headers=world["partner_2"])
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    after = schedule(client, world["partner_1"], loan_id)
    assert after["version"] == 2
    rows = parts(after["installments"])
    # installments 1..10 stay exactly as they were paid; 11..39 are the preview
    assert rows[:10] == [(k, due(k).isoformat(), p, i, t) for k, (p, i, t, _) in enumerate(ORIGINAL[:10], 1)]
    assert rows[10:] == expected_rows
    assert all(i["status"] == "paid" for i in after["installments"][:10])
    # principal still sums to what was lent
    assert sum(r[2] for r in rows) == Decimal(3000)
    # the old version is unchanged, and readable
    old = parts(schedule(client, world["partner_1"], loan_id, version=1)["installments"])
    assert old == [(k, due(k).isoformat(), p, i, t) for k, (p, i, t, _) in enumerate(ORIGINAL, 1)]
    loan = client.get(f"/v1/loans/{loan_id}", headers=world["partner_1"]).json()
    assert (loan["restructured"], loan["restructure_count"]) == (True, 1)
    listed = client.get(f"/v1/loans/{loan_id}/restructures", headers=world["finance"]).json()
    assert [i["status"] for i in listed["items"]] == ["approved"]
    # the family pays the first interest-only installment on time
    assert pay(client, world["partner_1"], loan_id, expected[0][2], due(11), monkeypatch).status_code == 201


def test_two_overdue_installments_capitalised(client, story, monkeypatch):
    world = story
    loan_id = open_loan(client, world, monkeypatch)
    pay_installments(client, world, loan_id, range(1, 9), monkeypatch)
    # installments 9 (Oct 5) and 10 (Nov 5) are unpaid; on Nov 20 the loan is 46 days past due
    business_day(monkeypatch, date(2026, 11, 20))
    arrears = client.get(f"/v1/loans/{loan_id}/arrears", headers=world["partner_1"]).json()
    assert arrears["days_past_due"] == (date(2026, 11, 20) - due(9)).days == 46
    # capitalise_arrears: the new balance is all the principal still owed (B8, overdue principal
    # included) plus the overdue interest of rows 9 and 10; 26 installments amortize it.
    b8 = ORIGINAL[7][3]
    overdue_interest = ORIGINAL[8][1] + ORIGINAL[9][1]
    balance = b8 + overdue_interest
    expected = amortize(balance, 26)
    body = {
        "effective_on": "2026-11-20",
        "reason": "illness in the family; two months missed",
        "changes": {"capitalise_arrears": True},
    }
    r = client.post(f"/v1/loans/{loan_id}/restructures", headers=world["partner_1"], json=body).json()
    assert r["preview"]["capitalised"] == str(overdue_interest)
    # what remains is priced on everything owed (B8 + the overdue interest): at least the contract's
    # 18 % (a full month's interest falls due on Dec 5, 15 days after effective_on)
    assert Decimal(r["preview"]["apr_percent"]) >= 18
    assert Decimal(r["preview"]["new_installment"]) == pmt(balance, 26)
    assert parts(r["preview"]["installments"]) == [
        (10 + j, due(10 + j).isoformat(), p, i, t) for j, (p, i, t, _) in enumerate(expected, 1)
    ]
    assert client.post(f"/v1/restructures/{r['id']}/approve", headers=world["partner_2"]).status_code == 200
    after = client.get(f"/v1/loans/{loan_id}/arrears", headers=world["partner_1"]).json()
    # days past due restart from the new schedule; the loan is on watch until 3 on-time payments
    assert (after["days_past_due"], after["classification"]) == (0, "special_mention")
    # the portfolio report counts it as restructured and, as SEEP asks, in PAR whatever its days
    # past due; its class is special mention (on watch)
    report = client.get(
        "/v1/reports/portfolio", headers=world["finance"], params={"group_by": "lender"}
    ).json()
    group = next(g for g in report["groups"] if g["group"]["lender_id"] == world["mfi"]["id"])
    outstanding = after["outstanding_principal"]
    assert (group["restructured_loans"], group["restructured_balance"]) == (1, outstanding)
    assert group["par30_balance"] == group["par90_balance"] == outstanding
    watch = next(c for c in group["classification"] if c["class"] == "special_mention")
    assert (watch["loans"], watch["principal"]) == (1, outstanding)
    rows = schedule(client, world["partner_1"], loan_id)["installments"]
    # rows 9 and 10 keep only what was paid on them (nothing): their debt moved to the new balance
    assert [(i["number"], i["total"], i["status"]) for i in rows[8:10]] == [
        (9, "0.00", "paid"),
        (10, "0.00", "paid"),
    ]
    assert sum(Decimal(i["principal"]) for i in rows) == Decimal(3000) + overdue_interest
    for k in (11, 12, 13):
        amount = expected[k - 11][2]
        assert pay(client, world["partner_1"], loan_id, amount, due(k), monkeypatch).status_code == 201
    watched = client.get(f"/v1/loans/{loan_id}/arrears", headers=world["partner_1"]).json()
    assert watched["classification"] == "normal"


def prepayment_product(client, world, rule: str) -> dict:
    return create_product(
        client, world["admin"], world["mfi"]["id"], prepayment=rule, name=f"home loan {rule}"
    )


@pytest.mark.parametrize("rule", ["reduce_term", "reduce_installment"])
def test_a_1000_prepayment_after_installment_6(client, story, monkeypatch, rule):
    world = story
    loan_id = open_loan(client, world, monkeypatch, prepayment_product(client, world, rule))
    pay_installments(client, world, loan_id, range(1, 7), monkeypatch)
    # On due date 6, installment 6 paid, 1,000 more: period 7 has not begun, so all of it is
    # prepaid principal (no interest of a future period), and interest falls from period 7.
    paid = pay(client, world["partner_1"], loan_id, "1000.00", due(6), monkeypatch, ref="PREPAY")
    assert paid.status_code == 201, paid.text
    body = paid.json()
    assert (body["allocations"], body["prepaid_principal"]) == ([], "1000.00")
    b6 = ORIGINAL[5][3]
    rest = b6 - 1000
    if rule == "reduce_term":
        # the installment stays 108.46; the balance is cleared sooner, the last one smaller
        expected = amortize(rest, 30, level=Decimal("108.46"))
        assert len(expected) < 30 and expected[-1][2] < Decimal("108.46")
        assert all(t == Decimal("108.46") for _, _, t, _ in expected[:-1])
    else:
        # the dates stay (30 more), the installment is PMT(rest, 30)
        expected = amortize(rest, 30)
        assert len(expected) == 30 and expected[0][2] == pmt(rest, 30) < Decimal("108.46")
    after = schedule(client, world["partner_1"], loan_id)
    rows = parts(after["installments"])
    assert rows[:6] == [(k, due(k).isoformat(), p, i, t) for k, (p, i, t, _) in enumerate(ORIGINAL[:6], 1)]
    assert rows[6:] == [
        (6 + j, due(6 + j).isoformat(), p, i, t) for j, (p, i, t, _) in enumerate(expected, 1)
    ]
    # the first new interest is on the reduced balance: no interest of an unbegun period collected
    assert rows[6][3] == cents(rest * RATE)
    # principal paid before + prepaid + the new version's principal = what was lent
    paid_before = sum(p for p, *_ in ORIGINAL[:6])
    assert paid_before + 1000 + sum(r[2] for r in rows[6:]) == Decimal(3000)
    saved = sum(i for _, i, _, _ in ORIGINAL[6:]) - sum(i for _, i, _, _ in expected)
    assert saved > 0
    versions = client.get(f"/v1/loans/{loan_id}/schedule/versions", headers=world["partner_1"]).json()
    assert [(v["kind"], v["current"]) for v in versions] == [("disbursement", False), ("prepayment", True)]
    # reversing the prepayment restores the version in force before it
    reversed_ = client.post(
        f"/v1/repayments/{body['id']}/reverse", headers=world["partner_1"], json={"reason": "bounced"}
    )
    assert reversed_.status_code == 200, reversed_.text
    restored = schedule(client, world["partner_1"], loan_id)
    assert restored["version"] == 1
    assert parts(restored["installments"]) == [
        (k, due(k).isoformat(), p, i, t) for k, (p, i, t, _) in enumerate(ORIGINAL, 1)
    ]


def test_payoff_on_any_day_closes_the_loan(client, story, monkeypatch):
    world = story
    loan_id = open_loan(client, world, monkeypatch)
    pay_installments(client, world, loan_id, range(1, 4), monkeypatch)
    # On 2026-04-20 the current period is the 4th (Apr 5 .. May 5): per-period interest counts it
    # in full, B3 x 1.5 %; nothing of period 5. The payoff is B3 + that interest.
    on = date(2026, 4, 20)
    business_day(monkeypatch, on)
    b3 = ORIGINAL[2][3]
    quote = client.get(
        f"/v1/loans/{loan_id}/payoff", headers=world["partner_1"], params={"on": on.isoformat()}
    )
    assert quote.status_code == 200, quote.text
    q = quote.json()
    assert (Decimal(q["principal"]), Decimal(q["interest"])) == (b3, cents(b3 * RATE))
    assert Decimal(q["amount"]) == b3 + cents(b3 * RATE)
    paid = pay(client, world["partner_1"], loan_id, q["amount"], on, monkeypatch, ref="PAYOFF")
    assert paid.status_code == 201, paid.text
    assert paid.json()["loan_status"] == "closed"


def test_restructure_refusals_change_nothing(client, story, monkeypatch, db_state):
    world = story
    loan_id = open_loan(client, world, monkeypatch)
    pay_installments(client, world, loan_id, range(1, 3), monkeypatch)
    path = f"/v1/loans/{loan_id}/restructures"
    base = {"effective_on": due(2).isoformat(), "reason": "flood"}
    before = db_state()
    # the product allows 48 months at most: 36 + 13 = 49
    too_long = client.post(path, headers=world["partner_1"], json={**base, "changes": {"extend_term_by": 13}})
    assert_problem(too_long, 422, "TERM_ABOVE_MAXIMUM")
    too_dear = client.post(
        path, headers=world["partner_1"], json={**base, "changes": {"new_annual_rate_percent": "24"}}
    )
    assert_problem(too_dear, 422, "RATE_ABOVE_LEGAL_CAP")
    before_payment = client.post(
        path, headers=world["partner_1"], json={**base, "effective_on": due(1).isoformat(), "changes": {}}
    )
    assert_problem(before_payment, 422, "DATE_BEFORE_PREVIOUS_STEP")
    officer = client.post(path, headers=world["officer_1"], json={**base, "changes": {"extend_term_by": 3}})
    assert_problem(officer, 403, "ROLE_NOT_ALLOWED")
    assert db_state() == before
    # a closed loan: 409 with its status
    quote = client.get(f"/v1/loans/{loan_id}/payoff", headers=world["partner_1"]).json()
    assert pay(client, world["partner_1"], loan_id, quote["amount"], due(2), monkeypatch).status_code == 201
    closed = client.post(path, headers=world["partner_1"], json={**base, "changes": {"extend_term_by": 3}})
    problem = assert_problem(closed, 409, "ILLEGAL_TRANSITION")
    assert problem["current_status"] == "closed"


def test_with_daily_interest_a_payoff_counts_only_the_days_elapsed(client, story, monkeypatch):
    world = story
    product = create_product(
        client, world["admin"], world["mfi"]["id"], interest_calculation="daily", day_count="actual/365"
    )
    loan_id = open_loan(client, world, monkeypatch, product)
    rows = schedule(client, world["partner_1"], loan_id)["installments"]
    for k in range(1, 4):
        assert (
            pay(client, world["partner_1"], loan_id, rows[k - 1]["total"], due(k), monkeypatch).status_code
            == 201
        )
    # Payoff on Apr 20: the balance after installment 3 (its row's balance) accrues 15 days
    # (Apr 5 -> Apr 20) at 18 % / 365: B3 x 15 x 18 / 36500, half-even to the cent; nothing more.
    b3 = Decimal(rows[2]["balance"])
    on = date(2026, 4, 20)
    accrued = cents(b3 * 15 * 18 / Decimal(36500))
    assert accrued < Decimal(rows[3]["interest"])  # less than the full period's interest
    business_day(monkeypatch, on)
    q = client.get(
        f"/v1/loans/{loan_id}/payoff", headers=world["partner_1"], params={"on": on.isoformat()}
    ).json()
    assert (Decimal(q["principal"]), Decimal(q["interest"]), Decimal(q["amount"])) == (
        b3,
        accrued,
        b3 + accrued,
    )
    paid = pay(client, world["partner_1"], loan_id, q["amount"], on, monkeypatch, ref="PAYOFF")
    assert paid.status_code == 201, paid.text
    assert paid.json()["loan_status"] == "closed"
    # installment 4 now owes the 15 days' interest only, and is paid
    after = schedule(client, world["partner_1"], loan_id)["installments"]
    assert (Decimal(after[3]["interest"]), after[3]["status"]) == (accrued, "paid")
    assert len(after) == 4


def test_an_early_regular_installment_is_not_a_prepayment(client, story, monkeypatch):
    world = story
    loan_id = open_loan(client, world, monkeypatch)
    # three days before its due date, the family pays installment 1 exactly: it pays installment 1
    paid = pay(client, world["partner_1"], loan_id, ORIGINAL[0][2], due(1) - timedelta(days=3), monkeypatch)
    assert paid.status_code == 201, paid.text
    body = paid.json()
    assert ([a["number"] for a in body["allocations"]], body["prepaid_principal"]) == ([1], "0.00")
    assert schedule(client, world["partner_1"], loan_id)["version"] == 1
