"""The defects found when the service was tried as its users would, each with its regression test,
and the ledger's promises that came with the fix: one figure everywhere, recoveries, pages.

The loan of the stories (see test_repayments.py): 1200.00 at 18 % over 12 months from 10 January
2026, installments of 110.02 due on the 10th; installment 1 is 18.00 interest + 92.02 principal,
installment 2 is 16.62 interest + 93.40 principal (1107.98 x 1.5 % = 16.6197 -> 16.62).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from loansvc.config import Settings
from loansvc.main import create_app
from tests.api.helpers import assert_problem
from tests.api.test_repayments import _csv, arrears, loan, pay, set_day

__all__ = ["loan"]  # the fixture, imported for the tests below


def _import(client, headers, rows: list[str], **params):
    files = {"file": ("file.csv", _csv(rows), "text/csv")}
    return client.post("/v1/repayments/import", headers=headers, files=files, params=params)


def test_a_file_row_on_the_day_of_an_earlier_payment_is_simply_recorded(client, loan, monkeypatch):
    """It was a 500 (TypeError sorting an unsaved payment's missing created_at)."""
    world, loan_id = loan
    partner = world["partner_1"]
    set_day(monkeypatch, date(2026, 11, 30))
    assert pay(client, partner, loan_id, "5.00", date(2026, 11, 30), "A").status_code == 201
    response = _import(client, partner, [f"{loan_id},2026-11-30,5.00,B"])
    assert response.status_code == 200, response.text
    assert response.json() == {"recorded": 1, "duplicates": 0, "rejected": []}
    listed = client.get(f"/v1/loans/{loan_id}/repayments", headers=partner).json()
    assert [(r["reference"], r["paid_on"]) for r in listed["items"]] == [
        ("A", "2026-11-30"),
        ("B", "2026-11-30"),
    ]
    # both 5.00 went to installment 1's interest (18.00 first): 10.00 of it paid, principal untouched
    loan_now = client.get(f"/v1/loans/{loan_id}", headers=partner).json()
    assert (loan_now["outstanding_principal"], loan_now["total_paid"]) == ("1200.00", "10.00")


def test_a_written_off_loan_has_one_outstanding_figure_everywhere(client, loan, monkeypatch):
    """Before: GET /v1/loans said 0.00 while /repayments and /arrears said 1107.98."""
    world, loan_id = loan
    p1, p2 = world["partner_1"], world["partner_2"]
    set_day(monkeypatch, date(2026, 11, 26))
    paid = pay(client, p1, loan_id, "110.02", date(2026, 2, 10), "R-1")
    assert paid.json()["outstanding_principal"] == "1107.98"  # 1200.00 - 92.02
    for key in (p1, p2):
        client.post(f"/v1/loans/{loan_id}/write-off", headers=key, json={"reason": "the family left"})
    loan_now = client.get(f"/v1/loans/{loan_id}", headers=p1).json()
    repayments = client.get(f"/v1/loans/{loan_id}/repayments", headers=p1).json()["items"]
    late = arrears(client, p1, loan_id, date(2026, 11, 26))
    assert loan_now["status"] == "written_off"
    assert loan_now["outstanding_principal"] == repayments[0]["outstanding_principal"] == "0.00"
    assert late["outstanding_principal"] == "0.00"
    assert loan_now["written_off_principal"] == late["written_off_principal"] == "1107.98"
    # disbursed - principal paid - written off = 1200.00 - 92.02 - 1107.98 = 0
    assert (loan_now["disbursed_amount"], loan_now["principal_paid"]) == ("1200.00", "92.02")
    # the day before the write-off the loan was still on the books, with its 1107.98
    before = arrears(client, p1, loan_id, date(2026, 11, 25))
    assert (before["outstanding_principal"], before["written_off_principal"]) == ("1107.98", "0.00")


def test_a_payment_after_the_write_off_is_a_recovery(client, loan, monkeypatch, admin):
    world, loan_id = loan
    p1, p2 = world["partner_1"], world["partner_2"]
    set_day(monkeypatch, date(2026, 11, 26))
    pay(client, p1, loan_id, "110.02", date(2026, 2, 10), "R-1")
    for key in (p1, p2):
        client.post(f"/v1/loans/{loan_id}/write-off", headers=key, json={"reason": "the family left"})
    set_day(monkeypatch, date(2026, 11, 30))
    recovered = pay(client, p1, loan_id, "200.00", date(2026, 11, 28), "REC-1")
    assert recovered.status_code == 201, recovered.text
    body = recovered.json()
    # counted, never allocated: the loan stays written off, nothing of principal paid moves
    assert (body["kind"], body["allocations"], body["loan_status"]) == ("recovery", [], "written_off")
    assert (body["outstanding_principal"], body["recovered_amount"]) == ("0.00", "200.00")
    loan_now = client.get(f"/v1/loans/{loan_id}", headers=p1).json()
    assert (loan_now["principal_paid"], loan_now["written_off_principal"]) == ("92.02", "1107.98")
    assert loan_now["recovered_amount"] == "200.00"
    # November's report: 1107.98 written off (26 Nov), 200.00 recovered (28 Nov). The loan was the
    # whole USD portfolio at the month's start (31 Oct: 1107.98) and is off the books at as_of (0):
    # average (1107.98 + 0) / 2 = 553.99; write-off ratio 1107.98 / 553.99 = 200.00 %;
    # loan loss rate (1107.98 - 200.00) / 553.99 = 907.98 / 553.99 = 163.8982 % -> 163.90
    report = client.get("/v1/reports/portfolio", headers=admin, params={"as_of": "2026-11-30"}).json()
    usd = next(t for t in report["totals"] if t["currency"] == "USD")
    assert (usd["written_off"], usd["recoveries"]) == ("1107.98", "200.00")
    assert usd["average_gross_loan_portfolio"] == "553.99"
    assert (usd["write_off_ratio_percent"], usd["loan_loss_rate_percent"]) == ("200.00", "163.90")
    assert usd["collected"] == "0.00"  # a recovery is not a collection
    # a recovery never brings back more than the family owed at the write-off: 1107.98 of principal
    # and the interest of installments 2 to 10 (due 10 March to 10 November), each at most
    # 1.5 % x 1200.00 = 18.00: at most 1107.98 + 9 x 18.00 = 1269.98, far below 5000.00
    too_much = pay(client, p1, loan_id, "5000.00", date(2026, 11, 29), "REC-2")
    assert_problem(too_much, 409, "OVERPAYMENT")
    # reversing the recovery takes it back off; the loan stays written off
    reversed_ = client.post(f"/v1/repayments/{body['id']}/reverse", headers=p1, json={"reason": "bounced"})
    assert reversed_.status_code == 200, reversed_.text
    assert (reversed_.json()["recovered_amount"], reversed_.json()["loan_status"]) == ("0.00", "written_off")


def test_the_next_installment_is_the_first_one_not_fully_paid(client, loan, monkeypatch):
    """Before: after installment 1 was paid in full it still showed installment 1."""
    world, loan_id = loan
    partner = world["partner_1"]
    set_day(monkeypatch, date(2026, 2, 10))
    assert pay(client, partner, loan_id, "110.02", date(2026, 2, 10), "R-1").status_code == 201
    upcoming = client.get(f"/v1/loans/{loan_id}", headers=partner).json()["next_installment"]
    assert (upcoming["number"], upcoming["due_date"], upcoming["status"]) == (2, "2026-03-10", "upcoming")
    # 20.00 more pays part of installment 2: it is next still, partly paid (its interest 16.62 first)
    set_day(monkeypatch, date(2026, 2, 20))
    assert pay(client, partner, loan_id, "20.00", date(2026, 2, 20), "R-2").status_code == 201
    upcoming = client.get(f"/v1/loans/{loan_id}", headers=partner).json()["next_installment"]
    assert (upcoming["number"], upcoming["status"]) == (2, "partly_paid")
    assert (upcoming["paid_interest"], upcoming["paid_principal"]) == ("16.62", "3.38")  # 20.00 - 16.62


def test_each_installment_has_its_paid_parts_and_status_as_of_the_day(client, loan, monkeypatch):
    world, loan_id = loan
    partner = world["partner_1"]
    set_day(monkeypatch, date(2026, 4, 10))
    pay(client, partner, loan_id, "110.02", date(2026, 2, 10), "R-1")
    pay(client, partner, loan_id, "50.00", date(2026, 3, 20), "R-2")
    rows = client.get(f"/v1/loans/{loan_id}/schedule", headers=partner).json()["installments"]
    # on 10 April: 1 paid; 2 (10 March) partly paid and past due: overdue; 3 falls due today: due
    assert [r["status"] for r in rows[:4]] == ["paid", "overdue", "due", "upcoming"]
    assert (rows[1]["paid_interest"], rows[1]["paid_principal"]) == ("16.62", "33.38")  # 50.00 - 16.62
    # as of 1 March only the first payment counts: installment 2 is not due yet and untouched
    then = client.get(f"/v1/loans/{loan_id}/schedule", headers=partner, params={"as_of": "2026-03-01"}).json()
    assert [r["status"] for r in then["installments"][:2]] == ["paid", "upcoming"]
    assert then["installments"][1]["paid_interest"] == "0.00"
    future = client.get(f"/v1/loans/{loan_id}/schedule", headers=partner, params={"as_of": "2026-04-11"})
    assert_problem(future, 422, "DATE_IN_FUTURE")


def test_every_list_of_a_loan_answers_a_page(client, loan, monkeypatch):
    world, loan_id = loan
    partner = world["partner_1"]
    set_day(monkeypatch, date(2026, 4, 1))
    for k, day in enumerate((date(2026, 2, 10), date(2026, 3, 10)), 1):
        assert pay(client, partner, loan_id, "110.02", day, f"R-{k}").status_code == 201
    for path, total in (("repayments", 2), ("disbursements", 1), ("inspections", 0), ("history", 5)):
        whole = client.get(f"/v1/loans/{loan_id}/{path}", headers=partner).json()
        assert set(whole) == {"items", "total", "limit", "offset"}, path
        assert (whole["total"], len(whole["items"]), whole["limit"]) == (total, total, 50), path
        second = client.get(f"/v1/loans/{loan_id}/{path}", headers=partner, params={"limit": 1, "offset": 1})
        assert len(second.json()["items"]) == min(1, max(total - 1, 0)), path
        if total > 1:
            assert second.json()["items"][0] == whole["items"][1], path


def test_the_apps_settings_reach_the_write_off_and_the_page_size(db, database_url, loan, monkeypatch, client):
    """create_app(Settings(...)) is honoured: a 60-day write-off rule, and pages of at most 3."""
    world, loan_id = loan
    settings = Settings(
        database_url=database_url,
        write_off_min_days_past_due=60,
        default_page_limit=2,
        max_page_limit=3,
    )
    from fastapi.testclient import TestClient

    with TestClient(create_app(settings, database=db), raise_server_exceptions=False) as other:
        p1, p2 = world["partner_1"], world["partner_2"]
        set_day(monkeypatch, date(2026, 5, 10))  # 10 February -> 10 May: 89 days, enough for 60
        assert other.get("/v1/loans", headers=p1).json()["limit"] == 2
        assert_problem(other.get("/v1/loans", headers=p1, params={"limit": 4}), 422, "LIMIT_TOO_LARGE")
        assert (
            other.post(f"/v1/loans/{loan_id}/write-off", headers=p1, json={"reason": "gone"}).status_code
            == 202
        )
        assert (
            other.post(f"/v1/loans/{loan_id}/write-off", headers=p2, json={"reason": "gone"}).status_code
            == 200
        )
    # the default app keeps the default rule (180 days) and pages (50)
    assert client.get("/v1/loans", headers=world["partner_1"]).json()["limit"] == 50
    assert D(
        client.get(f"/v1/loans/{loan_id}", headers=world["partner_1"]).json()["written_off_principal"]
    ) == D("1200.00")
