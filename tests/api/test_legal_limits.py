"""Legal limits (issue 10, item 1): the NBC cap on the nominal rate and the ban on flat interest,
for every lender; each application's own fee-inclusive APR and EIR, an approval above the cap only
with a written acknowledgement, counted in the portfolio report; upfront fees withheld at
disbursement and shown on the disbursement and the schedule.

The expected APRs are worked out here, from the cash flows the test writes itself (the schedule's
installments by the Fineract convention, then a bisection on the actuarial equation), never read
off the code under test.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import pytest
from fastapi.testclient import TestClient

from loansvc.config import Settings
from loansvc.main import create_app
from tests.api.helpers import assert_problem, create_lender, product_body
from tests.api.lending import (
    apply,
    approve,
    business_day,
    cash_product,
    inspect,
    lending_world,
    materials_product,
    release,
)

CENT = Decimal("0.01")
SUBMITTED = date(2025, 1, 15)  # mid-month: every due date is exactly k months later, no clamping
APPROVED = date(2025, 1, 20)
DISBURSED = date(2025, 1, 25)
TODAY = date(2025, 2, 10)
UPFRONT_5 = [{"name": "administration", "timing": "upfront", "percent": "5"}]
NOTE = "the family chose the short term; the 5 % administration fee was explained and signed for"


@pytest.fixture()
def world(client, session, monkeypatch):
    business_day(monkeypatch, TODAY)
    return lending_world(client, session)


def _errors_at(body: dict, field: str) -> list[dict]:
    return [e for e in body.get("errors") or [] if e["loc"] == ["body", field]]


# Products: the nominal cap and flat interest, for every lender ------------------------------------


@pytest.mark.parametrize("kind", ["mfi", "ngo_fund", "materials_bank"])
def test_a_product_above_the_cap_is_refused_for_every_lender(client, admin, db_state, kind):
    lender = create_lender(client, admin, kind=kind)
    before = db_state()
    response = client.post(
        "/v1/products", headers=admin, json=product_body(lender["id"], annual_rate_percent="24")
    )
    body = assert_problem(response, 422, "RATE_ABOVE_LEGAL_CAP")
    assert "24" in body["detail"] and "18" in body["detail"]
    assert _errors_at(body, "annual_rate_percent"), body
    assert db_state() == before


@pytest.mark.parametrize("kind", ["mfi", "ngo_fund", "materials_bank"])
def test_a_flat_product_is_refused_for_every_lender(client, admin, db_state, kind):
    lender = create_lender(client, admin, kind=kind)
    before = db_state()
    # 12 % flat is under the nominal cap: flat interest is refused for itself
    body = product_body(lender["id"], annual_rate_percent="12", interest_method="flat")
    problem = assert_problem(
        client.post("/v1/products", headers=admin, json=body), 422, "FLAT_RATE_PROHIBITED"
    )
    assert _errors_at(problem, "interest_method"), problem
    assert db_state() == before


def test_the_cap_itself_is_lent_and_a_hair_above_it_is_not(client, admin):
    lender = create_lender(client, admin)
    at_cap = client.post(
        "/v1/products", headers=admin, json=product_body(lender["id"], annual_rate_percent="18")
    )
    assert at_cap.status_code == 201, at_cap.text
    above = product_body(lender["id"], annual_rate_percent="18.0001")
    assert_problem(client.post("/v1/products", headers=admin, json=above), 422, "RATE_ABOVE_LEGAL_CAP")


def test_the_cap_comes_from_the_settings(db, database_url, make_key):
    """LOANSVC_RATE_CAP_PERCENT=16: a 17 % product is above it, a 16 % one is not."""
    admin = make_key("admin")
    app = create_app(Settings(database_url=database_url, rate_cap_percent=Decimal("16")), database=db)
    with TestClient(app, raise_server_exceptions=False) as client:
        lender = create_lender(client, admin)
        body = product_body(lender["id"], annual_rate_percent="17")
        assert_problem(client.post("/v1/products", headers=admin, json=body), 422, "RATE_ABOVE_LEGAL_CAP")
        legal = client.post("/v1/products", headers=admin, json={**body, "annual_rate_percent": "16"})
        assert legal.status_code == 201, legal.text


def test_a_flat_offer_can_still_be_simulated_with_its_warning(client, officer):
    body = {
        "principal": "1000",
        "currency": "USD",
        "annual_rate_percent": "8",
        "term": 12,
        "frequency": "monthly",
        "disbursement_date": "2025-01-15",
        "interest_method": "flat",
    }
    response = client.post("/v1/schedules/simulate", headers=officer, json=body)
    assert response.status_code == 200, response.text
    assert "FLAT_RATE_PROHIBITED" in [w["code"] for w in response.json()["warnings"]]


def test_an_in_kind_loan_takes_no_upfront_fee(client, admin, db_state):
    """Nothing can be withheld from a delivery of materials: a materials-bank fee is per installment."""
    bank = create_lender(client, admin, kind="materials_bank")
    before = db_state()
    body = product_body(bank["id"], annual_rate_percent="0", fees=UPFRONT_5)
    problem = assert_problem(
        client.post("/v1/products", headers=admin, json=body), 422, "UPFRONT_FEE_IN_KIND"
    )
    assert problem["errors"][0]["loc"] == ["body", "fees", 0, "timing"]
    assert db_state() == before
    per_installment = [{"name": "handling", "timing": "per_installment", "amount": "1"}]
    assert materials_product(client, admin, bank["id"], fees=per_installment)["fees"][0]["timing"] == (
        "per_installment"
    )


# The application's own APR and EIR ------------------------------------------------------------------


def _bisect_apr(received: Decimal, payments: list[Decimal]) -> tuple[Decimal, Decimal]:
    """(APR, EIR) in percent of `received` now against `payments` one month apart from a month on:
    received = sum(p_k / (1 + i)^k), solved for the monthly i by bisection; APR = 12 i, EIR =
    (1 + i)^12 - 1 (the actuarial method with a month as the unit period)."""
    with localcontext(prec=40):
        low, high = Decimal(0), Decimal("0.2")
        for _ in range(120):
            mid = (low + high) / 2
            worth = sum(p / (1 + mid) ** k for k, p in enumerate(payments, 1))
            low, high = (mid, high) if worth > received else (low, mid)
        return low * 1200, ((1 + low) ** 12 - 1) * 100


def _level_payments(principal: Decimal, annual_percent: Decimal, n: int) -> list[Decimal]:
    """The installments: PMT rounded to the cent, interest on the balance each month, the last
    installment clearing what is left."""
    r = annual_percent / 1200
    pmt = (principal * r / (1 - (1 + r) ** -n)).quantize(CENT, ROUND_HALF_EVEN)
    balance, out = principal, []
    for k in range(1, n + 1):
        interest = (balance * r).quantize(CENT, ROUND_HALF_EVEN)
        part = balance if k == n else pmt - interest
        balance -= part
        out.append(part + interest)
    return out


def test_the_installments_and_the_apr_are_worked_out_here():
    # 1000 at 18 % over 12 months: i = 1.5 %, PMT = 1000 x 0.015 / (1 - 1.015^-12) = 91.68;
    # 11 x 91.68 and the last one clearing the balance: 90.31 principal + 1.35 interest = 91.66
    payments = _level_payments(Decimal(1000), Decimal(18), 12)
    assert payments == [Decimal("91.68")] * 11 + [Decimal("91.66")]
    # the family receives 1000 - 50.00 (5 % withheld) = 950.00: 950 = 91.68 a(11, i) + 91.66 v^12
    # at i = 2.3330 % a month: APR 27.9954 % -> 28.00 shown; EIR 1.02333^12 - 1 = 31.88 %
    apr, eir = _bisect_apr(Decimal(950), payments)
    assert (apr.quantize(CENT, ROUND_HALF_EVEN), eir.quantize(CENT, ROUND_HALF_EVEN)) == (
        Decimal("28.00"),
        Decimal("31.88"),
    )
    # without the fee: 1000 = ... gives 17.9968 % (the last installment is 2 cents short): 18.00
    no_fee, _ = _bisect_apr(Decimal(1000), payments)
    assert no_fee.quantize(CENT, ROUND_HALF_EVEN) == Decimal("18.00")


def test_an_18_percent_loan_without_fees_is_approved_as_it_is(client, world):
    """Its APR shows 18.00 (17.9968 %): rounding noise is no breach, no acknowledgement needed."""
    loan = apply(
        client,
        world["partner_1"],
        world["household"]["id"],
        world["cash_product"]["id"],
        "1000",
        12,
        submitted_on=SUBMITTED.isoformat(),
    )
    assert loan["apr_percent"] == "18.00"
    approved = approve(client, world["partner_2"], loan["id"], approved_on=APPROVED.isoformat())
    assert (approved["status"], approved["apr_percent"]) == ("approved", "18.00")


def _fee_loan(client, world, amount="1000", term=12, fees=UPFRONT_5, **product):
    fee_product = cash_product(client, world["admin"], world["mfi"]["id"], fees=fees, **product)
    return apply(
        client,
        world["partner_1"],
        world["household"]["id"],
        fee_product["id"],
        amount,
        term,
        submitted_on=SUBMITTED.isoformat(),
    )


def test_a_fee_above_the_cap_needs_a_written_acknowledgement(client, world, db_state):
    """18 % nominal, legal; the 5 % upfront fee on a 12-month loan of 1000 makes its APR 28.00 %."""
    loan = _fee_loan(client, world)
    payments = _level_payments(Decimal(1000), Decimal(18), 12)
    apr, eir = _bisect_apr(Decimal(1000) - Decimal("50.00"), payments)
    shown_apr, shown_eir = (str(x.quantize(CENT, ROUND_HALF_EVEN)) for x in (apr, eir))
    assert (loan["apr_percent"], loan["eir_percent"]) == (shown_apr, shown_eir) == ("28.00", "31.88")
    url = f"/v1/loans/{loan['id']}/approve"
    p2 = world["partner_2"]

    before = db_state()
    refused = assert_problem(
        client.post(url, headers=p2, json={"approved_on": "2025-01-20"}), 409, "APR_ABOVE_CAP"
    )
    assert "28.00" in refused["detail"] and "18" in refused["detail"]
    assert (refused["apr_percent"], refused["rate_cap_percent"]) == ("28.00", "18")
    # a note alone is not the acknowledgement
    noted = {"approved_on": "2025-01-20", "note": NOTE}
    assert_problem(client.post(url, headers=p2, json=noted), 409, "APR_ABOVE_CAP")
    # the acknowledgement without a written note is malformed
    unwritten = {"approved_on": "2025-01-20", "acknowledge_apr_above_cap": True}
    assert_problem(client.post(url, headers=p2, json=unwritten), 422)
    assert db_state() == before

    approved = approve(
        client, p2, loan["id"], approved_on="2025-01-20", acknowledge_apr_above_cap=True, note=NOTE
    )
    assert (approved["status"], approved["apr_percent"], approved["decision_note"]) == (
        "approved",
        "28.00",
        NOTE,
    )
    history = client.get(f"/v1/loans/{loan['id']}/history", headers=p2).json()["items"]
    entry = next(e for e in history if e["action"] == "approved")
    assert entry["after"]["apr_percent"] == "28.00"
    assert entry["after"]["acknowledge_apr_above_cap"] is True
    assert entry["after"]["note"] == NOTE

    # the fee is withheld from the disbursement: 1000.00 gross, 50.00 withheld, 950.00 in hand
    paid_out = release(client, world["partner_1"], loan["id"], "1000", "foundation", DISBURSED)
    assert (
        paid_out["amount"],
        paid_out["gross_amount"],
        paid_out["fees_withheld"],
        paid_out["net_amount"],
    ) == (
        "1000.00",
        "1000.00",
        "50.00",
        "950.00",
    )
    listed = client.get(f"/v1/loans/{loan['id']}/disbursements", headers=p2).json()["items"]
    assert (listed[0]["fees_withheld"], listed[0]["net_amount"]) == ("50.00", "950.00")
    # the schedule says where the fee went; the installments repay the gross 1000 and carry no fee
    schedule = client.get(f"/v1/loans/{loan['id']}/schedule", headers=p2).json()
    assert schedule["fees"] == {
        "upfront": "50.00",
        "withheld": "50.00",
        "per_installment": "0.00",
        "total": "50.00",
    }
    assert [Decimal(i["total"]) for i in schedule["installments"]] == payments
    assert sum(Decimal(i["principal"]) for i in schedule["installments"]) == Decimal(1000)

    # the portfolio report counts it, with its balance, under its lender and in the USD total
    report = client.get("/v1/reports/portfolio", headers=world["admin"], params={"group_by": "lender"}).json()
    group = next(g for g in report["groups"] if g["group"]["lender_id"] == world["mfi"]["id"])
    assert (group["loans_apr_above_cap"], group["loans_apr_above_cap_balance"]) == (1, "1000.00")
    usd = next(t for t in report["totals"] if t["currency"] == "USD")
    assert (usd["loans_apr_above_cap"], usd["loans_apr_above_cap_balance"]) == (1, "1000.00")
    csv = client.get("/v1/reports/portfolio", headers=world["admin"], params={"format": "csv"}).text
    header = csv.splitlines()[0].split(",")
    assert {"loans_apr_above_cap", "loans_apr_above_cap_balance"} <= set(header)


def test_a_smaller_approved_amount_is_priced_again(client, world, db_state):
    """17 % and a fixed 10.00 fee: on 5000 over 48 months the fee is 0.2 % and the APR stays under
    18 %; approving only 250, the same 10.00 is 4 % of it and the APR passes the cap."""
    loan = _fee_loan(
        client,
        world,
        amount="5000",
        term=48,
        fees=[{"name": "administration", "timing": "upfront", "amount": "10"}],
        annual_rate_percent="17",
    )
    # 5000 at 17 % over 48: PMT = 144.28; received 4990: APR 17.1116 % -> 17.11
    apr_5000, _ = _bisect_apr(Decimal(4990), _level_payments(Decimal(5000), Decimal(17), 48))
    assert loan["apr_percent"] == str(apr_5000.quantize(CENT, ROUND_HALF_EVEN))
    assert Decimal(loan["apr_percent"]) < 18
    # 250 at 17 % over 48: PMT = 7.21; received 240: APR 19.2965 % -> 19.30
    apr_250, _ = _bisect_apr(Decimal(240), _level_payments(Decimal(250), Decimal(17), 48))
    assert apr_250.quantize(CENT, ROUND_HALF_EVEN) > 18
    before = db_state()
    body = {"approved_on": "2025-01-20", "approved_amount": "250"}
    refused = client.post(f"/v1/loans/{loan['id']}/approve", headers=world["partner_2"], json=body)
    assert assert_problem(refused, 409, "APR_ABOVE_CAP")["apr_percent"] == str(
        apr_250.quantize(CENT, ROUND_HALF_EVEN)
    )
    assert db_state() == before


# Upfront fees across tranches ----------------------------------------------------------------------


def test_fixed_fees_come_off_the_first_tranche_and_percent_fees_pro_rata(client, world):
    """A fixed 10.00 fee and 2 % of the principal on 2000: 10 + 40 = 50.00 in all.
    Foundation 1200: 10.00 + 2 % x 1200 = 24.00 -> 34.00 withheld, 1166.00 paid out;
    structure 800: 2 % x 2000 - 2 % x 1200 = 40 - 24 = 16.00 withheld, 784.00 paid out."""
    fees = [
        {"name": "file", "timing": "upfront", "amount": "10"},
        {"name": "administration", "timing": "upfront", "percent": "2"},
    ]
    loan = _fee_loan(client, world, amount="2000", term=24, fees=fees)
    approve(
        client,
        world["partner_2"],
        loan["id"],
        approved_on="2025-01-20",
        acknowledge_apr_above_cap=True,
        note=NOTE,
    )
    first = release(client, world["partner_1"], loan["id"], "1200", "foundation", DISBURSED)
    assert (first["gross_amount"], first["fees_withheld"], first["net_amount"]) == (
        "1200.00",
        "34.00",
        "1166.00",
    )
    inspect(client, world["officer_1"], loan["id"], "foundation", date(2025, 2, 5))
    second = release(client, world["partner_1"], loan["id"], "800", "structure", date(2025, 2, 6))
    assert (second["gross_amount"], second["fees_withheld"], second["net_amount"]) == (
        "800.00",
        "16.00",
        "784.00",
    )
    schedule = client.get(f"/v1/loans/{loan['id']}/schedule", headers=world["partner_2"]).json()
    assert schedule["fees"]["upfront"] == schedule["fees"]["withheld"] == "50.00"
    before_second = client.get(
        f"/v1/loans/{loan['id']}/schedule", headers=world["partner_2"], params={"as_of": "2025-02-05"}
    ).json()
    assert before_second["fees"]["withheld"] == "34.00"


def test_a_tranche_that_cannot_cover_the_fixed_fee_is_refused(client, world, db_state):
    fees = [{"name": "file", "timing": "upfront", "amount": "300"}]
    loan = _fee_loan(client, world, amount="5000", term=48, fees=fees)
    approve(
        client,
        world["partner_2"],
        loan["id"],
        approved_on="2025-01-20",
        acknowledge_apr_above_cap=True,
        note=NOTE,
    )
    before = db_state()
    body = {"kind": "cash", "amount": "300", "milestone": "foundation", "date": DISBURSED.isoformat()}
    response = client.post(f"/v1/loans/{loan['id']}/disbursements", headers=world["partner_1"], json=body)
    problem = assert_problem(response, 422, "FEES_ABOVE_TRANCHE")
    assert _errors_at(problem, "amount"), problem
    assert db_state() == before
