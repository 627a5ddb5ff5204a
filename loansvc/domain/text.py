"""Folding text for search: a family is found by its name whatever the case or the accents, in Latin
or Khmer script, and by its parcel code, title number or phone, with or without the spaces.

`fold` takes the case and the Latin/Greek/Cyrillic accents off (NFKD, then the combining marks of the
diacritical blocks are dropped) but keeps every Khmer vowel sign and coeng: those are combining marks
too (Mn/Mc) and carry the word, so only the marks of the diacritical blocks go. The zero-width space
written between Khmer words is a space, other invisible format characters go, Khmer digits read as
0-9, and runs of spaces become one.

`search_text` is what a household row stores for search: each field folded, one per line, with a
line break before the first and after the last, so `\\n<q>\\n` inside it is an exact match of one field
(a folded query never holds a line break: it is whitespace). Alembic migration 0007 keeps its own copy
of these functions for its backfill; change both only with a migration that folds the rows again.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

SEPARATOR = "\n"
SEARCH_TEXT_LENGTH = 500  # households.search_text is String(500)
PHONE_CHARACTERS = frozenset("0123456789+ ()-")

# the combining diacritical blocks (accents for Latin, Greek and Cyrillic letters); Khmer marks are
# in the Khmer block (U+1780-U+17FF) and stay
_DIACRITICS = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F))


def _is_diacritic(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _DIACRITICS)


# Latin letters with a stroke have no decomposition: Vietnamese đ is d to whoever types it
_STROKED = str.maketrans({"đ": "d", "ø": "o", "ł": "l"})
ZERO_WIDTH_SPACE = "\u200b"  # written between Khmer words: a space to search


def fold(value: str) -> str:
    """`value` without case, Latin accents or invisible characters, its spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", value.casefold().replace(ZERO_WIDTH_SPACE, " "))
    kept = "".join(
        str(unicodedata.decimal(c)) if c.isdecimal() else c  # Khmer digits read as 0-9
        for c in decomposed
        if not _is_diacritic(c) and unicodedata.category(c) != "Cf"
    )
    return " ".join(kept.translate(_STROKED).split())


def digits(value: str) -> str:
    """The ASCII digits of `value`, in order ("012 345 678" -> "012345678")."""
    return "".join(c for c in value if "0" <= c <= "9")


def search_text(*, head_name: str, parcel_code: str, title_number: str | None, phone: str | None) -> str:
    """What households.search_text stores: parcel, title, phone (as written and digits only), name."""
    parts = [fold(parcel_code)]
    if title_number:
        parts.append(fold(title_number))
    if phone:
        folded = fold(phone)
        parts.append(folded)
        if digits(folded) not in ("", folded):
            parts.append(digits(folded))
    parts.append(fold(head_name))  # last: only a name past any sense is cut at the column's length
    text = SEPARATOR + SEPARATOR.join(p for p in parts if p) + SEPARATOR
    return text[:SEARCH_TEXT_LENGTH]


@dataclass(frozen=True)
class SearchTerms:
    """A query folded like the rows; `digits` is set when it reads as a phone number."""

    text: str
    digits: str | None = None


def search_terms(q: str | None) -> SearchTerms | None:
    """The folded query, or None when nothing is left to search for (absent or blank)."""
    if q is None:
        return None
    text = fold(q)
    if not text:
        return None
    number = digits(text)
    phone_like = set(text) <= PHONE_CHARACTERS and number != "" and number != text
    return SearchTerms(text=text, digits=number if phone_like else None)
