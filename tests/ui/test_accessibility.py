"""Basic accessibility of every page, checked in the browser: each input, select and textarea has a
label, headings start at one h1 and never skip a level, images have a text alternative, ids are
unique, and at a 390 px phone width the page itself never scrolls sideways (wide tables scroll in
their own box). The stylesheet's text colours are checked for a contrast of at least 7:1 (WCAG
AAA, for reading in sunlight).

What this does not replace: a person with a screen reader. The manual check done for the
screenshots (docs/screenshots/) was keyboard only: Tab reaches every link, field and button in
reading order, the focus ring (amber, 3 px) is visible on the blue header and on white.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.ui.conftest import sign_in

STYLESHEET = Path(__file__).resolve().parents[2] / "loansvc" / "ui" / "static" / "style.css"

CHECK = """
() => {
  const problems = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (['hidden', 'submit', 'button'].includes(el.type)) continue;
    const named = (el.labels && el.labels.length) || el.getAttribute('aria-label')
      || el.getAttribute('aria-labelledby');
    if (!named) problems.push('no label: ' + (el.name || el.id || el.outerHTML));
  }
  const levels = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].map(h => +h.tagName[1]);
  if (levels[0] !== 1) problems.push('the first heading is h' + levels[0]);
  if (levels.filter(l => l === 1).length !== 1) problems.push('not one h1');
  levels.forEach((l, i) => {
    if (i && l > levels[i - 1] + 1) problems.push(`h${levels[i - 1]} then h${l}`);
  });
  for (const img of document.querySelectorAll('img')) if (!img.alt) problems.push('no alt: ' + img.src);
  const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
  ids.filter((id, i) => ids.indexOf(id) !== i).forEach(id => problems.push('duplicate id: ' + id));
  if (!document.documentElement.lang) problems.push('no lang on <html>');
  return problems;
}
"""


def _pages(world) -> list[str]:
    family, loan = world["family_1"]["id"], world["loan_a"]["id"]
    return [
        "/ui/households",
        f"/ui/households?q={world['family_1']['parcel_code']}",
        f"/ui/households/{family}",
        f"/ui/households/{family}/affordability",
        f"/ui/households/{family}/financing-plan",
        f"/ui/loans/{loan}",
        "/ui/simulate",
        "/ui/materials",
        "/ui/visits",
        "/ui/dashboard",
        "/ui/no-such-page",
    ]


def _problems(page) -> list[str]:
    return page.evaluate(CHECK)


@pytest.mark.parametrize("lang", ["en", "km"])
def test_every_page_has_labels_ordered_headings_and_fits_a_phone(page, server, world, lang):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server.url}/ui/lang?lang={lang}&next=/ui/login")
    assert _problems(page) == [], "/ui/login"
    sign_in(page, server, world["keys"]["officer"])
    found = {}
    for path in _pages(world):
        page.goto(server.url + path)
        problems = _problems(page)
        if page.evaluate("document.documentElement.scrollWidth") > 390:
            problems.append("the page scrolls sideways at 390 px")
        if problems:
            found[path] = problems
    # with results and refusals shown: the affordability result, a simulation, a refused form
    page.goto(f"{server.url}/ui/households/{world['family_1']['id']}/affordability")
    page.select_option("select[name='loan.product_id']", world["product_a"]["id"])
    page.fill("input[name='loan.term']", "24")
    page.fill("input[name='loan.amount']", "900")
    page.click("button[name=action][value=check]")
    page.wait_for_selector("#result [data-field=decision]")
    found["affordability result"] = _problems(page)
    page.goto(f"{server.url}/ui/simulate")
    page.fill("#o1-principal", "1000")
    page.fill("#o1-rate", "18")
    page.fill("#o1-term", "12")
    page.fill("#o2-principal", "1000")
    page.fill("#o2-rate", "2")
    page.fill("#o2-term", "12")
    page.select_option("#o2-method", "flat")
    page.click("main form button[type=submit]")
    page.wait_for_selector("#comparison")
    found["comparison"] = _problems(page)
    page.goto(f"{server.url}/ui/materials")
    page.click("#issue ~ form button[type=submit]")
    page.wait_for_selector("#errors")
    found["refused form"] = _problems(page)
    assert {path: p for path, p in found.items() if p} == {}


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_worked_example_of_the_contrast_formula():
    # black on white is the largest contrast there is: (1 + 0.05) / (0 + 0.05) = 21
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    # #777777 on white is the classic 4.48:1 that fails WCAG AA for body text
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def test_every_text_colour_of_the_stylesheet_reads_at_7_to_1():
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", STYLESHEET.read_text()))
    pairs = [
        ("ink", "paper"),
        ("muted", "paper"),
        ("ink", "panel"),
        ("muted", "panel"),
        ("link", "paper"),
        ("bad", "paper"),
        ("on-brand", "brand"),
        ("on-brand", "good"),
        ("on-brand", "warn"),
        ("on-brand", "bad"),
    ]
    low = {f"{fg} on {bg}": round(contrast(colours[fg], colours[bg]), 2) for fg, bg in pairs}
    assert {k: v for k, v in low.items() if v < 7} == {}


def test_the_check_finds_what_it_looks_for(page):
    page.set_content(
        "<html><body><h2>Late</h2><h4>Skipped</h4><input name='amount'><img src='x.png'>"
        "<p id='a'></p><p id='a'></p></body></html>"
    )
    assert _problems(page) == [
        "no label: amount",
        "the first heading is h2",
        "not one h1",
        "h2 then h4",
        "no alt: " + page.locator("img").evaluate("img => img.src"),
        "duplicate id: a",
        "no lang on <html>",
    ]
