"""Khmer and English: the catalogs cover every text of the pages, money and dates read as people
write them (Western digits in both languages), and the browser's language picks the default."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

from loansvc.domain.affordability_io import REASON_CODES
from loansvc.i18n import format_date, format_money, format_month, negotiate, translations
from loansvc.i18n.extract import messages, read, untranslated
from loansvc.ui import texts

KHMER_DIGITS = re.compile("[\u17e0-\u17e9]")
PLACEHOLDER = re.compile(r"\{[a-z_]+\}|%\([a-z_]+\)[sd]|%%")


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("1234.5", "USD", "$1,234.50"),
        ("0", "USD", "$0.00"),
        ("-12", "USD", "-$12.00"),
        ("1234500", "KHR", "1,234,500 ៛"),
        # whole riel, half-even: 0.5 goes to the even riel
        ("1234500.5", "KHR", "1,234,500 ៛"),
        ("1234501.5", "KHR", "1,234,502 ៛"),
        ("7.005", "USD", "$7.00"),
    ],
)
def test_money_for_people(amount, currency, shown):
    assert format_money(Decimal(amount), currency, "km") == shown
    assert format_money(Decimal(amount), currency, "en") == shown


def test_dates_in_the_chosen_language_with_western_digits():
    assert format_date(date(2026, 12, 1), "en") == "1 Dec 2026"
    assert format_date(date(2026, 12, 1), "km") == "1 ធ្នូ 2026"
    assert format_month(date(2027, 1, 1), "km") == "មករា 2027"
    assert format_month(date(2027, 1, 1), "en") == "January 2027"
    for d in (date(2026, 4, 13), date(2025, 9, 30)):
        assert not KHMER_DIGITS.search(format_date(d, "km"))


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        (None, "km"),
        ("", "km"),
        ("km-KH,km;q=0.9,en;q=0.8", "km"),
        ("en-US,en;q=0.9", "en"),
        ("en;q=0.5, km;q=0.8", "km"),
        ("fr-FR,fr;q=0.9", "en"),
        ("km;q=0, en;q=0.1", "en"),
        ("fr, km-KH;q=0.3", "km"),
    ],
)
def test_the_default_language_comes_from_accept_language(header, lang):
    assert negotiate(header) == lang


def test_the_catalogs_are_read_from_the_po_files():
    assert translations("km").gettext("Households") == "គ្រួសារ"
    assert translations("en").gettext("Households") == "Households"
    # Khmer has one plural form: the one translation serves every count
    assert translations("km").ngettext("%(num)d loan", "%(num)d loans", 3) == "ប្រាក់កម្ចី %(num)d"
    assert translations("fr").gettext("Households") == "Households"


def test_every_text_of_the_pages_has_its_khmer():
    ids = messages()
    assert len(ids) > 300  # the templates and loansvc/ui are actually scanned
    assert untranslated(read("km"), ids) == []


def test_translations_keep_their_placeholders_and_western_digits():
    wrong = []
    for message in read("km"):
        if not message.id:
            continue
        source = message.id if isinstance(message.id, str) else message.id[0]
        for text in message.string if isinstance(message.string, tuple) else (message.string,):
            if sorted(PLACEHOLDER.findall(source)) != sorted(PLACEHOLDER.findall(text)):
                wrong.append(source)
            if KHMER_DIGITS.search(text):
                wrong.append(f"Khmer digits: {source}")
    assert wrong == []


def test_every_reason_code_of_the_engine_has_an_officer_and_a_family_text():
    assert set(texts.OFFICER_REASONS) == set(REASON_CODES)
    assert set(texts.FAMILY_REASONS) == set(REASON_CODES)


def test_reasons_in_words_name_the_figures():
    result = {
        "reasons": [{"code": "INSTALLMENT_ABOVE_CAPACITY", "message": "the engine's words"}],
    }
    figures = {"installment": "$59.91", "max_installment": "$40.00", "max_loan": "$800.00"}
    km = texts.reason_texts(result, figures, "km", translations("km").gettext)[0]
    assert "$59.91" in km["officer"] and "$800.00" in km["family"]
    en = texts.reason_texts(result, figures, "en", translations("en").gettext)[0]
    # in English the officer reads the API's own message; the family its plain words
    assert en["officer"] == "the engine's words"
    assert en["family"] == (
        "The monthly payment of $59.91 is more than your family can safely pay ($40.00). "
        "A smaller loan, up to $800.00, would fit."
    )
    # a figure the page does not have reads as a dash
    assert "—" in texts.reason_texts(result, {}, "en", translations("en").gettext)[0]["family"]
