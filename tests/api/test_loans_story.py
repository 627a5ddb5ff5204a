"""A family builds its core house with two loans, told as a loan officer would tell it.

The Sok family (two earners, 600 USD a month) draws construction materials in kind from the
programme's materials bank (0 %, 1,200 USD over 24 months) and borrows 3,000 USD in cash from a
partner MFI (18 %/year, declining balance, monthly, 24 months) released in three tranches as the
house rises. Every figure below is worked out by hand in the comments; the service must agree to
the cent at each step: balances, stock, schedules, the second lender's view of the first loan, and
the history of who did what.

Schedule rules (issue #3): per-period interest = balance x 18 % / 12 = balance x 0.015, rounded
half-even to the cent; the installment is PMT = B x r / (1 - (1 + r)^-n) rounded half-even; the
principal part is installment - interest; the last installment clears the balance. A tranche
dated between due dates joins at the next due date (after that installment) and the installment is
recomputed over the installments left, from the following one on.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from tests.api.helpers import assert_problem
from tests.api.lending import (
    KEY_NAMES,
    add_material,
    apply,
    approve,
    business_day,
    deliver,
    inspect,
    installments,
    lending_world,
    money,
    receive,
    release,
    stock,
)

LOAN_FIELDS = {
    "id",
    "status",
    "household_id",
    "product_id",
    "lender_id",
    "currency",
    "amount",
    "term",
    "approved_amount",
    "disbursed_amount",
    "outstanding_principal",
    "next_installment",
    "assessment",
}


def _loan(client, headers, loan_id):
    response = client.get(f"/v1/loans/{loan_id}", headers=headers)
    assert response.status_code == 200, response.text
    loan = response.json()
    assert set(loan) >= LOAN_FIELDS
    return loan


def _balances(loan) -> tuple:
    return loan["status"], money(loan["disbursed_amount"]), money(loan["outstanding_principal"])


def _next(loan) -> tuple | None:
    i = loan["next_installment"]
    if i is None:
        return None
    return i["number"], i["due_date"], D(i["principal"]), D(i["interest"]), D(i["total"]), D(i["balance"])


def _history(client, headers, loan_id) -> list[dict]:
    response = client.get(f"/v1/loans/{loan_id}/history", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def _who(entry) -> tuple:
    return entry["action"], entry["actor_name"], entry["actor_role"]


def _amounts(snapshot: dict, *keys: str) -> tuple:
    return tuple(money(snapshot[k]) for k in keys)


def _level_rows(first: int, last: int, due: callable, principal: str, interest: str = "0") -> list[tuple]:
    return [(k, due(k), D(principal), D(interest)) for k in range(first, last + 1)]


def _materials_due(k: int) -> str:
    # first delivery 3 February 2025: installment k is due k months later, on the 3rd
    month = 2 + k
    return date(2025 + (month - 1) // 12, (month - 1) % 12 + 1, 3).isoformat()


def _cash_due(k: int) -> str:
    # first tranche 15 April 2025: installment k is due k months later, on the 15th
    month = 4 + k
    return date(2025 + (month - 1) // 12, (month - 1) % 12 + 1, 15).isoformat()


def test_the_sok_family_builds_with_materials_and_three_cash_tranches(client, session, monkeypatch):
    world = lending_world(client, session)
    officer_1, officer_2 = world["officer_1"], world["officer_2"]
    partner_1, partner_2, finance = world["partner_1"], world["partner_2"], world["finance"]
    family = world["household"]
    bank_product, mfi_product = world["materials_product"], world["cash_product"]

    # --- 6 January 2025: Sokha assesses the family for 1,200 USD of materials over 24 months.
    # income 360 + 240 = 600.00; expenses 150 + 30 = 180.00; no debts: surplus 420.00.
    # safe installment = min(70 % x 420.00 = 294.00, 50 % x 600.00 - 0 = 300.00) = 294.00.
    # the 0 % loan costs 1,200 / 24 = 50.00 a month; DSTI after = 50 / 600 = 8.33 %;
    # with income down 20 % (480.00): 480 - 180 - 50 = 250.00 left, DSTI 50 / 480 = 10.42 %.
    business_day(monkeypatch, date(2025, 1, 6))
    response = client.post(
        f"/v1/households/{family['id']}/assessments",
        headers=officer_1,
        json={"loan": {"product_id": bank_product["id"], "amount": "1200", "term": 24}},
    )
    assert response.status_code == 201, response.text
    first_look = response.json()
    assert first_look["decision"] == "eligible"
    assert _amounts(
        first_look["result"],
        "monthly_income",
        "monthly_expenses",
        "monthly_debt_service",
        "monthly_surplus",
        "max_installment",
        "loan_installment",
        "dsti_after_percent",
    ) == (D("600"), D("180"), D("0"), D("420"), D("294"), D("50"), D("8.33"))
    assert [
        (s["scenario"], D(s["surplus_after_loan"]), D(s["dsti_after_percent"]))
        for s in first_look["result"]["stress"]
    ] == [("income_minus_20pct", D("250"), D("10.42"))]

    # --- 10 January: Sokha files the application. A fresh assessment comes attached.
    business_day(monkeypatch, date(2025, 1, 10))
    materials_loan = apply(client, officer_1, family["id"], bank_product["id"], "1200", 24)
    loan_a = materials_loan["id"]
    assert materials_loan["status"] == "submitted"
    assert materials_loan["submitted_on"] == "2025-01-10"
    assert materials_loan["lender_id"] == world["bank"]["id"]
    assert materials_loan["household_id"] == family["id"]
    assert materials_loan["product_id"] == bank_product["id"]
    assert (materials_loan["currency"], money(materials_loan["amount"]), materials_loan["term"]) == (
        "USD",
        D("1200"),
        24,
    )
    assert materials_loan["approved_amount"] is None and materials_loan["terms"] is None
    assert _balances(materials_loan) == ("submitted", D("0"), D("0"))
    assert materials_loan["next_installment"] is None
    assert materials_loan["assessment"]["decision"] == "eligible"
    assert money(materials_loan["assessment"]["loan_installment"]) == D("50.00")
    assert materials_loan["assessment"]["id"] != first_look["id"]  # a fresh one, not the 6 January one

    # --- 15 January: four eyes. Sokha cannot approve her own file; Dara approves it.
    business_day(monkeypatch, date(2025, 1, 15))
    refused = client.post(f"/v1/loans/{loan_a}/approve", headers=officer_1, json={})
    assert_problem(refused, 409, "FOUR_EYES")
    materials_loan = approve(client, officer_2, loan_a, note="house model C1, plinth first")
    assert materials_loan["status"] == "approved"
    assert materials_loan["decided_on"] == "2025-01-15"
    assert materials_loan["decided_by"] == KEY_NAMES["officer_2"][0]
    assert money(materials_loan["approved_amount"]) == D("1200")
    assert money(materials_loan["terms"]["annual_rate_percent"]) == D("0")
    assert _balances(materials_loan) == ("approved", D("0"), D("0"))
    assert installments(client, officer_1, loan_a) == []  # no schedule before the first delivery
    history_at_approval = _history(client, officer_1, loan_a)

    # --- 20 and 22 January: the materials bank receives stock (receipts first).
    business_day(monkeypatch, date(2025, 1, 22))
    add_material(client, officer_1, "SAND-M3", "river sand", "m3", "14.00")
    add_material(client, officer_1, "CEMENT-50KG", "Portland cement, 50 kg bag", "bag", "6.25")
    add_material(client, officer_1, "REBAR-12", "rebar 12 mm, 12 m bar", "bar", "8.40")
    add_material(client, officer_1, "BRICK", "fired clay brick", "piece", "0.085")
    receive(client, officer_1, "SAND-M3", "12", date(2025, 1, 20))  # at the catalog cost, 14.00
    receive(client, officer_1, "CEMENT-50KG", "80", date(2025, 1, 20))
    receive(client, officer_1, "REBAR-12", "40", date(2025, 1, 20))
    receive(client, officer_1, "BRICK", "5000", date(2025, 1, 20))
    # 12 m3 x 14.00 = 168.00 of sand on hand ...
    assert stock(client, officer_1, "SAND-M3") == (D("12"), D("14.00"), D("168.00"))
    # ... then 8 m3 more at 15.50: the cost becomes the weighted average
    # (12 x 14.00 + 8 x 15.50) / 20 = (168.00 + 124.00) / 20 = 292.00 / 20 = 14.60
    receive(client, officer_1, "SAND-M3", "8", date(2025, 1, 22), unit_cost="15.50")
    assert stock(client, officer_1, "SAND-M3") == (D("20"), D("14.60"), D("292.00"))
    assert stock(client, officer_1, "CEMENT-50KG") == (D("80"), D("6.25"), D("500.00"))  # 80 x 6.25
    assert stock(client, officer_1, "REBAR-12") == (D("40"), D("8.40"), D("336.00"))  # 40 x 8.40
    assert stock(client, officer_1, "BRICK") == (D("5000"), D("0.085"), D("425.00"))  # 5000 x 0.085

    # --- 3 February: first delivery, for the foundation.
    #   sand    2.5 m3 x 14.60 =  36.50
    #   cement   30 bags x 6.25 = 187.50
    #   rebar    12 bars x 8.40 = 100.80
    #   bricks 1,500 x 0.085    = 127.50
    #   total                     452.30
    business_day(monkeypatch, date(2025, 2, 3))
    first = deliver(
        client,
        officer_1,
        loan_a,
        {"SAND-M3": "2.5", "CEMENT-50KG": "30", "REBAR-12": "12", "BRICK": "1500"},
        "foundation",
        date(2025, 2, 3),
    )
    assert first["kind"] == "materials" and first["milestone"] == "foundation"
    assert first["date"] == "2025-02-03"
    assert {x["sku"]: (D(x["quantity"]), D(x["unit_cost"]), D(x["value"])) for x in first["lines"]} == {
        "SAND-M3": (D("2.5"), D("14.60"), D("36.50")),
        "CEMENT-50KG": (D("30"), D("6.25"), D("187.50")),
        "REBAR-12": (D("12"), D("8.40"), D("100.80")),
        "BRICK": (D("1500"), D("0.085"), D("127.50")),
    }
    assert money(first["amount"]) == D("452.30")
    assert money(first["disbursed_amount"]) == D("452.30")
    # stock left: sand 20 - 2.5 = 17.5 (x 14.60 = 255.50); cement 80 - 30 = 50 (312.50);
    # rebar 40 - 12 = 28 (x 8.40 = 235.20); bricks 5,000 - 1,500 = 3,500 (x 0.085 = 297.50)
    assert stock(client, officer_1, "SAND-M3") == (D("17.5"), D("14.60"), D("255.50"))
    assert stock(client, officer_1, "CEMENT-50KG") == (D("50"), D("6.25"), D("312.50"))
    assert stock(client, officer_1, "REBAR-12") == (D("28"), D("8.40"), D("235.20"))
    assert stock(client, officer_1, "BRICK") == (D("3500"), D("0.085"), D("297.50"))
    # the loan is active and owes what it received
    materials_loan = _loan(client, officer_1, loan_a)
    assert _balances(materials_loan) == ("active", D("452.30"), D("452.30"))
    # its schedule starts at the delivery: 24 installments due on the 3rd from 3 March 2025.
    # 0 %: 452.30 / 24 = 18.8458... -> 18.85; 23 x 18.85 = 433.55; the last clears 452.30 - 433.55 = 18.75
    expected_a1 = [*_level_rows(1, 23, _materials_due, "18.85"), (24, "2027-02-03", D("18.75"), D("0"))]
    schedule = installments(client, officer_1, loan_a)
    assert [row[:4] for row in schedule] == expected_a1
    assert schedule[0][5] == D("433.45")  # 452.30 - 18.85
    assert schedule[-1][5] == D("0")
    assert _next(materials_loan) == (1, "2025-03-03", D("18.85"), D("0"), D("18.85"), D("433.45"))

    # --- 14 March: Dara inspects the foundation; it passes. Materials follow the stages as cash
    # does: the walls' delivery waits for this pass.
    business_day(monkeypatch, date(2025, 3, 14))
    inspect(client, officer_2, loan_a, "foundation", date(2025, 3, 14))

    # --- 20 March: second delivery, for the walls (between the 3 March and 3 April due dates).
    #   sand    3.5 m3 x 14.60 =  51.10
    #   cement   25 bags x 6.25 = 156.25
    #   rebar    20 bars x 8.40 = 168.00
    #   bricks 2,000 x 0.085    = 170.00
    #   total                     545.35   -> disbursed 452.30 + 545.35 = 997.65 (of 1,200 approved)
    business_day(monkeypatch, date(2025, 3, 20))
    second = deliver(
        client,
        officer_1,
        loan_a,
        {"SAND-M3": "3.5", "CEMENT-50KG": "25", "REBAR-12": "20", "BRICK": "2000"},
        "structure",
        date(2025, 3, 20),
    )
    assert money(second["amount"]) == D("545.35")
    assert money(second["disbursed_amount"]) == D("997.65")
    # stock: sand 17.5 - 3.5 = 14 (x 14.60 = 204.40); cement 25 (156.25); rebar 8 (67.20);
    # bricks 1,500 (127.50)
    assert stock(client, officer_1, "SAND-M3") == (D("14"), D("14.60"), D("204.40"))
    assert stock(client, officer_1, "CEMENT-50KG") == (D("25"), D("6.25"), D("156.25"))
    assert stock(client, officer_1, "REBAR-12") == (D("8"), D("8.40"), D("67.20"))
    assert stock(client, officer_1, "BRICK") == (D("1500"), D("0.085"), D("127.50"))
    materials_loan = _loan(client, officer_1, loan_a)
    assert _balances(materials_loan) == ("active", D("997.65"), D("997.65"))
    # the delivery joins at the next due date, 3 April (after installment 2): installments 1-2 stay
    # 18.85; the balance after 2 is 452.30 - 2 x 18.85 = 414.60, plus 545.35 = 959.95, spread over
    # the 22 installments left: 959.95 / 22 = 43.6340... -> 43.63; 21 x 43.63 = 916.23;
    # the last clears 959.95 - 916.23 = 43.72
    expected_a2 = (
        _level_rows(1, 2, _materials_due, "18.85")
        + _level_rows(3, 23, _materials_due, "43.63")
        + [(24, "2027-02-03", D("43.72"), D("0"))]
    )
    schedule = installments(client, officer_1, loan_a)
    assert [row[:4] for row in schedule] == expected_a2
    assert [row[5] for row in schedule[1:3]] == [D("414.60"), D("916.32")]  # 959.95 - 43.63
    assert sum(row[2] for row in schedule) == D("997.65")
    # today is 20 March and installment 1 (due 3 March) is not paid: the next installment is the
    # first one not fully paid, overdue: 18.85, leaving 452.30 - 18.85 = 433.45
    assert _next(materials_loan) == (1, "2025-03-03", D("18.85"), D("0"), D("18.85"), D("433.45"))
    assert materials_loan["next_installment"]["status"] == "overdue"
    assert (materials_loan["days_past_due"], D(materials_loan["overdue_amount"])) == (17, D("18.85"))
    # the deliveries, each line with its value, and the running total
    listed = client.get(f"/v1/loans/{loan_a}/disbursements", headers=finance).json()["items"]
    assert [(d["milestone"], D(d["amount"]), D(d["disbursed_amount"])) for d in listed] == [
        ("foundation", D("452.30"), D("452.30")),
        ("structure", D("545.35"), D("997.65")),
    ]
    assert {x["sku"]: D(x["value"]) for x in listed[1]["lines"]} == {
        "SAND-M3": D("51.10"),
        "CEMENT-50KG": D("156.25"),
        "REBAR-12": D("168.00"),
        "BRICK": D("170.00"),
    }
    history_a = _history(client, officer_1, loan_a)

    # --- 7 April: the family applies to the partner MFI for 3,000 in cash over 24 months.
    # Its assessment counts the active materials loan at the larger of what is still to come on its
    # schedule (largest 43.72) and what its whole approval promises once fully delivered
    # (1,200 at 0 % over 24 = 50.00 a month): 50.00.
    #   income 600.00; expenses 180.00; debt service 50.00; surplus 600 - 180 - 50.00 = 370.00
    #   safe installment = min(70 % x 370.00 = 259.00, 50 % x 600 - 50.00 = 250.00) = 250.00
    #   3,000 at 1.5 %/month over 24: PMT = 3000 x 0.015 / (1 - 1.015^-24) = 149.7720... -> 149.77;
    #   the last installment clears the rounding left over and is the largest: 147.63 + 2.21 = 149.84
    #   DSTI before = 50.00 / 600 = 8.333 -> 8.33 %; after = (50.00 + 149.84) / 600 = 199.84 / 600
    #   = 33.3066 -> 33.31 %
    #   income - 20 % = 480.00: 480 - 180 - 50.00 - 149.84 = 100.16 left; 199.84 / 480 = 41.6333 %
    #   -> 41.63 %
    business_day(monkeypatch, date(2025, 4, 7))
    cash_loan = apply(client, partner_1, family["id"], mfi_product["id"], "3000", 24)
    loan_b = cash_loan["id"]
    assessment = cash_loan["assessment"]
    assert assessment["decision"] == "eligible", assessment["reasons"]
    assert _amounts(
        assessment,
        "monthly_debt_service",
        "monthly_surplus",
        "max_installment",
        "loan_installment",
        "dsti_before_percent",
        "dsti_after_percent",
    ) == (D("50.00"), D("370.00"), D("250.00"), D("149.84"), D("8.33"), D("33.31"))
    assert [
        (s["scenario"], D(s["surplus_after_loan"]), D(s["dsti_after_percent"])) for s in assessment["stress"]
    ] == [("income_minus_20pct", D("100.16"), D("41.63"))]
    # The MFI sees the total of the family's other programme loans, never whose they are.
    seen_by_mfi = client.get(f"/v1/assessments/{assessment['id']}", headers=partner_1)
    assert seen_by_mfi.status_code == 200, seen_by_mfi.text
    inputs = seen_by_mfi.json()["inputs"]
    assert inputs["programme_loans"] == []  # none of its own yet
    assert inputs["other_programme_loans"]["count"] == 1
    assert D(inputs["other_programme_loans"]["monthly_installments"]) == D("50.00")
    for secret in (world["bank"]["id"], world["bank"]["name"], loan_a, "997.65", "1200"):
        assert secret not in seen_by_mfi.text, secret
    assert client.get(f"/v1/loans/{loan_a}", headers=partner_1).status_code == 404
    # The NGO officer sees which loan it is.
    seen_by_ngo = client.get(f"/v1/assessments/{assessment['id']}", headers=officer_1).json()
    assert [
        (p["loan_id"], p["lender_id"], D(p["monthly_installment"]))
        for p in seen_by_ngo["inputs"]["programme_loans"]
    ] == [(loan_a, world["bank"]["id"], D("50.00"))]

    # --- 10 April: four eyes at the MFI. The credit officer filed it; the branch manager approves.
    business_day(monkeypatch, date(2025, 4, 10))
    assert_problem(client.post(f"/v1/loans/{loan_b}/approve", headers=partner_1, json={}), 409, "FOUR_EYES")
    cash_loan = approve(client, partner_2, loan_b)
    assert _balances(cash_loan) == ("approved", D("0"), D("0"))
    assert money(cash_loan["approved_amount"]) == D("3000")
    assert money(cash_loan["terms"]["annual_rate_percent"]) == D("18")
    assert cash_loan["terms"]["milestones"] == ["foundation", "structure", "roof", "finishing"]

    # --- 15 April: first tranche, 1,000 for the foundation.
    # PMT = 1000 x 0.015 / (1 - 1.015^-24) = 49.9240... -> 49.92, due on the 15th from 15 May.
    #   1: interest 1000.00 x 0.015 = 15.00;            principal 49.92 - 15.00 = 34.92; balance 965.08
    #   2: interest  965.08 x 0.015 = 14.4762 -> 14.48; principal 35.44;                 balance 929.64
    #   3: interest  929.64 x 0.015 = 13.9446 -> 13.94; principal 35.98;                 balance 893.66
    business_day(monkeypatch, date(2025, 4, 15))
    tranche_1 = release(client, partner_1, loan_b, "1000", "foundation", date(2025, 4, 15))
    assert (tranche_1["kind"], D(tranche_1["amount"]), D(tranche_1["disbursed_amount"])) == (
        "cash",
        D("1000"),
        D("1000"),
    )
    assert tranche_1["lines"] == []
    cash_loan = _loan(client, partner_1, loan_b)
    assert _balances(cash_loan) == ("active", D("1000"), D("1000"))
    schedule = installments(client, partner_1, loan_b)
    assert len(schedule) == 24 and schedule[-1][1] == "2027-04-15"
    assert schedule[:3] == [
        (1, "2025-05-15", D("34.92"), D("15.00"), D("49.92"), D("965.08")),
        (2, "2025-06-15", D("35.44"), D("14.48"), D("49.92"), D("929.64")),
        (3, "2025-07-15", D("35.98"), D("13.94"), D("49.92"), D("893.66")),
    ]
    # ... and so on down to installment 23 (balance 49.29); the last pays the balance left:
    #   24: interest 49.29 x 0.015 = 0.7394 -> 0.74; principal 49.29; total 50.03
    assert schedule[-2][5] == D("49.29")
    assert schedule[-1] == (24, "2027-04-15", D("49.29"), D("0.74"), D("50.03"), D("0"))
    assert sum(row[2] for row in schedule) == D("1000")
    assert _next(cash_loan) == (1, "2025-05-15", D("34.92"), D("15.00"), D("49.92"), D("965.08"))

    # --- 20 May: the foundation is inspected and passes; 25 May: 1,200 for the structure.
    business_day(monkeypatch, date(2025, 5, 20))
    inspect(client, partner_2, loan_b, "foundation", date(2025, 5, 20))
    business_day(monkeypatch, date(2025, 5, 25))
    tranche_2 = release(client, partner_1, loan_b, "1200", "structure", date(2025, 5, 25))
    assert D(tranche_2["disbursed_amount"]) == D("2200")
    cash_loan = _loan(client, partner_1, loan_b)
    assert _balances(cash_loan) == ("active", D("2200"), D("2200"))
    # 25 May falls between the 15 May and 15 June due dates: the tranche joins on 15 June, after
    # installment 2, and accrues nothing before. Installments 1-2 are unchanged; then
    #   balance 929.64 + 1200 = 2129.64 over the 22 installments left:
    #   PMT = 2129.64 x 0.015 / (1 - 1.015^-22) = 114.3677... -> 114.37
    #   3: interest 2129.64 x 0.015 = 31.9446 -> 31.94; principal 114.37 - 31.94 = 82.43; balance 2047.21
    #   4: interest 2047.21 x 0.015 = 30.7082 -> 30.71; principal 83.66;                   balance 1963.55
    schedule = installments(client, partner_1, loan_b)
    assert schedule[:4] == [
        (1, "2025-05-15", D("34.92"), D("15.00"), D("49.92"), D("965.08")),
        (2, "2025-06-15", D("35.44"), D("14.48"), D("49.92"), D("929.64")),
        (3, "2025-07-15", D("82.43"), D("31.94"), D("114.37"), D("2047.21")),
        (4, "2025-08-15", D("83.66"), D("30.71"), D("114.37"), D("1963.55")),
    ]
    # ... down to installment 23 (balance 112.63); 24: interest 112.63 x 0.015 = 1.68945 -> 1.69
    assert schedule[-1] == (24, "2027-04-15", D("112.63"), D("1.69"), D("114.32"), D("0"))
    assert sum(row[2] for row in schedule) == D("2200")
    # no payment yet: the next installment is still the first one not fully paid, overdue since 15 May
    assert _next(cash_loan) == (1, "2025-05-15", D("34.92"), D("15.00"), D("49.92"), D("965.08"))
    assert (cash_loan["next_installment"]["status"], cash_loan["days_past_due"]) == ("overdue", 10)

    # --- 1 July: an NGO loan officer inspects the structure; it passes. 5 July: 800 for the roof.
    business_day(monkeypatch, date(2025, 7, 1))
    inspect(client, officer_2, loan_b, "structure", date(2025, 7, 1))
    business_day(monkeypatch, date(2025, 7, 5))
    tranche_3 = release(client, partner_1, loan_b, "800", "roof", date(2025, 7, 5))
    assert D(tranche_3["disbursed_amount"]) == D("3000")
    cash_loan = _loan(client, partner_1, loan_b)
    assert _balances(cash_loan) == ("active", D("3000"), D("3000"))
    # 5 July is between 15 June and 15 July: the roof tranche joins on 15 July, after installment 3.
    #   balance 2047.21 + 800 = 2847.21 over the 21 installments left:
    #   PMT = 2847.21 x 0.015 / (1 - 1.015^-21) = 159.0604... -> 159.06
    #   4: interest 2847.21 x 0.015 = 42.70815 -> 42.71; principal 159.06 - 42.71 = 116.35; bal 2730.86
    #   5: interest 2730.86 x 0.015 = 40.9629  -> 40.96; principal 118.10;                   bal 2612.76
    #  ...
    #  23: interest  311.12 x 0.015 =  4.6668  ->  4.67; principal 154.39;                   bal  156.73
    #  24: interest  156.73 x 0.015 =  2.35095 ->  2.35; principal 156.73; total 159.08;     bal    0
    schedule = installments(client, partner_1, loan_b)
    assert schedule[:5] == [
        (1, "2025-05-15", D("34.92"), D("15.00"), D("49.92"), D("965.08")),
        (2, "2025-06-15", D("35.44"), D("14.48"), D("49.92"), D("929.64")),
        (3, "2025-07-15", D("82.43"), D("31.94"), D("114.37"), D("2047.21")),
        (4, "2025-08-15", D("116.35"), D("42.71"), D("159.06"), D("2730.86")),
        (5, "2025-09-15", D("118.10"), D("40.96"), D("159.06"), D("2612.76")),
    ]
    assert schedule[-2:] == [
        (23, "2027-03-15", D("154.39"), D("4.67"), D("159.06"), D("156.73")),
        (24, "2027-04-15", D("156.73"), D("2.35"), D("159.08"), D("0")),
    ]
    assert [row[1] for row in schedule] == [_cash_due(k) for k in range(1, 25)]
    assert all(row[4] == D("159.06") for row in schedule[3:23])  # level from 4 to 23
    assert sum(row[2] for row in schedule) == D("3000")  # every dollar lent is repaid
    # installments 1 and 2 are still unpaid: the first one is next, 5 July - 15 May = 51 days late
    assert _next(cash_loan) == (1, "2025-05-15", D("34.92"), D("15.00"), D("49.92"), D("965.08"))
    assert (cash_loan["days_past_due"], D(cash_loan["overdue_amount"])) == (51, D("99.84"))
    # the materials loan is untouched by the MFI's tranches
    assert [row[:4] for row in installments(client, officer_1, loan_a)] == expected_a2

    # --- The family's file as the NGO, the MFI and the finance lead see it.
    both = client.get(
        "/v1/loans", headers=officer_1, params={"household_id": family["id"], "status": "active"}
    ).json()
    assert both["total"] == 2 and {x["id"] for x in both["items"]} == {loan_a, loan_b}
    assert (
        client.get(
            "/v1/loans", headers=officer_1, params={"household_id": family["id"], "status": "submitted"}
        ).json()["total"]
        == 0
    )
    mfi_view = client.get("/v1/loans", headers=partner_2, params={"household_id": family["id"]}).json()
    assert [x["id"] for x in mfi_view["items"]] == [loan_b]
    for path in (f"/v1/loans/{loan_b}", f"/v1/loans?household_id={family['id']}"):
        response = client.get(path, headers=finance)
        assert response.status_code == 200, response.text
        for personal in (family["head_name"], family["phone"], family["parcel_code"], family["title_number"]):
            assert personal not in response.text, personal
    assert _balances(_loan(client, finance, loan_b)) == ("active", D("3000"), D("3000"))

    # --- The history: who did what, with the state before and after, oldest first, never rewritten.
    officer_1_name, officer_2_name = KEY_NAMES["officer_1"][0], KEY_NAMES["officer_2"][0]
    partner_1_name, partner_2_name = KEY_NAMES["partner_1"][0], KEY_NAMES["partner_2"][0]
    final_a = _history(client, officer_2, loan_a)
    assert final_a == history_a  # nothing the MFI did touched the materials loan's history
    assert final_a[:2] == history_at_approval  # entries are only ever appended
    assert [_who(e) for e in final_a] == [
        ("submitted", officer_1_name, "loan_officer"),
        ("approved", officer_2_name, "loan_officer"),
        ("disbursed_materials", officer_1_name, "loan_officer"),
        ("inspected", officer_2_name, "loan_officer"),
        ("disbursed_materials", officer_1_name, "loan_officer"),
    ]
    submitted, approved, delivered_1, _inspected, delivered_2 = final_a
    assert submitted["before"] is None and submitted["after"]["status"] == "submitted"
    assert (approved["before"]["status"], approved["after"]["status"]) == ("submitted", "approved")
    assert money(approved["after"]["approved_amount"]) == D("1200")
    assert (delivered_1["before"]["status"], delivered_1["after"]["status"]) == ("approved", "active")
    assert money(delivered_1["before"]["disbursed_amount"]) == D("0")
    assert money(delivered_1["after"]["disbursed_amount"]) == D("452.30")
    assert money(delivered_2["before"]["disbursed_amount"]) == D("452.30")
    assert money(delivered_2["after"]["disbursed_amount"]) == D("997.65")
    # the loan amount applied for stays 1,200 on both sides; the movement is told apart
    assert money(delivered_2["before"]["amount"]) == money(delivered_2["after"]["amount"]) == D("1200")
    movement = delivered_2["after"]["disbursement"]
    assert (movement["kind"], money(movement["amount"]), movement["milestone"], movement["date"]) == (
        "materials",
        D("545.35"),
        "structure",
        "2025-03-20",
    )
    assert {x["sku"]: (D(x["quantity"]), D(x["value"])) for x in movement["lines"]} == {
        "SAND-M3": (D("3.5"), D("51.10")),
        "CEMENT-50KG": (D("25"), D("156.25")),
        "REBAR-12": (D("20"), D("168.00")),
        "BRICK": (D("2000"), D("170.00")),
    }
    assert [e["before"]["schedule_version"] for e in (delivered_1, delivered_2)] == [0, 1]
    assert [e["after"]["schedule_version"] for e in (delivered_1, delivered_2)] == [1, 2]
    final_b = _history(client, partner_1, loan_b)
    assert [_who(e) for e in final_b] == [
        ("submitted", partner_1_name, "partner"),
        ("approved", partner_2_name, "partner"),
        ("disbursed_cash", partner_1_name, "partner"),
        ("inspected", partner_2_name, "partner"),
        ("disbursed_cash", partner_1_name, "partner"),
        ("inspected", officer_2_name, "loan_officer"),
        ("disbursed_cash", partner_1_name, "partner"),
    ]
    cash_moves = [e for e in final_b if e["action"] == "disbursed_cash"]
    assert [
        (money(e["before"]["disbursed_amount"]), money(e["after"]["disbursed_amount"])) for e in cash_moves
    ] == [(D("0"), D("1000")), (D("1000"), D("2200")), (D("2200"), D("3000"))]
    ids = [e["id"] for e in final_a + final_b]
    assert len(set(ids)) == len(ids)
    assert [e["id"] for e in final_b] == sorted(e["id"] for e in final_b)
