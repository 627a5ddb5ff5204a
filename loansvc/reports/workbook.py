"""The portfolio report as an XLSX workbook: a sheet per table (summary, aging, classification,
expected_collections), cells people can read and a spreadsheet can compute with.

- Money is a number in the row's currency's minor unit, formatted with its decimals: "#,##0.00"
  for USD (2), "#,##0" for KHR (0). The value is the report's exact Decimal.
- A percentage is a percent cell: the fraction (20.24 % is stored 0.2024, exactly the report's
  figure / 100) with the format "0.00%", so Excel shows "20.24%" and a formula multiplies by it.
- as_of is a date ("yyyy-mm-dd"); a month of the expected collections is the date of its first
  day formatted "yyyy-mm" ("2026-12" is December 2026).
- Counts are whole numbers; each column is as wide as its widest shown value or its header.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from loansvc.domain.money import minor_unit
from loansvc.reports.frames import MONEY, Portfolio, long_frame, summary_frame

MONEY_COLUMNS = frozenset((*MONEY, "principal", "provision", "amount"))
COUNT_COLUMNS = frozenset(("active_loans", "borrowers", "loans", "loans_apr_above_cap", "restructured_loans"))
PERCENT_FORMAT, COUNT_FORMAT, DATE_FORMAT, MONTH_FORMAT = "0.00%", "#,##0", "yyyy-mm-dd", "yyyy-mm"
MAX_WIDTH = 60


def to_xlsx(report: Portfolio) -> bytes:
    sheets = {
        "summary": summary_frame(report, flat=False),
        "aging": long_frame(report, "aging", ["bucket", "loans", "principal"]),
        "classification": long_frame(report, "classification", ["class", "loans", "principal", "provision"]),
        "expected_collections": long_frame(report, "expected_collections", ["month", "amount"]),
    }
    book = Workbook()
    book.remove(book.active)
    for name, frame in sheets.items():
        _write(book.create_sheet(name), frame, report.as_of)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def money_format(currency: str) -> str:
    decimals = minor_unit(currency)
    return "#,##0" + ("." + "0" * decimals if decimals else "")


def _write(sheet, frame: pd.DataFrame, as_of: date) -> None:
    columns = list(frame.columns)
    sheet.append(columns)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = [len(c) for c in columns]
    for record in frame.to_dict("records"):
        currency = record["currency"]
        cells = [_cell(column, record[column], currency, as_of) for column in columns]
        sheet.append([value for value, _, _ in cells])
        for k, (_, number_format, shown) in enumerate(cells):
            if number_format is not None:
                sheet.cell(row=sheet.max_row, column=k + 1).number_format = number_format
            widths[k] = max(widths[k], len(shown))
    for k, width in enumerate(widths):
        sheet.column_dimensions[get_column_letter(k + 1)].width = min(width + 2, MAX_WIDTH)
    sheet.freeze_panes = "A2"


def _blank(value: Any) -> bool:
    return value == "" if isinstance(value, str) else bool(pd.isna(value))


def _cell(column: str, value: Any, currency: str, as_of: date) -> tuple[Any, str | None, str]:
    """(the cell's value, its number format, the text it shows) for one value of the frame."""
    if _blank(value):
        return None, None, ""  # a total's blank group, a percent of nothing
    if column == "as_of":
        return as_of, DATE_FORMAT, as_of.isoformat()
    if column == "month":  # "2026-12"
        year, month = (int(part) for part in value.split("-"))
        return date(year, month, 1), MONTH_FORMAT, value
    if column.endswith("_percent"):
        return value / 100, PERCENT_FORMAT, f"{value:.2f}%"
    if column in MONEY_COLUMNS:
        decimals = minor_unit(currency)
        return value, money_format(currency), f"{Decimal(value):,.{decimals}f}"
    if column in COUNT_COLUMNS:
        return int(value), COUNT_FORMAT, f"{int(value):,}"
    return value, None, str(value)
