"""The report charts: real PNG files, big enough to read, and not blank.

The book of loans is the one of test_reports.py (as of 2026-06-30, USD and KHR loans of two lenders).
"""

from __future__ import annotations

import io
import struct
import zlib
from datetime import date
from decimal import Decimal

import numpy as np
import pytest
from matplotlib import image

from loansvc.reports import charts
from tests.api.helpers import assert_problem
from tests.api.test_reports import build_book

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHARTS = ("/v1/reports/charts/par-trend.png", "/v1/reports/charts/aging.png")


@pytest.fixture()
def book(client, session, admin, officer, make_key) -> dict:
    return build_book(client, session, admin, officer, make_key("admin"))


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which must come first and carry a valid CRC."""
    assert data[:8] == PNG_SIGNATURE, data[:8]
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", data[16:24])
    (crc,) = struct.unpack(">I", data[29:33])
    assert crc == zlib.crc32(data[12:29]), "IHDR CRC"
    assert data.endswith(b"IEND\xaeB`\x82")
    return width, height


def pixels(data: bytes) -> np.ndarray:
    return image.imread(io.BytesIO(data), format="png")


def assert_readable_chart(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    width, height = png_size(response.content)
    assert width >= 600 and height >= 300, (width, height)
    picture = pixels(response.content)
    assert picture.shape[:2] == (height, width)
    rgb = picture[..., :3]
    assert float(rgb.var()) > 0.001, "the picture is one flat colour"
    # something is drawn: a good share of the pixels are not the white background
    inked = (rgb.min(axis=2) < 0.9).mean()
    assert inked > 0.01, inked
    return rgb


@pytest.mark.parametrize("path", CHARTS)
def test_each_chart_is_a_real_non_blank_png(client, book, finance, path):
    assert_readable_chart(client.get(path, headers=finance, params={"as_of": "2026-06-30"}))


def test_the_par_trend_draws_both_lines(client, book, finance):
    rgb = assert_readable_chart(
        client.get(CHARTS[0], headers=finance, params={"as_of": "2026-06-30", "months": 12})
    )
    # PAR30 (orange #d9822b) and PAR90 (red #b3261e) lines are both on the picture
    for colour in ((0xD9, 0x82, 0x2B), (0xB3, 0x26, 0x1E)):
        target = np.array(colour) / 255
        close = (np.abs(rgb - target).max(axis=2) < 0.05).sum()
        assert close > 200, (colour, close)


PAR30, PAR90 = (0xD9, 0x82, 0x2B), (0xB3, 0x26, 0x1E)  # orange and red, as charts.py draws them


def coloured(rgb: np.ndarray, colour: tuple[int, int, int]) -> int:
    """How many pixels are (within 5 %) of `colour`."""
    return int((np.abs(rgb - np.array(colour) / 255).max(axis=2) < 0.05).sum())


def trend(par30: list, par90: list) -> np.ndarray:
    points = [
        {"date": date(2026, m, 28), "label": f"2026-{m:02d}", "par30_percent": a, "par90_percent": b}
        for m, a, b in zip(range(1, 13), par30, par90, strict=True)
    ]
    return pixels(charts.par_trend(points, "USD", date(2026, 12, 28), "all lenders"))[..., :3]


def test_par30_and_par90_stay_distinct_when_they_coincide():
    # When every late loan is more than 90 days late, PAR30 = PAR90 month after month. Each line is
    # drawn alone, then both on the same values: PAR90's dashed line with hollow squares must not
    # hide PAR30's solid line with dots, so a good part of PAR30's orange still shows, and PAR90's red
    # shows as much as when it is alone.
    values = [Decimal(v) for v in ("2", "3", "5", "6", "6.5", "8", "9", "8.5", "10", "11", "12", "12.5")]
    nothing = [None] * 12
    alone30, alone90, both = trend(values, nothing), trend(nothing, values), trend(values, values)
    orange_alone, red_alone = coloured(alone30, PAR30), coloured(alone90, PAR90)
    assert orange_alone > 1000 and red_alone > 1000, (orange_alone, red_alone)
    # a line drawn over the other of the same width and style would leave only the legend's orange
    # (about 4 % of the lone line's); here well over a third of it shows
    assert coloured(both, PAR30) > 0.35 * orange_alone, (coloured(both, PAR30), orange_alone)
    assert coloured(both, PAR90) > 0.8 * red_alone, (coloured(both, PAR90), red_alone)
    # and the picture has both colours along the lines, not only in the legend: in the plot's right
    # half (the legend sits upper left), each colour still covers many pixels
    right = both[:, both.shape[1] // 2 :]
    assert coloured(right, PAR30) > 300 and coloured(right, PAR90) > 300
    # the two lines, the grid, the text and the axes: more than a handful of distinct inks
    ink = both[both.min(axis=2) < 0.9]
    assert len({tuple(p) for p in np.round(ink * 8).astype(int)}) >= 6


def test_the_aging_bars_change_with_the_portfolio(client, book, finance, make_key):
    usd = client.get(CHARTS[1], headers=finance, params={"as_of": "2026-06-30"})
    khr = client.get(CHARTS[1], headers=finance, params={"as_of": "2026-06-30", "currency": "KHR"})
    bank = client.get(CHARTS[1], headers=make_key("partner", book["B"]["id"]), params={"as_of": "2026-06-30"})
    pictures = [assert_readable_chart(r) for r in (usd, khr, bank)]
    assert not np.array_equal(pictures[0], pictures[1])
    assert not np.array_equal(pictures[0], pictures[2])


@pytest.mark.parametrize("path", CHARTS)
def test_a_chart_of_an_empty_portfolio_still_renders(client, officer, path):
    assert_readable_chart(client.get(path, headers=officer))


def test_bad_chart_parameters_are_422(client, finance):
    for params in ({"months": 1}, {"months": 37}, {"as_of": "2999-01-01"}, {"currency": "XYZ"}):
        assert_problem(client.get(CHARTS[0], headers=finance, params=params), 422)
