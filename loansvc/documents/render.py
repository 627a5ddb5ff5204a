"""HTML (Jinja2) to PDF (WeasyPrint), in Khmer or English, with the packaged Khmer OS font.

The font is declared by an @font-face with a file:// URL, so Pango/HarfBuzz shape Khmer from the
file shipped in `fonts/` whatever the machine has installed. Resources load from this package only
(no network, no other file). One render at a time: WeasyPrint and Pango share a font configuration,
and a page renders in a few tens of milliseconds.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import jinja2
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from loansvc.documents import text
from loansvc.documents.content import KeyFacts, ScheduleDoc

HERE = Path(__file__).resolve().parent
FONT = HERE / "fonts" / "KhmerOS.ttf"
FONT_FAMILY = "Khmer OS"
_render_lock = threading.Lock()


class PackageFetcher(URLFetcher):
    """Fetches file:// URLs inside this package and refuses everything else."""

    def __init__(self):
        super().__init__(allowed_protocols={"file"})

    def fetch(self, url, headers=None):
        if not url.startswith(HERE.as_uri() + "/"):
            raise ValueError(f"documents load no resource outside their package: {url}")
        return super().fetch(url, headers)


@lru_cache(maxsize=len(text.LANGUAGES))
def _environment(lang: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(text.translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters["day"] = lambda value: text.day(value, lang)
    env.filters["percent"] = text.percent
    env.globals["lang"] = lang
    return env


@lru_cache(maxsize=1)
def _styles() -> tuple[FontConfiguration, CSS]:
    fonts = FontConfiguration()
    face = f'@font-face {{ font-family: "{FONT_FAMILY}"; src: url("{FONT.as_uri()}"); }}\n'
    css = (HERE / "templates" / "documents.css").read_text(encoding="utf-8")
    return fonts, CSS(string=face + css, font_config=fonts, url_fetcher=PackageFetcher())


def _pdf(template: str, lang: str, **context) -> bytes:
    html = _environment(lang).get_template(template).render(**context)
    with _render_lock:
        fonts, css = _styles()
        document = HTML(string=html, base_url=HERE.as_uri() + "/", url_fetcher=PackageFetcher())
        return document.write_pdf(stylesheets=[css], font_config=fonts)


def _money(currency: str, lang: str):
    return lambda amount: text.money(amount, currency, lang)


def schedule_pdf(view: ScheduleDoc, lang: str) -> bytes:
    """The repayment schedule: each installment's date and parts, the totals, APR and EIR."""
    return _pdf("schedule.html", lang, doc=view, money=_money(view.currency, lang))


def key_facts_pdf(view: KeyFacts, lang: str) -> bytes:
    """The one-page key facts statement to read before signing."""
    return _pdf(
        "key_facts.html", lang, facts=view, doc=view.schedule, money=_money(view.schedule.currency, lang)
    )
