"""Programme coverage: POST /v1/analysis/coverage, how many households each house design and
each set of loan terms can reach, and what subsidy reaches the rest.

Loads every household of a site (or of all sites) as plain rows: its declared incomes, expenses
and debts, and the installments of its approved and active loans with every lender in loansvc,
as an assessment counts them. The vectorised path `loansvc.domain.fast.coverage` does the
households x scenarios x models arithmetic; this module checks the request with the exact
engine's rules and shapes the figures as Decimal rows, JSON or CSV.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy.orm import Session

from loansvc.affordability import housing, planning_repository, repository
from loansvc.affordability.inputs import programme_loans
from loansvc.affordability.policies import engine_policy, policy_record
from loansvc.affordability.schemas import CoverageRequest
from loansvc.domain import affordability as policy_engine
from loansvc.domain.errors import InvalidInput
from loansvc.domain.fast import coverage as fast
from loansvc.domain.money import quantum
from loansvc.domain.schedule import MAX_AMOUNT, validate_terms

_AS_OF = date(2026, 1, 1)  # scenarios charge interest per period: no date moves an amount


def _scenarios(body: CoverageRequest) -> list[fast.Scenario]:
    """The scenarios, each checked by the exact engine's rules for loan terms."""
    out = []
    for i, s in enumerate(body.scenarios):
        loan = policy_engine.LoanRequest(
            amount=None,
            annual_rate_percent=s.annual_rate_percent,
            term=s.term,
            frequency=s.frequency,
            grace_principal_periods=s.grace_principal_periods,
        )
        try:
            validate_terms(loan.terms(MAX_AMOUNT, "USD", _AS_OF))
        except InvalidInput as exc:
            field = exc.field if exc.field in type(s).model_fields else None
            raise InvalidInput(
                exc.message, code=exc.code, field=f"scenarios[{i}]" + (f".{field}" if field else "")
            ) from exc
        out.append(fast.Scenario(s.annual_rate_percent, s.term, s.frequency, s.grace_principal_periods))
    return out


def _models(session: Session, codes: list[str]) -> list[dict[str, Any]]:
    models = []
    for i, code in enumerate(codes):
        model = repository.housing_model(session, code)
        if model is None:
            raise InvalidInput(
                f"no housing model {code}", code="UNKNOWN_HOUSING_MODEL", field=f"housing_model_codes[{i}]"
            )
        costed = housing.costed(session, model)
        models.append({"code": model.code, "currency": model.currency, "cost": costed["total_cost"]})
    return models


def _programme_debt(
    session: Session, site_id: str | None, index: dict[str, int], currency: str, rate: Decimal, today: date
) -> dict[int, Decimal]:
    """Per household index, the monthly installments of its approved and active loans with every
    lender in loansvc, in `currency`, exactly as an assessment counts them (the assessments' own
    inputs.programme_loans: one household with loans at a time; most households have none)."""
    extra = {}
    for household_id in planning_repository.households_with_committed_loans(session, site_id):
        if household_id in index:
            loans = programme_loans(session, household_id, currency, rate, as_of=today)
            extra[index[household_id]] = sum((Decimal(p["monthly_installment"]) for p in loans), Decimal(0))
    return extra


def _lines(rows: list[tuple], index: dict[str, int]) -> fast.Lines:
    rows = [r for r in rows if r[0] in index]
    return fast.Lines.of(
        [index[r[0]] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] or "USD" for r in rows],  # a line without a currency is in dollars, as assessments read it
    )


def run(session: Session, body: CoverageRequest, today: date, *, khr_per_usd: Decimal) -> dict[str, Any]:
    """The coverage report; `khr_per_usd` (the app's setting) seeds the default policy on first use."""
    if body.site_id is not None and not planning_repository.site_exists(session, body.site_id):
        raise InvalidInput(f"no site {body.site_id}", code="UNKNOWN_SITE", field="site_id")
    models = _models(session, body.housing_model_codes)
    scenarios = _scenarios(body)
    record = policy_record(session, body.policy_version, khr_per_usd=khr_per_usd)
    policy = engine_policy(record)

    households = planning_repository.households(session, body.site_id)
    index = {row[0]: k for k, row in enumerate(households)}
    incomes = _lines(planning_repository.income_lines(session, body.site_id), index)
    expenses = _lines(planning_repository.expense_lines(session, body.site_id), index)
    debts = _lines(planning_repository.debt_lines(session, body.site_id), index)

    by_currency: dict[str, list[int]] = defaultdict(list)
    for k, model in enumerate(models):
        by_currency[model["currency"]].append(k)
    results: list[dict[str, Any] | None] = [None] * len(models)
    for currency, members in by_currency.items():
        rate = policy.khr_per_usd
        extra = _programme_debt(session, body.site_id, index, currency, rate, today)
        figures = fast.monthly_figures(len(households), incomes, expenses, debts, currency, rate, extra)
        costs = [int(models[k]["cost"] / quantum(currency)) for k in members]
        try:
            arrays = fast.coverage(figures, costs, scenarios, policy, currency)
        except ValueError as exc:
            raise InvalidInput(str(exc), code="BEYOND_BULK_PATH", field="site_id") from exc
        for position, k in enumerate(members):
            results[k] = _rows(models[k], body, arrays, position)
    return {
        "policy_version": record.version,
        "site_id": body.site_id,
        "households": len(households),
        "results": [row for model_rows in results for row in model_rows or []],
    }


def _money(units: float | int, currency: str) -> Decimal | None:
    """Minor units (a median may end in a half) as an amount, rounded half-even to the minor unit."""
    if isinstance(units, float) and math.isnan(units):
        return None
    q = quantum(currency)
    return (Decimal(units) * q).quantize(q, rounding=ROUND_HALF_EVEN)


def _rows(model: dict[str, Any], body: CoverageRequest, arrays: fast.CoverageArrays, m: int) -> list[dict]:
    currency, n = model["currency"], arrays.households
    rows = []
    for s, scenario in enumerate(body.scenarios):
        affordable = int(arrays.affordable[m, s])
        deciles = []
        for d in range(fast.DECILES):
            size = int(arrays.decile_households[d])
            deciles.append(
                {
                    "decile": d + 1,
                    "households": size,
                    "income_min": _money(int(arrays.decile_income_min[d]), currency) if size else None,
                    "income_max": _money(int(arrays.decile_income_max[d]), currency) if size else None,
                    "affordable_count": int(arrays.decile_affordable[m, s, d]),
                    "subsidy_median": _money(float(arrays.decile_subsidy_median[m, s, d]), currency),
                }
            )
        rows.append(
            {
                "housing_model_code": model["code"],
                "currency": currency,
                "cost": model["cost"],
                "scenario": scenario.model_dump(),
                "loan_installment": _money(int(arrays.installment[m, s]), currency),
                "households": n,
                "affordable_count": affordable,
                "affordable_share": (Decimal(affordable) / n).quantize(Decimal("0.0001")) if n else None,
                "subsidised_count": int(arrays.subsidised[m, s]),
                "subsidy_total": _money(int(arrays.subsidy_total[m, s]), currency),
                "subsidy_median": _money(float(arrays.subsidy_median[m, s]), currency),
                "deciles": deciles,
            }
        )
    return rows


CSV_COLUMNS = [
    "housing_model_code",
    "currency",
    "cost",
    "annual_rate_percent",
    "term",
    "frequency",
    "grace_principal_periods",
    "loan_installment",
    "households",
    "affordable_count",
    "affordable_share",
    "subsidised_count",
    "subsidy_total",
    "subsidy_median",
] + [
    f"decile_{d}_{name}"
    for d in range(1, fast.DECILES + 1)
    for name in ("households", "income_min", "income_max", "affordable_count", "subsidy_median")
]


def to_csv(report: dict[str, Any]) -> str:
    """One row per model x scenario; each decile's figures flattened into its own columns."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in report["results"]:
        flat = {k: v for k, v in row.items() if k not in ("scenario", "deciles")}
        flat.update(row["scenario"])
        for decile in row["deciles"]:
            for name, value in decile.items():
                if name != "decile":
                    flat[f"decile_{decile['decile']}_{name}"] = value
        writer.writerow({k: "" if v is None else _text(v) for k, v in flat.items()})
    return out.getvalue()


def _text(value: Any) -> str:
    return format(value, "f") if isinstance(value, Decimal) else str(value)
