"""The report charts, drawn with matplotlib's object API on the Agg canvas (no display, no pyplot
global state, so requests may draw concurrently). Each chart says what, for whom, in which unit
and as of when. Floats appear here only to place marks on a picture; no amount is computed.
"""

from __future__ import annotations

import io
from datetime import date

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

SIZE, DPI = (10, 5.2), 100  # 1000 x 520 pixels
PAR30_COLOUR, PAR90_COLOUR = "#d9822b", "#b3261e"
# green for current, then warmer and darker as the days past due grow
BUCKET_COLOURS = ("#3b8a4f", "#e3b23c", "#e08a2c", "#d4622a", "#b83a26", "#8e1f1f", "#5a1010")


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def _frame(title: str, subtitle: str) -> tuple[Figure, object]:
    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    figure.suptitle(title, fontsize=15, fontweight="bold")
    axes.set_title(subtitle, fontsize=10, color="#444444")
    axes.grid(axis="y", color="#dddddd")
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return figure, axes


def _empty(axes, message: str) -> None:
    axes.text(
        0.5, 0.5, message, ha="center", va="center", fontsize=13, color="#666666", transform=axes.transAxes
    )


def par_trend(points: list[dict], currency: str, as_of: date, who: str) -> bytes:
    """PAR30 and PAR90 (percent of the gross loan portfolio) at each month end, one line each.

    points: [{"date", "label", "par30_percent", "par90_percent"}] oldest first; a percent of None
    (no portfolio that month) leaves a gap.
    """
    figure, axes = _frame(
        f"Portfolio at risk, {currency} loans: PAR30 and PAR90 by month",
        f"{who} · month ends up to {as_of.isoformat()} (as of) · "
        "whole outstanding principal of late loans / GLP",
    )
    labels = [p["label"] for p in points]
    x = range(len(points))

    def values(name: str) -> list[float]:
        return [float("nan") if p[name] is None else float(p[name]) for p in points]

    par30, par90 = values("par30_percent"), values("par90_percent")
    # Told apart by more than colour, so that both show when they coincide (every PAR90 loan is
    # also a PAR30 loan, so they often do): PAR30 a wide solid line with small filled dots, PAR90
    # drawn over it as a narrower dashed line with large hollow squares; in the gaps of the dashes
    # and inside the squares, PAR30 shows through.
    axes.plot(
        x, par30, linestyle="-", linewidth=4, marker="o", markersize=5, color=PAR30_COLOUR,
        label="PAR30 (more than 30 days late)", zorder=2,
    )  # fmt: skip
    axes.plot(
        x, par90, linestyle=(0, (5, 4)), linewidth=1.8, marker="s", markersize=11, markerfacecolor="none",
        markeredgewidth=1.8, color=PAR90_COLOUR, label="PAR90 (more than 90 days late)", zorder=3,
    )  # fmt: skip
    # the latest values, PAR30 above its point and PAR90 below, so equal values do not overwrite
    for series, colour, offset in ((par30, PAR30_COLOUR, (8, 8)), (par90, PAR90_COLOUR, (8, -16))):
        if series and series[-1] == series[-1]:  # NaN != NaN
            axes.annotate(
                f"{series[-1]:.2f} %",
                (len(series) - 1, series[-1]),
                textcoords="offset points",
                xytext=offset,
                color=colour,
                fontsize=10,
                fontweight="bold",
            )
    axes.set_xticks(list(x), labels, rotation=45, ha="right")
    axes.set_xlabel("month end")
    axes.set_ylabel("percent of gross loan portfolio (%)")
    axes.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    finite = [v for v in par30 + par90 if v == v]
    axes.set_ylim(0, max([5.0, *finite]) * 1.15)
    axes.legend(loc="upper left", frameon=False, handlelength=3.5)
    if not finite:
        _empty(axes, f"no active {currency} loans in these months")
    return _png(figure)


def aging(buckets: list[dict], currency: str, as_of: date, who: str) -> bytes:
    """Outstanding principal per arrears bucket (bars), with the number of loans on each bar.

    buckets: [{"bucket", "loans", "principal"}] in bucket order.
    """
    figure, axes = _frame(
        f"Arrears aging, {currency} loans: outstanding principal by days past due",
        f"{who} · as of {as_of.isoformat()}",
    )
    labels = [b["bucket"] for b in buckets]
    principal = [float(b["principal"]) for b in buckets]
    bars = axes.bar(
        labels, principal, color=BUCKET_COLOURS[: len(buckets)], edgecolor="#333333", linewidth=0.5
    )
    total = sum(principal)
    for bar, bucket in zip(bars, buckets, strict=True):
        share = f" · {100 * float(bucket['principal']) / total:.1f} %" if total else ""
        axes.annotate(
            f"{bucket['loans']} loan{'' if bucket['loans'] == 1 else 's'}{share}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            textcoords="offset points",
            xytext=(0, 4),
            ha="center",
            fontsize=9,
        )
    axes.set_xlabel("days past due (bucket)")
    axes.set_ylabel(f"outstanding principal ({currency})")
    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    axes.set_ylim(0, max([1.0, *principal]) * 1.15)
    if not total:
        _empty(axes, f"no outstanding {currency} principal")
    return _png(figure)
