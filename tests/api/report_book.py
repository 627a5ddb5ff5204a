"""A small book of loans for the report tests, as of 2026-06-30, and how each loan stands then.

The loans are written with the ORM (their past dates are the point); every payment, the reversal
and the write-off go through the API, so the allocation projection is the service's own.

Lender A, a partner MFI (USD products PA monthly and PW biweekly, KHR product PK); lender B, the
materials bank (USD product PB, 0 %). Site S1: households H1, H2, H4. Site S2: H3, H5, H6.

  loan, lender, family, term   disbursed               schedule                        payments (API)
  L1  A H1 12 m     1,200.00 cash 2026-01-01     12 x (100 + 12.34), 1st Feb..     Feb 1..Jun 1: 5 x 112.34
  L2  A H2 24 m     2,400.00 cash 2025-12-10     24 x (100 + 20), 10th Jan..       Jan 10..May 10: 5 x 120;
                                                                                   Jun 10: 120, reversed
  L3  A H3 26 x 2 weeks (= 12 m) 520.00 cash 2026-03-06
                                                 26 x (20 + 2) every 14 days from  Mar 20..May 29: 6 x 22;
                                                 Mar 20 (.. Jun 12, Jun 26 ..)     Jun 15: 12 (2 int + 10 pr)
  L4  B H3 18 m     900.00 materials 2026-02-28  18 x 50, 29th Mar..               Mar 29..May 29: 3 x 50
  L5  A H4 10 m     1,000.00 cash 2026-01-16     10 x (100 + 8), 16th Feb..Nov     Feb 16..Apr 16: 3 x 108;
                                                                                   Jun 20: 30 (8 int + 22 pr)
  L6  B H5 36 m     1,800.00 materials 2025-12-01  36 x 50, 22nd Jan..             Jan 22, Feb 22: 2 x 50
  L7  A H6 24 m     2,000.00 cash 2025-03-26     23 x (83.33 + 15) + (83.41 + 15)  Apr 26 2025: 98.33
                                                 26th Apr 2025..Mar 2027
  L8  A H1 18 m     1,800.00 cash 2026-04-30     18 x (100 + 25), month ends May.. Jul 2 2026: 125 (late
                                                                                   and after as_of)
  L9  A H2 3 m      300.00 cash 2025-10-01       3 x 100, Nov 1..Jan 1             all on time: closed Jan 1
  L10 A H5 12 m     600.00 cash 2025-06-01       12 x (50 + 5), 1st Jul 2025..     Jul 1, Aug 1 2025: 2 x 55;
                                                                                   written off 2026-06-15: 500
  L11 A H4 12 m     KHR 4,100,000 cash 2026-05-05  11 x (341,700 + 61,500)         Jun 5: 403,200
                                                 + (341,300 + 61,500), 5th Jun..
  L12 A H2 12 m     480.00 cash 2026-06-20       12 x (40 + 7.20), 20th Jul..      none
  L13 B H6 10 m     250.50 materials 2026-06-25  10 x 25.05, 25th Jul..            none
  L14 A H4 7 m      700.00 cash 2026-07-05 (after as_of)  7 x (100 + 10), 5th Aug..

As of 2026-06-30 (outstanding = disbursed - principal repaid by then; dpd = as_of - the oldest due
date not fully paid by then; an installment due ON as_of is not yet late):
  L1  700.00 = 1,200 - 5 x 100             dpd 0                    current  short: normal
  L2  1,900.00 = 2,400 - 5 x 100           dpd 20 (Jun 10)          1-30     long: normal (0-29)
  L3  390.00 = 520 - (6 x 20 + 10)         dpd 18 (Jun 12)          1-30     short (26 x 2 weeks = 12 months):
                                                                             special mention (15-30)
  L4  750.00 = 900 - 3 x 50                dpd 1 (Jun 29): not PAR1 1-30     long: normal
  L5  678.00 = 1,000 - (3 x 100 + 22)      dpd 45 (May 16)          31-60    short: substandard (31-60)
  L6  1,700.00 = 1,800 - 2 x 50            dpd 100 (Mar 22)         91-180   long: substandard (90-179)
  L7  1,916.67 = 2,000 - 83.33             dpd 400 (May 26 2025)    365+     long: loss (360+)
  L8  1,800.00 (Jul 2 is after as_of)      dpd 30 (May 31): not PAR30  1-30  long: special mention (30-89)
  L12 480.00, L13 250.50                   dpd 0                    current  normal
  L11 KHR 3,758,300 = 4,100,000 - 341,700  dpd 0                    current  normal
  Not active: L9 closed (Jan 1), L10 written off (Jun 15), L14 disbursed Jul 5.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from loansvc.db.models import Disbursement, Loan, ScheduledInstallment
from loansvc.domain.schedule import Amortization, DayCount, Frequency, InterestCalculation, InterestMethod
from loansvc.lending.terms import LoanTerms
from tests.api.helpers import create_household, create_lender, create_product, create_site


def monthly(year: int, month: int, day: int, count: int, principal: str, interest: str = "0") -> list:
    """`count` installments on `day` of each month from (year, month); day 31 means the month end."""
    rows = []
    for k in range(count):
        y, m = divmod(year * 12 + month - 1 + k, 12)
        end = (date(y + (m + 1) // 12, (m + 1) % 12 + 1, 1) - timedelta(days=1)).day
        rows.append((date(y, m + 1, min(day, end)), Decimal(principal), Decimal(interest)))
    return rows


def every_14_days(first: date, count: int, principal: str, interest: str) -> list:
    return [(first + timedelta(days=14 * k), Decimal(principal), Decimal(interest)) for k in range(count)]


def last(due: date, principal: str, interest: str = "0") -> list:
    return [(due, Decimal(principal), Decimal(interest))]


# fmt: off
# name: (lender, household, product, term, frequency, currency, (disbursed on, kind, amount), schedule)
LOANS = {
    "L1": ("A", "H1", "PA", 12, "monthly", "USD", (date(2026, 1, 1), "cash", "1200"),
           monthly(2026, 2, 1, 12, "100", "12.34")),
    "L2": ("A", "H2", "PA", 24, "monthly", "USD", (date(2025, 12, 10), "cash", "2400"),
           monthly(2026, 1, 10, 24, "100", "20")),
    "L3": ("A", "H3", "PW", 26, "biweekly", "USD", (date(2026, 3, 6), "cash", "520"),
           every_14_days(date(2026, 3, 20), 26, "20", "2")),
    "L4": ("B", "H3", "PB", 18, "monthly", "USD", (date(2026, 2, 28), "materials", "900"),
           monthly(2026, 3, 29, 18, "50")),
    "L5": ("A", "H4", "PA", 10, "monthly", "USD", (date(2026, 1, 16), "cash", "1000"),
           monthly(2026, 2, 16, 10, "100", "8")),
    "L6": ("B", "H5", "PB", 36, "monthly", "USD", (date(2025, 12, 1), "materials", "1800"),
           monthly(2026, 1, 22, 36, "50")),
    "L7": ("A", "H6", "PA", 24, "monthly", "USD", (date(2025, 3, 26), "cash", "2000"),
           monthly(2025, 4, 26, 23, "83.33", "15") + last(date(2027, 3, 26), "83.41", "15")),
    "L8": ("A", "H1", "PA", 18, "monthly", "USD", (date(2026, 4, 30), "cash", "1800"),
           monthly(2026, 5, 31, 18, "100", "25")),
    "L9": ("A", "H2", "PA", 3, "monthly", "USD", (date(2025, 10, 1), "cash", "300"),
           monthly(2025, 11, 1, 3, "100")),
    "L10": ("A", "H5", "PA", 12, "monthly", "USD", (date(2025, 6, 1), "cash", "600"),
            monthly(2025, 7, 1, 12, "50", "5")),
    "L11": ("A", "H4", "PK", 12, "monthly", "KHR", (date(2026, 5, 5), "cash", "4100000"),
            monthly(2026, 6, 5, 11, "341700", "61500") + last(date(2027, 5, 5), "341300", "61500")),
    "L12": ("A", "H2", "PA", 12, "monthly", "USD", (date(2026, 6, 20), "cash", "480"),
            monthly(2026, 7, 20, 12, "40", "7.20")),
    "L13": ("B", "H6", "PB", 10, "monthly", "USD", (date(2026, 6, 25), "materials", "250.50"),
            monthly(2026, 7, 25, 10, "25.05")),
    "L14": ("A", "H4", "PA", 7, "monthly", "USD", (date(2026, 7, 5), "cash", "700"),
            monthly(2026, 8, 5, 7, "100", "10")),
}
# loan, amount, paid on (in this order; L2's June payment is reversed afterwards)
PAYMENTS = (
    [("L1", "112.34", date(2026, m, 1)) for m in range(2, 7)]
    + [("L2", "120.00", date(2026, m, 10)) for m in range(1, 7)]
    + [("L3", "22.00", due) for due, _, _ in every_14_days(date(2026, 3, 20), 6, "0", "0")]
    + [("L3", "12.00", date(2026, 6, 15))]
    + [("L4", "50.00", date(2026, m, 29)) for m in (3, 4, 5)]
    + [("L5", "108.00", date(2026, m, 16)) for m in (2, 3, 4)] + [("L5", "30.00", date(2026, 6, 20))]
    + [("L6", "50.00", date(2026, m, 22)) for m in (1, 2)]
    + [("L7", "98.33", date(2025, 4, 26)), ("L8", "125.00", date(2026, 7, 2))]
    + [("L9", "100.00", on) for on in (date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1))]
    + [("L10", "55.00", on) for on in (date(2025, 7, 1), date(2025, 8, 1))]
    + [("L11", "403200", date(2026, 6, 5))]
)
# fmt: on


def book_loan(session, world, name, lender, household, product, term, frequency, currency, tranche, schedule):
    """An approved, disbursed loan with its schedule (version 1), written with the ORM."""
    on, kind, amount = tranche[0], tranche[1], Decimal(tranche[2])
    loan = Loan(
        household_id=world[household]["id"],
        site_id=world[household]["site_id"],
        product_id=world[product]["id"],
        lender_id=world[lender]["id"],
        currency=currency,
        amount=amount,
        term=term,
        purpose="build the core house",
        status="active",
        submitted_on=on - timedelta(days=20),
        submitted_by="tests",
        submitted_by_key_id="tests",
        decided_on=on - timedelta(days=10),
        approved_amount=amount,
        terms=LoanTerms(
            currency=currency,
            approved_amount=amount,
            term=term,
            annual_rate_percent=Decimal(18),
            interest_method=InterestMethod.DECLINING_BALANCE,
            amortization=Amortization.EQUAL_INSTALLMENTS,
            frequency=Frequency(frequency),
            interest_calculation=InterestCalculation.PER_PERIOD,
            day_count=DayCount.ACTUAL_365,
        ).to_json(),
        periods_per_year=Frequency(frequency).periods_per_year,
        first_unpaid_number=1,
        disbursed_amount=amount,
        first_disbursed_on=on,
        last_event_on=on,
        schedule_version=1,
    )
    session.add(loan)
    session.flush()
    session.add(
        Disbursement(
            loan_id=loan.id, kind=kind, amount=amount, milestone="foundation", disbursed_on=on, created_by="t"
        )
    )
    balance = amount
    for number, (due, principal, interest) in enumerate(schedule, 1):
        balance -= principal
        session.add(
            ScheduledInstallment(
                loan_id=loan.id,
                version=1,
                number=number,
                due_date=due,
                principal=principal,
                interest=interest,
                fees=Decimal(0),
                total=principal + interest,
                balance=balance,
            )
        )
    session.commit()
    world[name] = loan.id
    return loan.id


def pay(client, headers, loan_id: str, amount: str, on: date) -> str:
    body = {"amount": amount, "paid_on": on.isoformat(), "reference": f"R-{loan_id[:8]}-{on}-{amount}"}
    response = client.post(f"/v1/loans/{loan_id}/repayments", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def registry(client, admin, officer) -> dict:
    """Lenders A and B, products PA, PW (biweekly), PK (KHR), PB, sites S1, S2, households H1..H6."""
    world: dict = {"admin": admin}
    world["A"] = create_lender(client, admin)
    world["B"] = create_lender(client, admin, kind="materials_bank")
    a = world["A"]["id"]
    world["PA"] = create_product(client, admin, a)
    world["PW"] = create_product(client, admin, a, frequency="biweekly", min_term=12, max_term=104)
    world["PK"] = create_product(
        client, admin, a, currency="KHR", min_amount="1000000", max_amount="20000000"
    )
    world["PB"] = create_product(client, admin, world["B"]["id"], annual_rate_percent="0")
    world["S1"], world["S2"] = create_site(client, officer), create_site(client, officer)
    for name, site in (("H1", "S1"), ("H2", "S1"), ("H4", "S1"), ("H3", "S2"), ("H5", "S2"), ("H6", "S2")):
        world[name] = create_household(client, officer, world[site]["id"], head_name=f"Head of {name}")
    return world


def build_book(client, session, admin, officer, second_admin) -> dict:
    """The whole book above; returns the ids (and JSON of the registry rows) by name."""
    world = registry(client, admin, officer)
    for name, spec in LOANS.items():
        book_loan(session, world, name, *spec)
    paid = [pay(client, admin, world[loan], amount, on) for loan, amount, on in PAYMENTS]
    bounced = paid[5 + 5]  # L2's sixth payment, Jun 10
    response = client.post(
        f"/v1/repayments/{bounced}/reverse", headers=admin, json={"reason": "cheque bounced"}
    )
    assert response.status_code == 200 and response.json()["paid_on"] == "2026-06-10", response.text
    write_off = {"reason": "the family left the city", "written_off_on": "2026-06-15"}
    assert (
        client.post(f"/v1/loans/{world['L10']}/write-off", headers=admin, json=write_off).status_code == 202
    )
    response = client.post(f"/v1/loans/{world['L10']}/write-off", headers=second_admin, json=write_off)
    assert response.status_code == 200 and response.json()["principal"] == "500.00", response.text
    return world
