"""The report's frames and tables: the aggregated rows of queries.py become one record of figures
per group and currency (pandas on those few rows only), then the JSON body, the CSV or the tables
of the XLSX (workbook.py writes it).

Money stays Decimal, in object columns, from the database to the file: every amount goes through
round_money, which refuses a float, so a float sneaking in fails loudly instead of reaching a report.
Percentages are worked out from the rounded amounts shown beside them, 2 places half-even.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

import pandas as pd

from loansvc.domain.arrears import BUCKETS, CLASSES, DEFAULT_ARREARS_POLICY, ArrearsPolicy, provision
from loansvc.domain.money import round_money

KEY = ["scope", "key", "currency"]
MONEY = (
    "gross_loan_portfolio",
    "par1_balance",
    "par30_balance",
    "par90_balance",
    "collected",
    "fallen_due",
    "paid_by_due_date",
    "disbursed_cash",
    "disbursed_materials",
    "written_off",
    "recoveries",
    "average_gross_loan_portfolio",
    "loans_apr_above_cap_balance",
    "restructured_balance",
)
PERCENTS = (
    ("par1_percent", "par1_balance", "gross_loan_portfolio"),
    ("par30_percent", "par30_balance", "gross_loan_portfolio"),
    ("par90_percent", "par90_balance", "gross_loan_portfolio"),
    ("collection_rate_percent", "collected", "fallen_due"),
    ("on_time_rate_percent", "paid_by_due_date", "fallen_due"),
    ("write_off_ratio_percent", "written_off", "average_gross_loan_portfolio"),
    ("loan_loss_rate_percent", "net_loss", "average_gross_loan_portfolio"),
)
CONVERTIBLE = ("USD", "KHR")


@dataclass
class Rows:
    """What the queries returned for one report (grouped rows carry a group_key); positions holds
    every part of queries.position_rows."""

    positions: list[dict]
    collected: list[dict]
    fallen_due: list[dict]
    disbursed: list[dict]
    written_off: list[dict]
    expected: list[dict]
    recoveries: list[dict]
    portfolio_at_start: list[dict]


@dataclass
class Portfolio:
    as_of: date
    group_by: str
    group_column: str
    months: list[str]
    totals: list[dict]
    groups: list[dict]
    converted: dict | None = None
    name_column: str | None = None  # "lender_name", "site_name", "product_name"; None by currency
    names: dict[str, str] = field(default_factory=dict)  # a group's id -> its name
    overdue_title_returns: list = field(default_factory=list)  # per lender (protection.collateral)


def group_of(report: Portfolio, key: str) -> dict[str, str]:
    """A group's id, and its name beside it."""
    if report.name_column is None:
        return {report.group_column: key}
    return {report.group_column: key, report.name_column: report.names.get(key, "")}


def percent(part: Decimal, whole: Decimal) -> Decimal | None:
    """part / whole in percent, 2 places half-even; None when there is nothing to divide by."""
    if whole == 0:
        return None
    return (part * 100 / whole).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def _both(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """The group rows, and the same rows again as totals (every figure but borrowers adds up)."""
    frame = pd.DataFrame.from_records(rows, columns=["group_key", *columns]).rename(
        columns={"group_key": "key"}
    )
    groups = frame.assign(scope="group")
    return pd.concat([groups, groups.assign(scope="total", key="")], ignore_index=True)


def _index(frame: pd.DataFrame, by: list[str], values: list[str]) -> dict[tuple, dict]:
    return frame.groupby(by)[values].sum().to_dict("index") if len(frame) else {}


def _finish(figures: dict) -> dict:
    # SEEP loan loss rate: (write-offs - recoveries) / average gross loan portfolio
    net_loss = figures["written_off"] - figures["recoveries"]
    for name, part, whole in PERCENTS:
        figures[name] = percent(net_loss if part == "net_loss" else figures[part], figures[whole])
    return figures


def figures_of(rows: Rows, months: list[str], policy: ArrearsPolicy = DEFAULT_ARREARS_POLICY) -> dict:
    """{(scope, key, currency): figures} for every group and every currency total."""
    parts = pd.DataFrame.from_records(rows.positions, columns=["group_key", "currency", "borrowers", "part"])
    by_group = parts[parts["part"] == "borrowers"]
    by_currency = parts[parts["part"] == "currency_borrowers"]
    people = {("group", r.group_key, r.currency): r.borrowers for r in by_group.itertuples()}
    people |= {("total", "", r.currency): r.borrowers for r in by_currency.itertuples()}
    loans = [r for r in rows.positions if r["part"] == "position"]
    above_cap = ["apr_above_cap", "apr_above_cap_balance", "restructured", "restructured_balance"]
    positions = _both(
        loans, ["currency", "bucket", "class", "loans", "principal", "par1", "par30", "par90", *above_cap]
    )
    headline = _index(positions, KEY, ["loans", "principal", "par1", "par30", "par90", *above_cap])
    aging = _index(positions, [*KEY, "bucket"], ["loans", "principal"])
    classes = _index(positions, [*KEY, "class"], ["loans", "principal"])
    collected = _index(_both(rows.collected, ["currency", "collected"]), KEY, ["collected"])
    flows = ["fallen_due", "paid_by_due_date"]
    fallen = _index(_both(rows.fallen_due, ["currency", *flows]), KEY, flows)
    disbursed = _index(_both(rows.disbursed, ["currency", "kind", "amount"]), [*KEY, "kind"], ["amount"])
    written = _index(_both(rows.written_off, ["currency", "written_off"]), KEY, ["written_off"])
    recovered = _index(_both(rows.recoveries, ["currency", "recoveries"]), KEY, ["recoveries"])
    at_start = _index(_both(rows.portfolio_at_start, ["currency", "portfolio"]), KEY, ["portfolio"])
    # what is still owed now plus what was paid after as_of: what was still owed at as_of
    expected = _index(_both(rows.expected, ["currency", "month", "amount"]), [*KEY, "month"], ["amount"])

    keys = set(headline) | set(collected) | set(fallen) | set(written) | set(recovered) | set(at_start)
    keys |= {k[:3] for k in disbursed} | {k[:3] for k in expected}
    zero = Decimal(0)
    out = {}
    for k in keys:
        currency = k[2]

        def money(value, currency=currency) -> Decimal:
            return round_money(value, currency)

        head = headline.get(k, {})
        figures = {
            "currency": currency,
            "active_loans": int(head.get("loans", 0)),
            "borrowers": int(people.get(k, 0)),
            "gross_loan_portfolio": money(head.get("principal", zero)),
            "par1_balance": money(head.get("par1", zero)),
            "par30_balance": money(head.get("par30", zero)),
            "par90_balance": money(head.get("par90", zero)),
            "loans_apr_above_cap": int(head.get("apr_above_cap", 0)),
            "loans_apr_above_cap_balance": money(head.get("apr_above_cap_balance", zero)),
            "restructured_loans": int(head.get("restructured", 0)),
            "restructured_balance": money(head.get("restructured_balance", zero)),
            "aging": [
                {
                    "bucket": b,
                    "loans": int(aging.get((*k, b), {}).get("loans", 0)),
                    "principal": money(aging.get((*k, b), {}).get("principal", zero)),
                }
                for b in BUCKETS
            ],
            "classification": [],
            "collected": money(collected.get(k, {}).get("collected", zero)),
            "fallen_due": money(fallen.get(k, {}).get("fallen_due", zero)),
            "paid_by_due_date": money(fallen.get(k, {}).get("paid_by_due_date", zero)),
            "disbursed_cash": money(disbursed.get((*k, "cash"), {}).get("amount", zero)),
            "disbursed_materials": money(disbursed.get((*k, "materials"), {}).get("amount", zero)),
            "written_off": money(written.get(k, {}).get("written_off", zero)),
            "recoveries": money(recovered.get(k, {}).get("recoveries", zero)),
            # the period's average: (the portfolio at its start + at as_of) / 2, half-even
            "average_gross_loan_portfolio": money(
                (at_start.get(k, {}).get("portfolio", zero) + head.get("principal", zero)) / 2
            ),
            "expected_collections": [
                {
                    "month": m,
                    "amount": money(expected.get((*k, m), {}).get("amount", zero)),
                }
                for m in months
            ],
        }
        for c in CLASSES:
            principal = money(classes.get((*k, c), {}).get("principal", zero))
            figures["classification"].append(
                {
                    "class": c,
                    "loans": int(classes.get((*k, c), {}).get("loans", 0)),
                    "principal": principal,
                    # on the class's whole principal, rounded once (half-even)
                    "provision": provision(principal, c, currency, policy),
                }
            )
        out[k] = _finish(figures)
    return out


def converted_totals(totals: list[dict], khr_per_usd: Decimal, borrowers: int) -> dict:
    """The USD and KHR totals in USD: each KHR amount divided by the rate and rounded half-even to
    the cent, then added to the USD one; percentages worked out again from the sums."""

    def usd(amount: Decimal, currency: str) -> Decimal:
        return amount if currency == "USD" else round_money(amount / khr_per_usd, "USD")

    usable = [t for t in totals if t["currency"] in CONVERTIBLE]
    zero = Decimal("0.00")
    out: dict = {
        "currency": "USD",
        "khr_per_usd": khr_per_usd,
        "converted_from": sorted(t["currency"] for t in usable),
        "active_loans": sum(t["active_loans"] for t in usable),
        "loans_apr_above_cap": sum(t["loans_apr_above_cap"] for t in usable),
        "restructured_loans": sum(t["restructured_loans"] for t in usable),
        "borrowers": borrowers,
    }
    for name in MONEY:
        out[name] = sum((usd(t[name], t["currency"]) for t in usable), zero)
    out["aging"] = [
        {
            "bucket": b,
            "loans": sum(t["aging"][i]["loans"] for t in usable),
            "principal": sum((usd(t["aging"][i]["principal"], t["currency"]) for t in usable), zero),
        }
        for i, b in enumerate(BUCKETS)
    ]
    out["classification"] = [
        {
            "class": c,
            "loans": sum(t["classification"][i]["loans"] for t in usable),
            "principal": sum((usd(t["classification"][i]["principal"], t["currency"]) for t in usable), zero),
            "provision": sum((usd(t["classification"][i]["provision"], t["currency"]) for t in usable), zero),
        }
        for i, c in enumerate(CLASSES)
    ]
    months = [m["month"] for m in usable[0]["expected_collections"]] if usable else []
    out["expected_collections"] = [
        {
            "month": m,
            "amount": sum((usd(t["expected_collections"][i]["amount"], t["currency"]) for t in usable), zero),
        }
        for i, m in enumerate(months)
    ]
    return _finish(out)


def as_json(report: Portfolio) -> dict:
    body: dict = {
        "as_of": report.as_of,
        "group_by": report.group_by,
        "totals": report.totals,
        "groups": [{"group": group_of(report, g["key"]), **g} for g in report.groups],
    }
    if report.converted is not None:
        body["converted_totals"] = report.converted
    body["overdue_title_returns"] = report.overdue_title_returns
    return body


# Tables: CSV (one row per group and currency) and XLSX (a sheet per table) ------------------------

SCALARS = (
    "active_loans",
    "borrowers",
    *MONEY[:4],
    "par1_percent",
    "par30_percent",
    "par90_percent",
    *MONEY[4:7],
    "collection_rate_percent",
    "on_time_rate_percent",
    *MONEY[7:12],
    "write_off_ratio_percent",
    "loan_loss_rate_percent",
    "loans_apr_above_cap",
    MONEY[12],
    "restructured_loans",
    *MONEY[13:],
)


def _lines(report: Portfolio) -> list[tuple[str, str, dict]]:
    lines = [("total", "", t) for t in report.totals] + [("group", g["key"], g) for g in report.groups]
    if report.converted is not None:
        lines.append(("converted_total", "", report.converted))
    return lines


def _head(report: Portfolio, row: str, key: str, figures: dict) -> dict:
    """The columns that say which row this is; a total has no group (its id and name are blank)."""
    group = group_of(report, key) if row == "group" else dict.fromkeys(group_of(report, key), "")
    return {"as_of": report.as_of.isoformat(), "row": row, **group, "currency": figures["currency"]}


def _head_columns(report: Portfolio) -> list[str]:
    return ["as_of", "row", *group_of(report, ""), "currency"]


def summary_frame(report: Portfolio, *, flat: bool) -> pd.DataFrame:
    """One row per total, group and currency; `flat` adds the aging, classes and months as columns."""
    records = []
    for row, key, f in _lines(report):
        record = _head(report, row, key, f) | {name: f[name] for name in SCALARS}
        if flat:
            for a in f["aging"]:
                record[f"aging_{a['bucket']}_loans"] = a["loans"]
                record[f"aging_{a['bucket']}_principal"] = a["principal"]
            for c in f["classification"]:
                for part in ("loans", "principal", "provision"):
                    record[f"class_{c['class']}_{part}"] = c[part]
            for e in f["expected_collections"]:
                record[f"expected_{e['month']}"] = e["amount"]
        records.append(record)
    columns = [*_head_columns(report), *SCALARS]
    if flat:
        columns += [f"aging_{b}_{p}" for b in BUCKETS for p in ("loans", "principal")]
        columns += [f"class_{c}_{p}" for c in CLASSES for p in ("loans", "principal", "provision")]
        columns += [f"expected_{m}" for m in report.months]
    return pd.DataFrame.from_records(records, columns=columns)


def long_frame(report: Portfolio, table: str, fields: list[str]) -> pd.DataFrame:
    """One row per total or group, currency and item of `table` (aging, classification, months)."""
    records = [
        _head(report, row, key, f) | {name: item[name] for name in fields}
        for row, key, f in _lines(report)
        for item in f[table]
    ]
    return pd.DataFrame.from_records(records, columns=[*_head_columns(report), *fields])


def to_csv(report: Portfolio) -> str:
    return summary_frame(report, flat=True).to_csv(index=False, lineterminator="\r\n")


def trend_point(position_rows: list[dict], currency: str) -> dict:
    """GLP, PAR30 and PAR90 of one currency from ungrouped position rows."""
    mine = [r for r in position_rows if r["currency"] == currency]
    glp = round_money(sum((r["principal"] for r in mine), Decimal(0)), currency)
    par30 = round_money(sum((r["par30"] for r in mine), Decimal(0)), currency)
    par90 = round_money(sum((r["par90"] for r in mine), Decimal(0)), currency)
    return {"glp": glp, "par30_percent": percent(par30, glp), "par90_percent": percent(par90, glp)}


def aging_buckets(position_rows: list[dict], currency: str) -> list[dict]:
    """Loans and principal per bucket of one currency, from ungrouped position rows."""
    frame = pd.DataFrame.from_records(
        [r for r in position_rows if r["currency"] == currency], columns=["bucket", "loans", "principal"]
    )
    sums = _index(frame, ["bucket"], ["loans", "principal"])
    return [
        {
            "bucket": b,
            "loans": int(sums.get(b, {}).get("loans", 0)),
            "principal": round_money(sums.get(b, {}).get("principal", Decimal(0)), currency),
        }
        for b in BUCKETS
    ]
