"""Khmer and English for people: the gettext catalogs, the language of a request, money and dates.

The catalogs are Babel `.po` files in `locale/<lang>/LC_MESSAGES/messages.po`, read once when a
language is first asked for (no compile step: Babel parses the `.po` and the translations are
built in memory). The message ids are the English texts, so an untranslated id reads in English.

Numbers use Western digits in both languages (as Cambodian banks and receipts do). USD shows 2
decimals with its sign in front ("$1,234.50"); riel has no minor unit in practice and shows whole
riel with the riel sign after ("1,234,500 ៛"). Rounding to the currency's unit is the one rounding
helper of the domain (half-even), so a figure shown never disagrees with the stored one.
"""

from __future__ import annotations

import gettext
import io
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Literal

from babel.dates import format_date as _babel_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from loansvc.domain.money import round_money

Lang = Literal["km", "en"]
LANGUAGES: tuple[Lang, ...] = ("km", "en")
DEFAULT_LANGUAGE: Lang = "km"  # the families' language, when the browser says nothing
DOMAIN = "messages"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
_DATE_FORMATS = {"km": "d MMMM y", "en": "d MMM y"}


def catalog_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalog of `lang` ("km" or "en"); any other language gets the English message ids."""
    if lang not in LANGUAGES:
        return gettext.NullTranslations()
    with catalog_path(lang).open("rb") as po:
        catalog = read_po(po, locale=lang, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def negotiate(accept_language: str | None) -> Lang:
    """The language of an `Accept-Language` header: the supported one with the highest weight
    ("km-KH,km;q=0.9,en;q=0.8" -> km); no header -> Khmer; only other languages -> English."""
    if not accept_language or not accept_language.strip():
        return DEFAULT_LANGUAGE
    best: tuple[float, int, Lang] | None = None
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if primary in LANGUAGES and weight > 0:
            candidate = (-weight, position, primary)
            if best is None or candidate < best:
                best = candidate  # type: ignore[assignment]
    return best[2] if best else "en"


def format_money(amount: Decimal, currency: str, lang: str) -> str:
    """USD "$1,234.50", KHR "1,234,500 ៛" (whole riel), others "1,234.50 EUR"; Western digits."""
    value = round_money(Decimal(amount), currency)
    sign = "-" if value < 0 else ""
    digits = f"{abs(value):,f}"
    if currency == "USD":
        return f"{sign}${digits}"
    if currency == "KHR":
        return f"{sign}{digits} ៛"
    return f"{sign}{digits} {currency}"


def format_date(d: date, lang: str) -> str:
    """A date in the language's words: km "1 ធ្នូ 2026", en "1 Dec 2026" (Western digits)."""
    lang = lang if lang in LANGUAGES else "en"
    return _babel_date(d, _DATE_FORMATS[lang], locale=lang)


def format_month(d: date, lang: str) -> str:
    """A calendar month: km "ធ្នូ 2026", en "December 2026"."""
    lang = lang if lang in LANGUAGES else "en"
    return _babel_date(d, "MMMM y", locale=lang)


__all__ = [
    "LANGUAGES",
    "Lang",
    "format_date",
    "format_money",
    "format_month",
    "negotiate",
    "translations",
]
