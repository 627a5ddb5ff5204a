"""The largest loan whose installment fits a household's capacity, for arrays of loans.

The inverse of the level installment, found exactly: an annuity-formula aim, then a bounded
search on the bulk path's own (exact) level installment or largest installment. For programme
coverage: like the rest of `loansvc.domain.fast`, nothing from it reaches a contract or ledger.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from loansvc.domain.fast.arrays import ANNUITY, EQUAL_PRINCIPAL, Array, Batch, check_exact, in_units
from loansvc.domain.fast.schedule import flat_interest, levels, run_block, terms_of

__all__ = ["max_principal_for_installment"]

_MAX_ITERATIONS = 200


def _first_installment(b: Batch) -> Array:
    """The installment the search caps, in units: the level installment, or for equal principal
    its fixed part plus the interest on the whole principal (its first installment after grace)."""
    level, step = levels(b)
    fixed = b.kind == EQUAL_PRINCIPAL
    if fixed.any():
        level[fixed] = step[fixed] + flat_interest(b.take(fixed))
    return level


def _peak(b: Batch) -> Array:
    """The largest installment of each loan, in units."""
    check_exact(b)
    largest = np.zeros(b.units.size)
    run_block(b, levels(b)[1], largest, np.zeros(b.units.size))
    return largest


def _slope(b: Batch) -> Array:
    """First installment per unit of principal (float; it only aims the search)."""
    r = b.rn / b.den
    m = (b.term - b.gp).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        annuity = np.where(r > 0, r / -np.expm1(-m * np.log1p(r)), 1 / m)
    return np.where(b.kind == ANNUITY, annuity, 1 / m + r)


def _edge(fits: Callable[[Array, Array], Array], lo: Array, hi: Array) -> None:
    """Move lo (fits, or is 0) and hi (does not fit) in place until hi = lo + 1: the largest j
    that fits when fits(j, idx) is monotone in j, an edge between fitting and not otherwise.
    Every loop is bounded."""
    width = np.full(lo.size, 4, dtype=np.int64)
    for _ in range(_MAX_ITERATIONS):  # widen downwards until lo fits
        idx = np.flatnonzero(lo > 0)
        bad = idx[~fits(lo[idx], idx)]
        if not bad.size:
            break
        hi[bad] = lo[bad]
        lo[bad] = np.maximum(lo[bad] - width[bad], 0)
        width[bad] *= 2
    for _ in range(_MAX_ITERATIONS):  # widen upwards until hi does not fit
        idx = np.flatnonzero(hi > lo)
        bad = idx[fits(hi[idx], idx)]
        if not bad.size:
            break
        lo[bad] = hi[bad]
        hi[bad] += width[bad]
        width[bad] *= 2
    for _ in range(_MAX_ITERATIONS):  # bisect
        idx = np.flatnonzero(hi - lo > 1)
        if not idx.size:
            return
        mid = (lo[idx] + hi[idx]) // 2
        ok = fits(mid, idx)
        lo[idx[ok]] = mid[ok]
        hi[idx[~ok]] = mid[~ok]
    raise RuntimeError("the principal search did not converge")  # pragma: no cover


def _search(b: Batch, cap: Array, grid: Array, largest: bool) -> Array:
    """The largest multiple j of grid (in units) whose installment fits under cap, per loan."""

    def level_fits(j: Array, idx: Array) -> Array:
        sub = b.take(idx, j * grid[idx])
        check_exact(sub)
        return _first_installment(sub) <= cap[idx]

    # aim at the top of the rounding plateau of the largest level within the cap
    plateau = (b.multiple > 0) & (b.kind != EQUAL_PRINCIPAL)
    mult = np.where(plateau, b.multiple, 1.0)
    target = np.where(plateau, (np.floor(cap / mult) + 0.5) * mult, cap + 0.5)
    aim = np.floor(np.maximum(target, 0) / _slope(b) / grid)
    lo = np.maximum(aim - 2, 0).astype(np.int64)
    hi = (aim + 2 + np.ceil(aim * 1e-9)).astype(np.int64)
    lo[cap < 0], hi[cap < 0] = 0, 1
    _edge(level_fits, lo, hi)
    if not largest:
        return lo

    # The last installment moves by about (1 + r)^m per unit of principal: a few Newton steps
    # down from the level's answer, then an edge between what fits and what does not.
    hi = lo + 1
    growth = np.exp((b.term - b.gp) * np.log1p(b.rn / b.den))
    idx = np.flatnonzero(lo > 0)
    for _ in range(8):
        if not idx.size:
            break
        excess = _peak(b.take(idx, lo[idx] * grid[idx])) - cap[idx]
        over = excess > 0
        idx, excess = idx[over], excess[over]
        down = np.maximum(1, np.ceil(excess / (growth[idx] * grid[idx]))).astype(np.int64)
        hi[idx] = lo[idx]
        lo[idx] = np.maximum(lo[idx] - down, 0)
        idx = idx[lo[idx] > 0]
    lo[idx] = 0  # still over after the Newton steps: the edge search starts from nothing

    def all_fit(j: Array, idx: Array) -> Array:
        return _peak(b.take(idx, j * grid[idx])) <= cap[idx]

    _edge(all_fit, lo, hi)
    return lo


def max_principal_for_installment(
    installment,
    annual_rate_percent,
    term,
    periods_per_year=12,
    grace_principal_periods=0,
    installment_multiple=None,
    *,
    interest_method="declining_balance",
    amortization="equal_installments",
    decimals=2,
    rounding="half_even",
    step=None,
    largest: bool = False,
    units: bool = False,
) -> Array:
    """The largest principal, a multiple of `step` (default: the minor unit), whose level
    installment (for equal principal: its first installment after grace) is at most
    `installment`; 0 when none is. Arguments broadcast together, as in `schedules`.

    With `largest=True` every installment must fit. The last one clears the rounding residue
    and can exceed the level (by up to the multiple's rounding times the term), so the answer
    drops to an edge where the largest installment fits and one more step does not: the largest
    such principal whenever the largest installment grows with the principal, which only
    coarse installment multiples can break.
    """
    t = terms_of(
        None,
        annual_rate_percent,
        term,
        periods_per_year,
        grace_principal_periods,
        installment_multiple,
        0,
        0,
        interest_method,
        amortization,
        decimals,
        rounding,
        extra=(installment, 1.0 if step is None else step),
    )
    cap_given, step_given = t.extra
    out = np.empty(t.size)
    for pos, b in t.blocks():
        x = cap_given[pos] * b.scale
        if not np.all(np.isfinite(x)):
            raise ValueError("installment must be finite")
        near = np.rint(x)
        cap = np.where(np.abs(x - near) < 1e-6, near, np.floor(x))  # whole minor units
        if step is None:
            grid = np.ones(b.units.size)
        else:
            grid = in_units(step_given[pos], b.scale, "step", positive=True)
        found = _search(b, cap, grid, largest) * grid
        out[pos] = found if units else found / b.scale
    return out.reshape(t.shape)
