"""Keep the pages' catalogs in step with the code: `python -m loansvc.i18n.extract`.

Collects every message id of the pages (`_()`, `ngettext()`, `{% trans %}` in the templates,
`_()`/`N_()` in loansvc/ui's Python), adds new ones to `messages.po` of each language (keeping
every existing translation), drops ids no longer used, and lists the Khmer ids still untranslated
(exit 1 when there are any). The catalogs stay plain .po files read at start: no compile step.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from loansvc.i18n import DOMAIN, LANGUAGES, catalog_path

UI = Path(__file__).resolve().parent.parent / "ui"
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def messages() -> Catalog:
    """The pages' message ids, with where each one is used."""
    template = Catalog(domain=DOMAIN, project="loansvc")
    for filename, lineno, message, comments, context in extract_from_dir(
        UI, METHODS, keywords=KEYWORDS, options_map=OPTIONS
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def read(lang: str) -> Catalog:
    path = catalog_path(lang)
    if not path.exists():
        return Catalog(locale=lang, domain=DOMAIN, project="loansvc")
    with path.open("rb") as po:
        return read_po(po, locale=lang, domain=DOMAIN)


def untranslated(catalog: Catalog, ids: Catalog) -> list[str]:
    out = []
    for message in ids:
        if not message.id:
            continue
        found = catalog.get(message.id, context=message.context)
        strings = found.string if found is not None else None
        if not found or not strings or (isinstance(strings, tuple) and not all(strings)):
            out.append(message.id if isinstance(message.id, str) else message.id[0])
    return out


def update() -> dict[str, list[str]]:
    ids = messages()
    missing: dict[str, list[str]] = {}
    for lang in LANGUAGES:
        catalog = read(lang)
        catalog.update(ids, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        catalog.fuzzy = False  # the header: its plural rule must reach the translations
        path = catalog_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as po:
            write_po(po, catalog, width=100, omit_header=False, sort_output=False)
        if lang != "en":  # the English texts are the ids themselves
            missing[lang] = untranslated(catalog, ids)
    return missing


if __name__ == "__main__":
    missing = update()
    for lang, ids in missing.items():
        for message_id in ids:
            print(f"{lang}: untranslated: {message_id}")
    sys.exit(1 if any(missing.values()) else 0)
