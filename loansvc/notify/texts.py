"""The words of a reminder: the default rules and their Khmer and English templates, the checks a
lender's own template passes, and the amount and date written the household's way.

A template names its values in braces: {amount} (with its currency), {due_date}, {days} (before or
past the due date) and {lender}; the amount and the date are written the household's language's
way by `loansvc.i18n` ("$110.02", "1,234,500 ៛"; "10 Feb 2026", "10 កុម្ភៈ 2026"). Nothing else
can be named (no attribute or format tricks), and no template can name the household's head or
phone: a message never carries them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from string import Formatter

from loansvc.domain.errors import InvalidInput
from loansvc.i18n import format_date, format_money

PLACEHOLDERS = frozenset({"amount", "due_date", "days", "lender"})
LANGUAGES = ("km", "en")

BEFORE_KM = "សូមរំលឹក៖ ប្រាក់បង់រំលោះកម្ចីលំនៅដ្ឋានរបស់អ្នកចំនួន {amount} ត្រូវបង់នៅថ្ងៃទី {due_date}។ សូមអរគុណ — {lender}"
BEFORE_EN = "Reminder: your housing loan payment of {amount} is due on {due_date}. Thank you — {lender}"
PAST_KM = (
    "ប្រាក់បង់រំលោះកម្ចីលំនៅដ្ឋានរបស់អ្នកដែលត្រូវបង់នៅថ្ងៃទី {due_date} បានយឺត {days} ថ្ងៃ។ "
    "ចំនួនដែលហួសកាលកំណត់៖ {amount}។ សូមបង់ប្រាក់ ឬទាក់ទងមន្ត្រីឥណទានរបស់អ្នក — {lender}"
)
PAST_EN = (
    "Your housing loan payment due on {due_date} is {days} days late. Amount overdue: {amount}. "
    "Please pay or contact your loan officer — {lender}"
)


@dataclass(frozen=True)
class Rule:
    kind: str  # before_due | past_due
    days: int
    template_km: str
    template_en: str
    active: bool = True

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.days}"

    def template(self, language: str) -> str:
        return self.template_en if language == "en" else self.template_km


def default_template(kind: str, language: str) -> str:
    if kind == "before_due":
        return BEFORE_EN if language == "en" else BEFORE_KM
    return PAST_EN if language == "en" else PAST_KM


# the defaults: 3 days before a due date; 1, 7 and 30 days after it
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("before_due", 3, BEFORE_KM, BEFORE_EN),
    Rule("past_due", 1, PAST_KM, PAST_EN),
    Rule("past_due", 7, PAST_KM, PAST_EN),
    Rule("past_due", 30, PAST_KM, PAST_EN),
)


def check_template(text: str, field: str) -> None:
    """422 TEMPLATE_INVALID unless every brace names one of PLACEHOLDERS, plainly."""
    try:
        parts = list(Formatter().parse(text))
    except ValueError as exc:
        raise InvalidInput(f"{field}: {exc}", code="TEMPLATE_INVALID", field=field) from None
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            known = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
            raise InvalidInput(
                f"{field}: {{{name}}} is not a value a template can name ({known})",
                code="TEMPLATE_INVALID",
                field=field,
            )


def render(
    template: str, *, amount: Decimal, currency: str, due_on: date, days: int, lender: str, language: str
) -> str:
    values = {
        "amount": format_money(amount, currency, language),
        "due_date": format_date(due_on, language),
        "days": str(days),
        "lender": lender,
    }
    return template.format_map(values)
