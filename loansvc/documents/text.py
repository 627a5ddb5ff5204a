"""The documents' words: the gettext domain `documents` (loansvc/i18n/locale/<lang>/LC_MESSAGES/
documents.po, read with Babel once per process, no build step), and amounts, dates and rates
formatted for people through loansvc.i18n (Western digits in both languages)."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from loansvc import i18n
from loansvc.domain.rates import shown_percent

LANGUAGES = ("km", "en")
DOMAIN = "documents"
LOCALE_DIR = Path(i18n.__file__).resolve().parent / "locale"


@lru_cache(maxsize=len(LANGUAGES))
def translations(lang: str) -> Translations:
    """The `documents` catalog of a language; English is the source text (its msgstrs may be empty)."""
    if lang not in LANGUAGES:
        raise ValueError(f"no documents in {lang!r}")
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as po:
        catalog = read_po(po, locale=lang, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def money(amount: Decimal, currency: str, lang: str) -> str:
    return i18n.format_money(amount, currency, lang)


def day(value: date, lang: str) -> str:
    return i18n.format_date(value, lang)


def percent(value: Decimal) -> str:
    """A rate as it is shown to people: 2 decimals, half-even ("18.00 %")."""
    return f"{shown_percent(value)} %"
