"""The portfolio report over HTTP, worked out by hand on the small book of tests/api/report_book.py
(its docstring shows each loan and how it stands on 2026-06-30), in JSON, CSV and XLSX.

"The month before as_of" is (2026-05-31, 2026-06-30]: June. The next months are July to December.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest
from openpyxl.utils import get_column_letter

from tests.api.helpers import assert_problem
from tests.api.report_book import book_loan, build_book, monthly, pay, registry

MONTHS = ["2026-07", "2026-08", "2026-09", "2026-10", "2026-11", "2026-12"]
BUCKETS = ["current", "1-30", "31-60", "61-90", "91-180", "181-365", "365+"]
CLASSES = ["normal", "special_mention", "substandard", "doubtful", "loss"]


@pytest.fixture()
def book(client, session, admin, officer, make_key) -> dict:
    return build_book(client, session, admin, officer, make_key("admin"))


def report(client, headers, **params):
    response = client.get("/v1/reports/portfolio", headers=headers, params={"as_of": "2026-06-30", **params})
    assert response.status_code == 200, response.text
    return response


def visits(client, headers, **params) -> dict:
    url = "/v1/reports/delinquent-loans"
    response = client.get(url, headers=headers, params={"as_of": "2026-06-30", **params})
    assert response.status_code == 200, response.text
    return response.json()


def pick(figures: dict, *names: str) -> tuple:
    return tuple(figures[name] for name in names)


def figures(
    currency, loans, borrowers, glp, par, pct, aging, classes, flows, rates, disbursed, written, expected,
    losses, above_cap=None,
):  # fmt: skip
    """A figures object as the report writes it, from the hand-worked numbers below. `above_cap`:
    (loans, their balance) with an APR above the cap; the book's loans are at 18 % with no fees
    (and priced before APRs were stored), so none by default."""
    above_cap = above_cap or (0, "0" if currency == "KHR" else "0.00")
    return {
        "currency": currency,
        "active_loans": loans,
        "borrowers": borrowers,
        "gross_loan_portfolio": glp,
        "loans_apr_above_cap": above_cap[0],
        "loans_apr_above_cap_balance": above_cap[1],
        # the book has no restructured loan (test_restructuring.py has the report's figures for one)
        "restructured_loans": 0,
        "restructured_balance": "0" if currency == "KHR" else "0.00",
        **dict(zip(["par1_balance", "par30_balance", "par90_balance"], par, strict=True)),
        **dict(zip(["par1_percent", "par30_percent", "par90_percent"], pct, strict=True)),
        "aging": [
            {"bucket": b, "loans": n, "principal": p} for b, (n, p) in zip(BUCKETS, aging, strict=True)
        ],
        "classification": [
            {"class": c, "loans": n, "principal": p, "provision": v}
            for c, (n, p, v) in zip(CLASSES, classes, strict=True)
        ],
        **dict(zip(["collected", "fallen_due", "paid_by_due_date"], flows, strict=True)),
        **dict(zip(["collection_rate_percent", "on_time_rate_percent"], rates, strict=True)),
        **dict(zip(["disbursed_cash", "disbursed_materials"], disbursed, strict=True)),
        "written_off": written,
        **dict(
            zip(
                [
                    "recoveries",
                    "average_gross_loan_portfolio",
                    "write_off_ratio_percent",
                    "loan_loss_rate_percent",
                ],
                losses,
                strict=True,
            )
        ),
        "expected_collections": [{"month": m, "amount": a} for m, a in zip(MONTHS, expected, strict=True)],
    }


# USD, all lenders: 10 active loans (L1-L8, L12, L13) of 6 households (H1..H6).
#   GLP    700 + 1,900 + 390 + 750 + 678 + 1,700 + 1,916.67 + 1,800 + 480 + 250.50 = 10,565.17
#   PAR1   loans more than 1 day late: L2, L3, L5, L6, L7, L8 (not L4, 1 day)
#          1,900 + 390 + 678 + 1,700 + 1,916.67 + 1,800 = 8,384.67; / 10,565.17 = 79.3614 % -> 79.36
#   PAR30  L5, L6, L7 (not L8, exactly 30): 678 + 1,700 + 1,916.67 = 4,294.67 -> 40.6493 % -> 40.65
#   PAR90  L6, L7: 3,616.67 -> 34.2320 % -> 34.23
#   aging  current L1 L12 L13 700 + 480 + 250.50 = 1,430.50;
#          1-30 L2 L3 L4 L8 1,900 + 390 + 750 + 1,800 = 4,840;
#          31-60 L5 678; 91-180 L6 1,700; 365+ L7 1,916.67
#   classes normal L1 L2 L4 L12 L13 = 4,080.50, 1 % = 40.805 -> 40.80 (half-even);
#          special mention L3 L8 = 2,190, 3 % = 65.70; substandard L5 L6 = 2,378, 20 % = 475.60;
#          loss L7 1,916.67, 100 %
#   June   collected L1 112.34 (Jun 1) + L3 12 (Jun 15) + L5 30 (Jun 20) = 154.34 (L2's Jun 10 was reversed,
#          L8's Jul 2 is after as_of); fallen due (due in (May 31, Jun 30]) L1 112.34 + L2 120 + L3 22 + 22
#          + L4 50 + L5 108 + L6 50 + L7 98.33 + L8 125 (Jun 30; its May 31 is May's) + L10 55 (Jun 1, before
#          its write-off) = 762.67, of which paid by the due date only L1's 112.34
#          -> collection 154.34 / 762.67 = 20.2368 % -> 20.24; on time 112.34 / 762.67 = 14.7298 % -> 14.73
#          disbursed cash L12 480, materials L13 250.50; written off L10 600 - 2 x 50 = 500
#   next   each month: L1 112.34 + L2 120 + L3 2 x 22 + L4 50 + L5 108 + L6 50 + L7 98.33 + L8 125
#          + L12 47.20 + L13 25.05 = 779.92; October has three L3 installments (Oct 2, 16, 30): 801.92;
#          L5 ends in November: December 779.92 - 108 = 671.92. L14 (not yet disbursed) is not expected.
#   losses GLP at the month's start (May 31): L1 800 (4 payments) + L2 1,900 + L3 400 (6 x 20) + L4 750
#          + L5 700 + L6 1,700 + L7 1,916.67 + L8 1,800 + L10 500 (written off later, on Jun 15) = 10,466.67;
#          average (10,466.67 + 10,565.17) / 2 = 10,515.92; no recoveries;
#          write-off ratio = loan loss rate = 500 / 10,515.92 = 4.7547 % -> 4.75
USD_TOTAL = figures(
    "USD", 10, 6, "10565.17", ["8384.67", "4294.67", "3616.67"], ["79.36", "40.65", "34.23"],
    [(3, "1430.50"), (4, "4840.00"), (1, "678.00"), (0, "0.00"), (1, "1700.00"), (0, "0.00"), (1, "1916.67")],
    [(5, "4080.50", "40.80"), (2, "2190.00", "65.70"), (2, "2378.00", "475.60"), (0, "0.00", "0.00"),
     (1, "1916.67", "1916.67")],
    ["154.34", "762.67", "112.34"], ["20.24", "14.73"], ["480.00", "250.50"], "500.00",
    ["779.92", "779.92", "779.92", "801.92", "779.92", "671.92"], ["0.00", "10515.92", "4.75", "4.75"],
)  # fmt: skip

# KHR: L11 alone. 3,758,300 outstanding, current, normal: 1 % = 37,583. June: 403,200 due on Jun 5 and
# paid that day: collection and on-time 100 %. Next six 5ths: 403,200 each. Average GLP: 4,100,000 on
# May 31 (disbursed May 5, nothing paid yet) and 3,758,300 on Jun 30: 3,929,150; nothing written off.
KHR_TOTAL = figures(
    "KHR", 1, 1, "3758300", ["0", "0", "0"], ["0.00", "0.00", "0.00"],
    [(1, "3758300"), (0, "0"), (0, "0"), (0, "0"), (0, "0"), (0, "0"), (0, "0")],
    [(1, "3758300", "37583"), (0, "0", "0"), (0, "0", "0"), (0, "0", "0"), (0, "0", "0")],
    ["403200", "403200", "403200"], ["100.00", "100.00"], ["0", "0"], "0", ["403200"] * 6,
    ["0", "3929150", "0.00", "0.00"],
)  # fmt: skip

# Lender A, USD: L1 L2 L3 L5 L7 L8 L12 of H1 H2 H3 H4 H6.
#   GLP 700 + 1,900 + 390 + 678 + 1,916.67 + 1,800 + 480 = 7,864.67
#   PAR1 1,900 + 390 + 678 + 1,916.67 + 1,800 = 6,684.67 -> 84.9962 % -> 85.00
#   PAR30 678 + 1,916.67 = 2,594.67 -> 32.9915 % -> 32.99; PAR90 1,916.67 -> 24.3706 % -> 24.37
#   classes normal L1 L2 L12 3,080 -> 30.80; special mention L3 L8 2,190 -> 65.70;
#          substandard L5 678 -> 135.60
#   June fallen due 762.67 - B's L4 50 and L6 50 = 662.67: collection 154.34 / 662.67 = 23.2906 % -> 23.29,
#   on time 112.34 / 662.67 = 16.9526 % -> 16.95.
#   Next months 779.92 - B's 125.05 = 654.87 (October 676.87, December 546.87)
#   Average GLP: May 31 L1 800 + L2 1,900 + L3 400 + L5 700 + L7 1,916.67 + L8 1,800 + L10 500 = 8,016.67,
#   (8,016.67 + 7,864.67) / 2 = 7,940.67; L10's 500 written off: 500 / 7,940.67 = 6.2967 % -> 6.30
A_USD = figures(
    "USD", 7, 5, "7864.67", ["6684.67", "2594.67", "1916.67"], ["85.00", "32.99", "24.37"],
    [(2, "1180.00"), (3, "4090.00"), (1, "678.00"), (0, "0.00"), (0, "0.00"), (0, "0.00"), (1, "1916.67")],
    [(3, "3080.00", "30.80"), (2, "2190.00", "65.70"), (1, "678.00", "135.60"), (0, "0.00", "0.00"),
     (1, "1916.67", "1916.67")],
    ["154.34", "662.67", "112.34"], ["23.29", "16.95"], ["480.00", "0.00"], "500.00",
    ["654.87", "654.87", "654.87", "676.87", "654.87", "546.87"], ["0.00", "7940.67", "6.30", "6.30"],
)  # fmt: skip

# Lender B (materials bank), USD: L4 L6 L13 of H3 H5 H6. GLP 750 + 1,700 + 250.50 = 2,700.50.
#   PAR1 = PAR30 = PAR90 = L6 1,700 (L4 is only 1 day late) -> 1,700 / 2,700.50 = 62.9513 % -> 62.95
#   classes normal L4 L13 1,000.50, 1 % = 10.005 -> 10.00 (half-even); substandard L6 1,700 -> 340
#   June: due L4 50 + L6 50 = 100, nothing paid: 0.00 % and 0.00 %; materials disbursed L13 250.50
#   next months 50 + 50 + 25.05 = 125.05; average GLP (May 31 L4 750 + L6 1,700 = 2,450; + 2,700.50) / 2
#   = 2,575.25, nothing written off
B_USD = figures(
    "USD", 3, 3, "2700.50", ["1700.00", "1700.00", "1700.00"], ["62.95", "62.95", "62.95"],
    [(1, "250.50"), (1, "750.00"), (0, "0.00"), (0, "0.00"), (1, "1700.00"), (0, "0.00"), (0, "0.00")],
    [(2, "1000.50", "10.00"), (0, "0.00", "0.00"), (1, "1700.00", "340.00"), (0, "0.00", "0.00"),
     (0, "0.00", "0.00")],
    ["0.00", "100.00", "0.00"], ["0.00", "0.00"], ["0.00", "250.50"], "0.00", ["125.05"] * 6,
    ["0.00", "2575.25", "0.00", "0.00"],
)  # fmt: skip


def test_portfolio_by_lender_matches_the_hand_worked_figures(client, book, admin):
    body = report(client, admin, group_by="lender").json()
    assert body["as_of"] == "2026-06-30"
    assert "converted_totals" not in body
    assert sorted(body["totals"], key=lambda t: t["currency"]) == [KHR_TOTAL, USD_TOTAL]
    groups = {(g["group"]["lender_id"], g["currency"]): g for g in body["groups"]}
    a, b = book["A"]["id"], book["B"]["id"]
    assert set(groups) == {(a, "USD"), (a, "KHR"), (b, "USD")}
    # each group names its lender beside its id
    lender_a = {"lender_id": a, "lender_name": book["A"]["name"]}
    lender_b = {"lender_id": b, "lender_name": book["B"]["name"]}
    assert groups[(a, "USD")] == {"group": lender_a, **A_USD}
    assert groups[(a, "KHR")] == {"group": lender_a, **KHR_TOTAL}
    assert groups[(b, "USD")] == {"group": lender_b, **B_USD}


def _flat(f: dict) -> dict[str, str]:
    """A figures object as the CSV's columns (aging, classes and months spread out)."""
    out = {k: "" if v is None else str(v) for k, v in f.items() if not isinstance(v, list)}
    for a in f["aging"]:
        out[f"aging_{a['bucket']}_loans"], out[f"aging_{a['bucket']}_principal"] = (
            str(a["loans"]),
            a["principal"],
        )
    for c in f["classification"]:
        for part in ("loans", "principal", "provision"):
            out[f"class_{c['class']}_{part}"] = str(c[part])
    for e in f["expected_collections"]:
        out[f"expected_{e['month']}"] = e["amount"]
    return out


def test_portfolio_csv_has_one_row_per_group_and_currency_to_the_cent(client, book, admin):
    response = report(client, admin, group_by="lender", format="csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert (
        response.headers["content-disposition"] == 'attachment; filename="portfolio-2026-06-30-by-lender.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_key = {(r["row"], r["lender_id"], r["currency"]): r for r in rows}
    a, b = book["A"]["id"], book["B"]["id"]
    expected = {
        ("total", "", "USD"): USD_TOTAL,
        ("total", "", "KHR"): KHR_TOTAL,
        ("group", a, "USD"): A_USD,
        ("group", a, "KHR"): KHR_TOTAL,
        ("group", b, "USD"): B_USD,
    }
    assert set(by_key) == set(expected) and len(rows) == 5
    names = {"": "", a: book["A"]["name"], b: book["B"]["name"]}
    for key, hand in expected.items():
        row = by_key[key]
        assert row["as_of"] == "2026-06-30"
        assert row["lender_name"] == names[key[1]]  # beside the id; blank on a total
        assert {k: row[k] for k in _flat(hand)} == _flat(hand), key
    assert list(rows[0])[:5] == ["as_of", "row", "lender_id", "lender_name", "currency"]
    assert (
        "aging_365+_principal" in rows[0]
        and "class_loss_provision" in rows[0]
        and "expected_2026-12" in rows[0]
    )


def _sheet(workbook, name: str) -> list[dict]:
    rows = list(workbook[name].iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def _same(cell, text, percent: bool = False) -> bool:
    """An XLSX number against the hand figure, to the cent (a percent of null is an empty cell;
    a percent cell holds the fraction: 79.36 % is 0.7936)."""
    if text is None:
        return cell is None
    return Decimal(str(cell)) * (100 if percent else 1) == Decimal(text)


def test_portfolio_xlsx_has_a_sheet_per_table_to_the_cent(client, book, admin):
    response = report(client, admin, group_by="lender", format="xlsx")
    assert (
        response.headers["content-type"]
        == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert (
        response.headers["content-disposition"]
        == 'attachment; filename="portfolio-2026-06-30-by-lender.xlsx"'
    )
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["summary", "aging", "classification", "expected_collections"]
    a, b = book["A"]["id"], book["B"]["id"]
    expected = {("total", None, "USD"): USD_TOTAL, ("total", None, "KHR"): KHR_TOTAL}
    expected |= {("group", a, "USD"): A_USD, ("group", a, "KHR"): KHR_TOTAL, ("group", b, "USD"): B_USD}

    def key(r):
        return (r["row"], r["lender_id"], r["currency"])

    summary = {key(r): r for r in _sheet(workbook, "summary")}
    assert set(summary) == set(expected)
    for k, hand in expected.items():
        for name, value in hand.items():
            if not isinstance(value, list) and name != "currency":
                got = summary[k][name]
                assert _same(got, value, name.endswith("_percent")), (k, name, got, value)
        assert summary[k]["lender_name"] == (None if k[1] is None else book[{a: "A", b: "B"}[k[1]]]["name"])
    for sheet, table, field, parts in (
        ("aging", "aging", "bucket", ("loans", "principal")),
        ("classification", "classification", "class", ("loans", "principal", "provision")),
        ("expected_collections", "expected_collections", "month", ("amount",)),
    ):
        rows = _sheet(workbook, sheet)
        assert len(rows) == 5 * len(USD_TOTAL[table])
        for r in rows:
            label = r[field].strftime("%Y-%m") if field == "month" else r[field]  # a month is a date
            hand = next(item for item in expected[key(r)][table] if item[field] == label)
            assert all(_same(r[p], str(hand[p])) for p in parts), (sheet, r, hand)


def test_portfolio_xlsx_cells_are_formatted_for_people(client, book, admin):
    # money in the currency's decimals (USD 2, KHR 0), percentages as percent cells holding the
    # fraction, as_of and the months as dates, whole counts, and columns as wide as what they show
    response = report(client, admin, group_by="lender", format="xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = workbook["summary"]
    header = [c.value for c in sheet[1]]
    column = {name: k for k, name in enumerate(header)}
    rows = {(r[column["row"]].value, r[column["currency"]].value): r for r in sheet.iter_rows(min_row=2)}
    usd, khr = rows[("total", "USD")], rows[("total", "KHR")]
    glp = usd[column["gross_loan_portfolio"]]
    assert (glp.value, glp.number_format) == (10565.17, "#,##0.00")
    khr_glp = khr[column["gross_loan_portfolio"]]
    assert (khr_glp.value, khr_glp.number_format) == (3758300, "#,##0")
    # collection rate 154.34 / 762.67 = 20.24 %: the cell holds 0.2024 and shows "20.24%"
    rate = usd[column["collection_rate_percent"]]
    assert (rate.value, rate.number_format) == (0.2024, "0.00%")
    as_of = usd[column["as_of"]]
    assert (as_of.value, as_of.number_format) == (datetime(2026, 6, 30), "yyyy-mm-dd")
    loans = usd[column["active_loans"]]
    assert (loans.value, type(loans.value), loans.number_format) == (10, int, "#,##0")
    assert usd[column["currency"]].data_type == "s"
    for k, name in enumerate(header):  # wide enough for the header and each value as shown
        width = sheet.column_dimensions[get_column_letter(k + 1)].width
        assert width >= len(name), name
    assert sheet.column_dimensions[get_column_letter(column["lender_id"] + 1)].width >= 36  # a uuid
    months = workbook["expected_collections"]
    mine = [c.value for c in months[1]]
    first = next(months.iter_rows(min_row=2))
    month = first[mine.index("month")]
    assert (month.value, month.number_format) == (datetime(2026, 7, 1), "yyyy-mm")
    amounts = [r for r in months.iter_rows(min_row=2) if r[mine.index("currency")].value == "KHR"]
    assert {r[mine.index("amount")].number_format for r in amounts} == {"#,##0"}


def test_group_by_site_product_and_currency(client, book, admin):
    # sites: S1 = H1 (L1 700, L8 1,800), H2 (L2 1,900, L12 480), H4 (L5 678; L11 in KHR) -> USD 5,558.00;
    #        S2 = H3 (L3 390, L4 750), H5 (L6 1,700), H6 (L7 1,916.67, L13 250.50) -> 5,007.17;
    #        L10 (H5, S2) written off
    # products: PA = L1 L2 L5 L7 L8 L12 -> 7,474.67; PW = L3 390; PB = L4 L6 L13 2,700.50;
    #           PK = L11 KHR 3,758,300
    cases = {
        "site": {
            (book["S1"]["id"], "USD"): (5, 3, "5558.00", "142.34", "0.00"),
            (book["S1"]["id"], "KHR"): (1, 1, "3758300", "403200", "0"),
            (book["S2"]["id"], "USD"): (5, 3, "5007.17", "12.00", "500.00"),
        },
        "product": {
            (book["PA"]["id"], "USD"): (6, 4, "7474.67", "142.34", "500.00"),
            (book["PW"]["id"], "USD"): (1, 1, "390.00", "12.00", "0.00"),
            (book["PB"]["id"], "USD"): (3, 3, "2700.50", "0.00", "0.00"),
            (book["PK"]["id"], "KHR"): (1, 1, "3758300", "403200", "0"),
        },
        "currency": {
            ("USD", "USD"): (10, 6, "10565.17", "154.34", "500.00"),
            ("KHR", "KHR"): (1, 1, "3758300", "403200", "0"),
        },
    }  # fmt: skip
    for group_by, expected in cases.items():
        body = report(client, admin, group_by=group_by).json()
        column = {"site": "site_id", "product": "product_id", "currency": "currency"}[group_by]
        names = ("active_loans", "borrowers", "gross_loan_portfolio", "collected", "written_off")
        got = {(g["group"][column], g["currency"]): pick(g, *names) for g in body["groups"]}
        assert got == expected, group_by
        # a site or a product is named beside its id; a currency is its own name
        named = {"site": ("S1", "S2"), "product": ("PA", "PW", "PB", "PK")}.get(group_by, ())
        ids = {book[n]["id"]: book[n]["name"] for n in named}
        for g in body["groups"]:
            want = {column: g["group"][column]}
            if group_by != "currency":
                want[f"{group_by}_name"] = ids[g["group"][column]]
            assert g["group"] == want, (group_by, g["group"])
        # the totals do not depend on the grouping
        assert sorted(body["totals"], key=lambda t: t["currency"]) == [KHR_TOTAL, USD_TOTAL]
    by_currency = report(client, admin, group_by="currency").json()["groups"]
    assert {g["currency"]: g for g in by_currency}["USD"] == {"group": {"currency": "USD"}, **USD_TOTAL}


def test_converted_totals_only_when_a_rate_is_given(client, book, admin):
    body = report(client, admin, khr_per_usd="4100").json()
    converted = body["converted_totals"]
    # KHR at 4,100 per USD, rounded half-even to the cent, added to the USD totals:
    #   GLP 3,758,300 / 4,100 = 916.6585 -> 916.66; 10,565.17 + 916.66 = 11,481.83
    #   PAR30 4,294.67 / 11,481.83 = 37.4041 % -> 37.40 (the KHR loan is current)
    #   June: collected 154.34 + 98.34 (403,200 / 4,100 = 98.3415) = 252.68; due 762.67 + 98.34 = 861.01;
    #   on time 112.34 + 98.34 = 210.68 -> 29.3469 % -> 29.35 and 24.4689 % -> 24.47
    #   normal provision 40.80 + 9.17 (37,583 / 4,100 = 9.1666) = 49.97; July 779.92 + 98.34 = 878.26
    #   borrowers: H1..H6 (H4 borrows in both currencies, counted once) = 6; loans 10 + 1 = 11
    assert converted["currency"] == "USD" and converted["khr_per_usd"] == "4100"
    assert converted["converted_from"] == ["KHR", "USD"]
    assert pick(converted, "active_loans", "borrowers") == (11, 6)
    assert converted["gross_loan_portfolio"] == "11481.83"
    assert converted["par30_balance"] == "4294.67" and converted["par30_percent"] == "37.40"
    flows = pick(converted, "collected", "fallen_due", "paid_by_due_date")
    assert flows == ("252.68", "861.01", "210.68")
    assert pick(converted, "collection_rate_percent", "on_time_rate_percent") == ("29.35", "24.47")
    assert converted["classification"][0] == {
        "class": "normal",
        "loans": 6,
        "principal": "4997.16",
        "provision": "49.97",
    }
    assert converted["expected_collections"][0] == {"month": "2026-07", "amount": "878.26"}
    # the per-currency totals are untouched
    assert sorted(body["totals"], key=lambda t: t["currency"]) == [KHR_TOTAL, USD_TOTAL]


def test_a_partner_sees_only_its_own_lender(client, book, make_key):
    partner = make_key("partner", book["A"]["id"])
    body = report(client, partner, group_by="site").json()
    usd = next(t for t in body["totals"] if t["currency"] == "USD")
    assert usd == A_USD
    assert next(t for t in body["totals"] if t["currency"] == "KHR") == KHR_TOTAL
    assert {g["group"]["site_id"] for g in body["groups"]} == {book["S1"]["id"], book["S2"]["id"]}
    lenders = report(client, partner, group_by="lender").json()["groups"]
    assert {g["group"]["lender_id"] for g in lenders} == {book["A"]["id"]}
    listed = visits(client, partner)
    assert [i["loan_id"] for i in listed["items"]] == [book[n] for n in ("L7", "L5", "L8", "L2", "L3")]
    bank_partner = make_key("partner", book["B"]["id"])
    assert report(client, bank_partner).json()["totals"] == [B_USD]


# The visit list as of 2026-06-30, the longest late first (overdue = all unpaid on installments due before
# as_of, after the payments made by then):
#   L7 400 days: 14 installments May 26 2025..Jun 26 2026 x 98.33 = 1,376.62
#   L6 100 days: Mar 22, Apr 22, May 22, Jun 22 x 50 = 200.00
#   L5 45 days: May 16 (108 - 30) + Jun 16 108 = 186.00
#   L8 30 days: May 31 125.00 (Jun 30 is due on as_of, not late)
#   L2 20 days: Jun 10 120.00 (the payment was reversed)
#   L3 18 days: Jun 12 (22 - 12) + Jun 26 22 = 32.00
#   L4 1 day: Jun 29 50.00
VISITS = [
    ("L7", 400, "2025-05-26", "1376.62", "1916.67", "365+", "loss", "H6"),
    ("L6", 100, "2026-03-22", "200.00", "1700.00", "91-180", "substandard", "H5"),
    ("L5", 45, "2026-05-16", "186.00", "678.00", "31-60", "substandard", "H4"),
    ("L8", 30, "2026-05-31", "125.00", "1800.00", "1-30", "special_mention", "H1"),
    ("L2", 20, "2026-06-10", "120.00", "1900.00", "1-30", "normal", "H2"),
    ("L3", 18, "2026-06-12", "32.00", "390.00", "1-30", "special_mention", "H3"),
    ("L4", 1, "2026-06-29", "50.00", "750.00", "1-30", "normal", "H3"),
]


def test_delinquent_loans_for_the_visits(client, book, officer, finance):
    body = visits(client, officer)
    assert (body["total"], body["limit"], body["offset"]) == (7, 50, 0)
    for item, (loan, dpd, oldest, overdue, outstanding, bucket, klass, household) in zip(
        body["items"], VISITS, strict=True
    ):
        assert item["loan_id"] == book[loan]
        got = pick(item, "days_past_due", "oldest_due_date", "overdue_amount", "outstanding_principal")
        assert got == (dpd, oldest, overdue, outstanding), loan
        assert (item["bucket"], item["class"]) == (bucket, klass), loan
        hh = book[household]
        assert (item["household_id"], item["head_name"], item["phone"], item["parcel_code"]) == (
            hh["id"], hh["head_name"], hh["phone"], hh["parcel_code"]
        )  # fmt: skip
        assert item["site_id"] == hh["site_id"] and item["site_name"]
        # the per-loan arrears, the exact reference for one loan, agrees
        arrears = client.get(
            f"/v1/loans/{book[loan]}/arrears", headers=officer, params={"as_of": "2026-06-30"}
        ).json()
        assert (arrears["days_past_due"], arrears["overdue_amount"], arrears["outstanding_principal"]) == (
            dpd, overdue, outstanding
        )  # fmt: skip
        assert (arrears["bucket"], arrears["classification"]) == (bucket, klass)

    page = visits(client, officer, limit=3, offset=3)
    assert [i["loan_id"] for i in page["items"]] == [book["L8"], book["L2"], book["L3"]]
    assert page["total"] == 7
    thirty = visits(client, officer, min_days=30)["items"]
    assert [i["loan_id"] for i in thirty] == [book[n] for n in ("L7", "L6", "L5", "L8")]

    # finance leads: the same list, without names, phones or parcels
    anonymous = visits(client, finance)
    assert [i["loan_id"] for i in anonymous["items"]] == [i["loan_id"] for i in body["items"]]
    for item in anonymous["items"]:
        assert (item["head_name"], item["phone"], item["parcel_code"]) == (None, None, None)
    assert "Head of" not in str(anonymous)


def test_movements_after_as_of_are_taken_off_the_running_totals(client, book, admin):
    # A payment ahead of schedule on 2026-07-05: L12's 100 pays the current period's installment (Jul
    # 20's 47.20, 40 of it principal) and puts the other 52.80 on principal as a prepayment (never
    # Aug 20's interest: that period has not begun). Its product keeps the installment (reduce_term):
    # 47.20 a month on 440 - 52.80 = 387.20 from Aug 20. As of Jun 30 none of it counts: the report
    # is still the hand-worked one.
    pay(client, admin, book["L12"], "100.00", date(2026, 7, 5))
    june = report(client, admin).json()
    assert sorted(june["totals"], key=lambda t: t["currency"]) == [KHR_TOTAL, USD_TOTAL]
    july = report(client, admin, as_of="2026-07-05").json()
    usd = next(t for t in july["totals"] if t["currency"] == "USD")
    # L8 paid 125 on Jul 2 (its May 31 principal 100), L12 repaid 40 + 52.80 of principal, and L14 was
    # disbursed 700: 10,565.17 - 100 - 92.80 + 700 = 11,072.37
    assert (usd["active_loans"], usd["gross_loan_portfolio"]) == (11, "11072.37")
    # A mid-month as_of: the months are calendar months, the first from the day after as_of.
    #   "2026-07" = Jul 6..31: L2 Jul 10 120 + L3 Jul 10, Jul 24 2 x 22 + L4 Jul 29 50 + L5 Jul 16 108
    #     + L6 Jul 22 50 + L7 Jul 26 98.33 + L8 Jul 31 125 + L13 Jul 25 25.05 = 620.38 (L1's Jul 1 is
    #     before as_of, L12's Jul 20 is paid, L14 starts Aug 5)
    #   "2026-08" = Aug 1..31: L1 Aug 1 112.34 + L2 120 + L3 Aug 7, Aug 21 44 + L4 50 + L5 108 + L6 50
    #     + L7 98.33 + L8 Aug 31 125 + L13 25.05 + L14 Aug 5 110 + L12 Aug 20 47.20 = 889.92
    #   "2026-09": the same loans, L3 Sep 4, Sep 18 (44) and L12 Sep 20 47.20: 889.92
    #   "2026-10": L3 Oct 2, 16, 30 (66 instead of 44): 889.92 + 22 = 911.92
    #   "2026-11": L3 Nov 13, 27 (44): 911.92 - 22 = 889.92 (L5's last is Nov 16)
    #   "2026-12": L5 has ended: 889.92 - 108 = 781.92
    # (The months used to be (Jul 5, Aug 5] labelled "2026-08", and so on: the label was a month late.)
    assert [(m["month"], m["amount"]) for m in usd["expected_collections"]] == [
        ("2026-07", "620.38"),
        ("2026-08", "889.92"),
        ("2026-09", "889.92"),
        ("2026-10", "911.92"),
        ("2026-11", "889.92"),
        ("2026-12", "781.92"),
    ]
    # KHR: L11 is due on the 5th; Jul 5 is as_of itself (due, not yet late, not expected), so July's
    # rest expects nothing, and each month from August 403,200
    khr = next(t for t in july["totals"] if t["currency"] == "KHR")
    assert [(m["month"], m["amount"]) for m in khr["expected_collections"]] == [
        ("2026-07", "0"),
        *((month, "403200") for month in ("2026-08", "2026-09", "2026-10", "2026-11", "2026-12")),
    ]


def test_a_reversed_payment_brings_back_the_arrears_it_had_cleared(client, session, admin, officer):
    w = registry(client, admin, officer)
    # 600.00 over 6 months, 100 due on the 1st Apr..Sep; paid Apr 1, May 1, and Jun 1's on Jun 5
    schedule = monthly(2026, 4, 1, 6, "100")
    loan = book_loan(
        session, w, "R", "A", "H1", "PA", 6, "monthly", "USD", (date(2026, 3, 1), "cash", "600"), schedule
    )
    for on in (date(2026, 4, 1), date(2026, 5, 1)):
        pay(client, admin, loan, "100.00", on)
    late_payment = pay(client, admin, loan, "100.00", date(2026, 6, 5))
    # as of Jun 30: 600 - 300 = 300 outstanding, nothing late
    before = report(client, admin).json()["totals"][0]
    assert pick(before, "gross_loan_portfolio", "par1_balance", "collected") == ("300.00", "0.00", "100.00")
    assert before["aging"][0] == {"bucket": "current", "loans": 1, "principal": "300.00"}

    response = client.post(
        f"/v1/repayments/{late_payment}/reverse", headers=admin, json={"reason": "bounced"}
    )
    assert response.status_code == 200, response.text
    # the Jun 5 payment no longer counts: 400 outstanding, Jun 1 unpaid -> 29 days late: PAR1 = 400 (100 %),
    # not PAR30; a 6-month loan 29 days late is special mention; June collected nothing
    after = report(client, admin).json()["totals"][0]
    assert pick(after, "gross_loan_portfolio", "par1_balance", "par1_percent") == (
        "400.00",
        "400.00",
        "100.00",
    )
    assert pick(after, "par30_balance", "collected", "collection_rate_percent") == ("0.00", "0.00", "0.00")
    assert after["aging"][1] == {"bucket": "1-30", "loans": 1, "principal": "400.00"}
    assert after["classification"][1] == {
        "class": "special_mention",
        "loans": 1,
        "principal": "400.00",
        "provision": "12.00",
    }
    listed = visits(client, officer)["items"]
    assert [pick(i, "loan_id", "days_past_due", "overdue_amount") for i in listed] == [(loan, 29, "100.00")]


def test_a_report_with_no_loans_is_empty_not_an_error(client, finance):
    body = report(client, finance).json()
    assert body == {
        "as_of": "2026-06-30",
        "group_by": "lender",
        "totals": [],
        "groups": [],
        "overdue_title_returns": [],
    }
    rows = list(csv.DictReader(io.StringIO(report(client, finance, format="csv").text)))
    assert rows == []


@pytest.mark.parametrize(
    "params",
    [
        {"as_of": "2999-01-01"},
        {"as_of": "2026-02-30"},
        {"group_by": "household"},
        {"format": "pdf"},
        {"khr_per_usd": "0"},
        {"khr_per_usd": "abc"},
    ],
)
def test_bad_report_parameters_are_422(client, finance, params):
    assert_problem(client.get("/v1/reports/portfolio", headers=finance, params=params), 422)


def test_bad_delinquent_parameters_are_422(client, officer):
    for params in ({"min_days": 0}, {"as_of": "2999-01-01"}, {"limit": 0}):
        assert_problem(client.get("/v1/reports/delinquent-loans", headers=officer, params=params), 422)
