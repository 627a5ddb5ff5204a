"""Templates in the reader's language: one Jinja2 environment per language, each with its gettext
catalog installed and filters that format money, dates and percentages for people.

Figures reach the templates as the API's JSON values (the response models' `model_dump(mode=
"json")`), so a page can show `data-value` exactly as the API sends it and format the text beside
it; formatting never rounds differently from the API (see loansvc.i18n).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from loansvc.i18n import LANGUAGES, format_date, format_money, format_month, translations
from loansvc.ui import texts

TEMPLATES = Path(__file__).resolve().parent / "templates"
DASH = "—"


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        return date.fromisoformat(value[:10])
    return None


def _shown(number: Decimal) -> Decimal:
    """A stored rate's padding trimmed for people ("18.0000" -> "18.00"); other digits kept."""
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        trimmed = number.normalize()
        trimmed_exp = trimmed.as_tuple().exponent
        return (
            number.quantize(Decimal("0.01"))
            if isinstance(trimmed_exp, int) and trimmed_exp >= -2
            else trimmed
        )
    return number


def _filters(lang: str) -> dict[str, Any]:
    gettext = translations(lang).gettext

    def money(value: Any, currency: str) -> str:
        amount = _decimal(value)
        return DASH if amount is None else format_money(amount, currency, lang)

    def day(value: Any) -> str:
        d = _date(value)
        return DASH if d is None else format_date(d, lang)

    def day_month(value: Any) -> str:
        d = _date(value)
        return DASH if d is None else format_month(d, lang)

    def pct(value: Any) -> str:
        number = _decimal(value)
        return DASH if number is None else f"{_shown(number):f}%"

    def number(value: Any) -> str:
        n = _decimal(value)
        return DASH if n is None else f"{n:,f}"

    def label(value: Any, kind: str) -> str:
        text = texts.LABELS.get(kind, {}).get(str(value))
        return gettext(text) if text else str(value)

    def pair(value: Any, kind: str | None = None) -> tuple[str, str]:
        """An option of a select: the API's value and its words."""
        return (str(value), label(value, kind) if kind else str(value))

    def product_option(p: dict[str, Any]) -> tuple[str, str]:
        terms = gettext("%(rate)s%% a year, %(low)s–%(high)s installments") % {
            "rate": p["annual_rate_percent"],
            "low": p["min_term"],
            "high": p["max_term"],
        }
        return (p["id"], f"{p.get('lender_name', '')} – {p['name']} ({p['currency']}, {terms})")

    def model_option(model: dict[str, Any]) -> tuple[str, str]:
        return (model["code"], f"{model['name']} ({money(model['total_cost'], model['currency'])})")

    return {
        "model_option": model_option,
        "money": money,
        "day": day,
        "day_month": day_month,
        "pct": pct,
        "number": number,
        "label": label,
        "pair": pair,
        "product_option": product_option,
    }


@cache
def environment(lang: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(_filters(lang))
    env.globals.update(lang=lang, languages=LANGUAGES, texts=texts)
    return env


def render_page(lang: str, template: str, **context: Any) -> str:
    return environment(lang).get_template(template).render(**context)
