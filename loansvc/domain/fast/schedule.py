"""Vectorised repayment schedules: the exact engine's rules over arrays of loans (numpy).

For what-if work over many loans at once (programme coverage: households x scenarios x house
models). Nothing computed here reaches a contract, a ledger or a figure shown for one family:
those come from the exact Decimal engine, `loansvc.domain.schedule`, which stays the authority.
This path agrees with it within one minor unit per installment (property-tested in
tests/domain/test_fast_schedule.py) for the terms it covers: per_period interest, declining
balance (equal installments or equal principal) or flat, principal grace, interest grace,
interest-free periods, an installment multiple, half-even or half-up rounding; no fees,
tranches, dates or daily interest.

Why it is exact rather than merely close:
- amounts are integer-valued float64 minor units, so every sum and difference is exact;
- a per-period rate is the integer fraction rn/den (the annual percent, at most 6 decimals,
  over 100 x periods per year, reduced by their gcd), and a period's interest is the quotient
  balance x rn / den rounded by np.rint (half-even) or floor(x + 1/2) (half-up). While
  balance x rn < 2**52 that is the exactly rounded quotient: a quotient that is not a tie lies
  at least 1/(2 den) from one, more than half a float64 ulp. Larger loans raise ValueError;
- the annuity factor of the level installment is the one float step; when its raw value falls
  within 1e-13 (relative) of a rounding tie it is recomputed with the exact engine's formula.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Context, Decimal, localcontext
from enum import Enum

import numpy as np

from loansvc.domain.money import Rounding
from loansvc.domain.schedule import annuity_payment

__all__ = [
    "BulkSchedules",
    "BulkSummary",
    "level_installments",
    "max_principal_for_installment",
    "schedule_summary",
    "schedules",
]

_FLOAT_EXACT = 2.0**52 * (1 - 1e-9)  # below it, float64 interest quotients round exactly
_INT_LIMIT = 2.0**62  # int64 products must stay below it
_RATE_SCALE = 10**6  # annual rates in percent carry at most 6 decimals
_CHUNK = 16384  # loans per block: the working arrays stay in cache
_TIE = 1e-13  # relative distance to a tie below which the level is recomputed exactly
_MAX_ITERATIONS = 200

# loan kinds
_ANNUITY, _EQUAL_PRINCIPAL, _FLAT = 0, 1, 2

Array = np.ndarray


@dataclass(frozen=True)
class BulkSummary:
    """Per loan, in currency units (or integer-valued minor units with `units=True`)."""

    level_installment: Array  # NaN for equal principal, as the exact engine's None
    largest_installment: Array
    total_interest: Array


@dataclass(frozen=True)
class BulkSchedules(BulkSummary):
    """Each installment's parts, padded with zeros after a loan's last installment: shape
    (*loans, max term)."""

    principal: Array
    interest: Array
    total: Array


# ---------------------------------------------------------------- rounding on exact quotients


def _round(x: Array, mode: str) -> Array:
    """x rounded to an integer with `mode`, in place (x must be a float array)."""
    if mode == "half_even":
        return np.rint(x, out=x)
    whole = np.floor(x)
    x -= whole  # exact: the fraction of a float is representable
    return np.add(whole, x >= 0.5, out=x)


def _rdiv(num: Array, den: Array | int, mode: str) -> Array:
    """num / den rounded with `mode`, on int64 (exact); integer-valued floats are accepted."""
    num = np.asarray(num).astype(np.int64)
    den = np.asarray(den).astype(np.int64)
    q, r = np.divmod(num, den)
    twice = 2 * r
    up = (twice > den) | ((twice == den) & ((q % 2 == 1) if mode == "half_even" else True))
    return (q + up).astype(np.float64)


# ---------------------------------------------------------------- terms as arrays


@dataclass(frozen=True)
class _Batch:
    shape: tuple[int, ...]
    mode: str
    units: Array  # principal in minor units
    scale: Array  # 10 ** decimals
    decimals: Array
    micro: Array  # annual percent x 10**6 (int64), for the exact fallback
    ppy: Array
    rn: Array  # per-period rate = rn / den, both integer-valued floats
    den: Array
    rn_int: Array  # the same as int64
    den_int: Array
    term: Array
    gp: Array
    gi: Array
    free: Array
    multiple: Array  # minor units; 0 for none
    kind: Array

    def take(self, idx: Array, units: Array | None = None) -> _Batch:
        fields = {name: getattr(self, name)[idx] for name in _ARRAY_FIELDS}
        if units is not None:
            fields["units"] = units
        return replace(self, shape=fields["units"].shape, **fields)


_ARRAY_FIELDS = (
    "units",
    "scale",
    "decimals",
    "micro",
    "ppy",
    "rn",
    "den",
    "rn_int",
    "den_int",
    "term",
    "gp",
    "gi",
    "free",
    "multiple",
    "kind",
)


def _mode(rounding: object) -> str:
    value = rounding.value if isinstance(rounding, Enum) else rounding
    if value not in (Rounding.HALF_EVEN.value, Rounding.HALF_UP.value):
        raise ValueError("rounding must be half_even or half_up")
    return str(value)


def _choice(values: object, allowed: dict[str, int], name: str) -> Array:
    if isinstance(values, Enum):
        values = values.value
    elif isinstance(values, list | tuple):
        values = [v.value if isinstance(v, Enum) else v for v in values]
    arr = np.asarray(values)
    out = np.zeros(arr.shape, dtype=np.int8)
    for value in np.unique(arr):
        if str(value) not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
        out[arr == value] = allowed[str(value)]
    return out


def _whole(values: Array, name: str, low: int = 0) -> Array:
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.rint(arr)):
            raise ValueError(f"{name} must be whole numbers")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be whole numbers")
    arr = arr.astype(np.int64)
    if np.any(arr < low):
        raise ValueError(f"{name} must be >= {low}")
    return arr


def _in_units(values: Array, scale: Array, name: str, *, positive: bool) -> Array:
    x = np.asarray(values, dtype=np.float64) * scale
    units = np.rint(x)
    if not np.all(np.isfinite(x)) or np.any(np.abs(x - units) > 1e-9 * np.maximum(1.0, np.abs(x))):
        raise ValueError(f"{name} must be finite amounts in the currency's minor unit")
    if np.any(units <= 0) if positive else np.any(units < 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'}")
    return units


def _batch(
    principal,
    annual_rate_percent,
    term,
    periods_per_year,
    grace_principal_periods,
    grace_interest_periods,
    interest_free_periods,
    installment_multiple,
    interest_method,
    amortization,
    decimals,
    rounding,
    extra: tuple = (),
) -> _Batch:
    """Broadcast and check the terms, refusing (ValueError) what the exact engine would refuse
    and what this path cannot compute exactly."""
    flat = _choice(interest_method, {"declining_balance": 0, "flat": 1}, "interest_method")
    ep = _choice(amortization, {"equal_installments": 0, "equal_principal": 1}, "amortization")
    multiple = np.nan_to_num(np.asarray(0.0 if installment_multiple is None else installment_multiple, float))
    arrays = np.broadcast_arrays(
        np.asarray(0.0 if principal is None else principal, dtype=np.float64),
        np.asarray(annual_rate_percent, dtype=np.float64),
        np.asarray(term),
        np.asarray(periods_per_year),
        np.asarray(grace_principal_periods),
        np.asarray(grace_interest_periods),
        np.asarray(interest_free_periods),
        multiple,
        flat,
        ep,
        np.asarray(decimals),
        *(np.asarray(x, dtype=np.float64) for x in extra),
    )
    shape = arrays[0].shape
    p, rate, n, ppy, gp, gi, free, mult, flat, ep, dec, *more = (
        np.ascontiguousarray(a).ravel() for a in arrays
    )
    dec = _whole(dec, "decimals")
    if np.any(dec > 6):
        raise ValueError("decimals must be from 0 to 6")
    scale = 10.0**dec
    n = _whole(n, "term", 1)
    ppy = _whole(ppy, "periods_per_year", 1)
    gp, gi, free = (_whole(a, name) for a, name in ((gp, "grace"), (gi, "interest grace"), (free, "free")))
    if np.any(gp >= n) or np.any(gi >= n) or np.any(free > n):
        raise ValueError("grace periods must leave an installment to repay (and free periods <= term)")
    if not np.all(np.isfinite(rate)) or np.any(rate < 0):
        raise ValueError("annual_rate_percent must be finite and >= 0")
    micro_f = rate * _RATE_SCALE
    micro = np.rint(micro_f)
    if np.any(np.abs(micro_f - micro) > 1e-9 * np.maximum(1.0, micro)):
        raise ValueError("annual_rate_percent must have at most 6 decimals")
    micro = micro.astype(np.int64)
    den = 100 * _RATE_SCALE * ppy
    g = np.gcd(micro, den)
    kind = np.where(flat == 1, _FLAT, np.where(ep == 1, _EQUAL_PRINCIPAL, _ANNUITY)).astype(np.int8)
    units = _in_units(p, scale, "principal", positive=True) if principal is not None else np.zeros(p.shape)
    batch = _Batch(
        shape=shape,
        mode=_mode(rounding),
        units=units,
        scale=scale,
        decimals=dec,
        micro=micro,
        ppy=ppy,
        rn=(micro // g).astype(np.float64),
        den=(den // g).astype(np.float64),
        rn_int=micro // g,
        den_int=den // g,
        term=n,
        gp=gp,
        gi=gi,
        free=free,
        multiple=_in_units(mult, scale, "installment_multiple", positive=False),
        kind=kind,
    )
    return (batch, *more) if extra else batch


def _check_exact(b: _Batch) -> None:
    spread = np.where(b.kind == _FLAT, np.maximum(b.term - b.free, 1), 1)
    if np.any(b.units * b.rn * spread >= _INT_LIMIT):
        raise ValueError(
            "principal x rate is too large for the bulk path to stay exact; use the exact engine"
        )


# ---------------------------------------------------------------- the level installment


def _annuity(b: _Batch, m: Array) -> Array:
    """PMT at the per-period rate over m installments, rounded to the minor unit (units)."""
    out = np.empty(b.units.shape)
    zero = b.rn == 0
    if zero.any():
        out[zero] = _rdiv(b.units[zero], m[zero], b.mode)
    live = ~zero
    if live.any():
        r = b.rn[live] / b.den[live]
        raw = b.units[live] * r / -np.expm1(-m[live] * np.log1p(r))
        near = np.abs(raw - np.floor(raw) - 0.5) <= _TIE * raw + 1e-9
        rounded = _round(raw.copy(), b.mode)
        for i in np.flatnonzero(near):  # a near tie: the exact engine's own Decimal formula
            j = np.flatnonzero(live)[i]
            rounded[i] = _exact_annuity(b, j, int(m[j]))
        out[live] = rounded
    return out


def _exact_annuity(b: _Batch, j: int, periods: int) -> float:
    mode = Rounding(b.mode).decimal_mode
    with localcontext(Context(prec=34)):
        rate = Decimal(int(b.micro[j])).scaleb(-6) / Decimal(100 * int(b.ppy[j]))
        balance = Decimal(int(b.units[j])).scaleb(-int(b.decimals[j]))
        raw = annuity_payment(balance, rate, periods)
        return float(raw.scaleb(int(b.decimals[j])).to_integral_value(rounding=mode))


def _flat_interest(b: _Batch, periods: Array | int = 1) -> Array:
    return _rdiv(b.units.astype(np.int64) * b.rn_int * periods, b.den_int, b.mode)


def _levels(b: _Batch) -> tuple[Array, Array]:
    """(the level installment, NaN for equal principal; the amount each installment repays:
    the level, from which the period's interest is taken, or equal principal's fixed part)."""
    m = (b.term - b.gp).astype(np.float64)
    level = np.full(b.units.shape, np.nan)
    annuity, flat = b.kind == _ANNUITY, b.kind == _FLAT
    if annuity.any():
        level[annuity] = _annuity(b.take(annuity), m[annuity])
    if flat.any():
        f = b.take(flat)
        level[flat] = _rdiv(f.units + _flat_interest(f) * m[flat], m[flat], b.mode)
    rounded = (b.multiple > 0) & (b.kind != _EQUAL_PRINCIPAL)
    if rounded.any():
        mult = b.multiple[rounded]
        level[rounded] = _rdiv(level[rounded], mult, b.mode) * mult
    step = level.copy()
    ep = b.kind == _EQUAL_PRINCIPAL
    if ep.any():
        step[ep] = _rdiv(b.units[ep], m[ep], b.mode)
    return level, step


# ---------------------------------------------------------------- the period loop


def _block(
    b: _Batch, step: Array, rows: tuple[Array, Array] | None, largest: Array, total_interest: Array
) -> None:
    """One block of loans, period by period, as the exact engine's loop (see _build there)."""
    size, mode = b.units.size, b.mode
    n_max = int(b.term.max())
    bal = b.units.copy()
    rn, den, fixed_part = b.rn, b.den, b.kind == _EQUAL_PRINCIPAL
    flat = b.kind == _FLAT
    any_flat, all_flat, any_fixed = bool(flat.any()), bool(flat.all()), bool(fixed_part.any())
    max_gp, max_gi, max_free = int(b.gp.max()), int(b.gi.max()), int(b.free.max())
    same_term = int(b.term.min()) == n_max
    if not same_term:  # the loans whose last installment is k, for each k
        by_term = np.argsort(b.term, kind="stable")
        bounds = np.searchsorted(b.term[by_term], np.arange(n_max + 2))
    if any_flat:
        f = b.take(flat)
        flat_interest = np.zeros(size)
        flat_total = np.zeros(size)
        flat_interest[flat] = _flat_interest(f)
        flat_total[flat] = _flat_interest(f, f.term - f.free)
        accrued_total = np.zeros(size)
    deferred = np.zeros(size) if max_gi else None
    # float64 quotients are exact below 2**52; beyond, the interest takes the int64 path
    in_float = size and float(b.units.max()) * float(rn.max()) < _FLOAT_EXACT
    scratch_a, scratch_i, scratch_p = np.empty(size), np.empty(size), np.empty(size)
    for k in range(1, n_max + 1):
        deferring = k <= max_gi + 1 and max_gi > 0
        interest = rows[1][k - 1] if rows else scratch_i
        accrued = scratch_a if deferring else interest
        part = rows[0][k - 1] if rows else scratch_p
        if same_term:  # the loans whose last installment this is
            last = slice(None) if k == n_max else None
        else:
            last = by_term[bounds[k] : bounds[k + 1]]
        # interest the period accrues
        if all_flat:
            pass
        elif in_float:
            np.multiply(bal, rn, out=accrued)
            _round(np.divide(accrued, den, out=accrued), mode)
        else:
            accrued[:] = _rdiv(bal.astype(np.int64) * b.rn_int, b.den_int, mode)
        if any_flat:  # the flat interest, never past the total; the last takes what is left
            left = flat_total - accrued_total
            due = np.minimum(left, flat_interest)
            if last is not None:
                due[last] = left[last]
            np.copyto(accrued, due, where=flat)
        if k <= max_free:
            accrued[b.free >= k] = 0
        if any_flat:
            accrued_total += accrued
        # interest shown: none during interest grace, then all it deferred at once
        if deferring:
            np.copyto(interest, accrued)
            held = b.gi >= k
            deferred[held] += accrued[held]
            interest[held] = 0
            paying = b.gi == k - 1
            interest[paying] += deferred[paying]
        # principal: the level less the period's interest (or equal principal's part), kept
        # within [0, balance]; none during principal grace; the last clears the balance
        np.subtract(step, accrued, out=part)
        if any_fixed:
            np.copyto(part, step, where=fixed_part)
        np.maximum(part, 0, out=part)
        np.minimum(part, bal, out=part)
        if k <= max_gp:
            part[b.gp >= k] = 0
        if last is not None:
            part[last] = bal[last]
        bal -= part
        if not rows:
            np.maximum(largest, part + interest, out=largest)
            total_interest += interest


def _run(b: _Batch, want_rows: bool) -> tuple[Array, Array, Array, Array | None, Array | None]:
    """(level, largest, total interest, principal rows, interest rows), rows as (term, loans)."""
    _check_exact(b)
    level, step = _levels(b)
    size = b.units.size
    order = None
    if size and (np.ptp(b.term) or np.ptp(b.kind)):  # group alike loans into the same blocks
        order = np.lexsort((b.term, b.kind))
        b, step = b.take(order), step[order]
    n_max = int(b.term.max()) if size else 0
    rows = (np.zeros((n_max, size)), np.zeros((n_max, size))) if want_rows else None
    largest, total_interest = np.zeros(size), np.zeros(size)
    for lo in range(0, size, _CHUNK):
        sl = slice(lo, min(size, lo + _CHUNK))
        block_rows = (rows[0][:, sl], rows[1][:, sl]) if rows else None
        _block(b.take(sl), step[sl], block_rows, largest[sl], total_interest[sl])
    if rows:
        total = rows[0] + rows[1]
        largest, total_interest = total.max(axis=0), rows[1].sum(axis=0)
    if order is not None:
        back = np.empty_like(order)
        back[order] = np.arange(size)
        largest, total_interest = largest[back], total_interest[back]
        if rows:
            rows = (rows[0][:, back], rows[1][:, back])
    return level, largest, total_interest, *(rows or (None, None))


# ---------------------------------------------------------------- the public functions


def _amounts(x: Array, b: _Batch, units: bool) -> Array:
    return (x if units else x / b.scale).reshape(b.shape)


def _rows(x: Array, b: _Batch, units: bool) -> Array:
    out = x if units else x / b.scale
    return out.T.reshape((*b.shape, x.shape[0]))


def schedules(
    principal,
    annual_rate_percent,
    term,
    periods_per_year=12,
    grace_principal_periods=0,
    installment_multiple=None,
    *,
    grace_interest_periods=0,
    interest_free_periods=0,
    interest_method="declining_balance",
    amortization="equal_installments",
    decimals=2,
    rounding="half_even",
    units: bool = False,
) -> BulkSchedules:
    """Every installment of every loan. Arguments broadcast together (arrays or scalars);
    amounts are in currency units (5000.0, 12.5 %) unless `units`, where results are minor units.
    `principal`, `interest` and `total` have shape (*loans, the longest term), zero-padded."""
    b = _batch(
        principal,
        annual_rate_percent,
        term,
        periods_per_year,
        grace_principal_periods,
        grace_interest_periods,
        interest_free_periods,
        installment_multiple,
        interest_method,
        amortization,
        decimals,
        rounding,
    )
    level, largest, total_interest, principal_rows, interest_rows = _run(b, want_rows=True)
    return BulkSchedules(
        level_installment=_amounts(level, b, units),
        largest_installment=_amounts(largest, b, units),
        total_interest=_amounts(total_interest, b, units),
        principal=_rows(principal_rows, b, units),
        interest=_rows(interest_rows, b, units),
        total=_rows(principal_rows + interest_rows, b, units),
    )


def schedule_summary(
    principal,
    annual_rate_percent,
    term,
    periods_per_year=12,
    grace_principal_periods=0,
    installment_multiple=None,
    *,
    grace_interest_periods=0,
    interest_free_periods=0,
    interest_method="declining_balance",
    amortization="equal_installments",
    decimals=2,
    rounding="half_even",
    units: bool = False,
) -> BulkSummary:
    """Per loan: the level installment, the largest installment and the total interest, without
    keeping the installments (the memory of a few arrays per block of loans)."""
    b = _batch(
        principal,
        annual_rate_percent,
        term,
        periods_per_year,
        grace_principal_periods,
        grace_interest_periods,
        interest_free_periods,
        installment_multiple,
        interest_method,
        amortization,
        decimals,
        rounding,
    )
    level, largest, total_interest, _, _ = _run(b, want_rows=False)
    return BulkSummary(
        level_installment=_amounts(level, b, units),
        largest_installment=_amounts(largest, b, units),
        total_interest=_amounts(total_interest, b, units),
    )


def level_installments(
    principal,
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
    units: bool = False,
) -> Array:
    """The level installment of each loan (the exact engine's `installment_amount`), in closed
    form: no period loop. NaN for equal principal, which has no level installment."""
    b = _batch(
        principal,
        annual_rate_percent,
        term,
        periods_per_year,
        grace_principal_periods,
        0,
        0,
        installment_multiple,
        interest_method,
        amortization,
        decimals,
        rounding,
    )
    _check_exact(b)
    return _amounts(_levels(b)[0], b, units)


def _first_installment(b: _Batch) -> Array:
    """The first installment that repays principal, in units: the level, or for equal principal
    its fixed part plus the interest on the whole principal."""
    level, step = _levels(b)
    fixed = b.kind == _EQUAL_PRINCIPAL
    if fixed.any():
        level[fixed] = step[fixed] + _flat_interest(b.take(fixed))
    return level


def _slope(b: _Batch) -> Array:
    """First installment per unit of principal (float; only to aim the search)."""
    r = b.rn / b.den
    m = (b.term - b.gp).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        annuity = np.where(r > 0, r / -np.expm1(-m * np.log1p(r)), 1 / m)
    return np.where(b.kind == _ANNUITY, annuity, 1 / m + r)


def _edge(fits: Callable[[Array, Array], Array], lo: Array, hi: Array, width: Array) -> None:
    """Move lo (fits, or 0) and hi (does not fit) in place until hi = lo + 1, for a monotone
    predicate fits(j, idx); every loop is bounded."""
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
    """The largest principal, a multiple of `step` (default: the minor unit), whose first
    installment repaying principal (the level installment; for equal principal its first
    one) is at most `installment`; 0 when none is.

    With `largest=True` every installment must fit: the last one, which clears the rounding
    residue, can exceed the level (by up to the multiple's rounding times the term), so the
    level's answer is lowered to an edge where the largest installment fits and the next step
    does not (the largest such principal whenever the largest installment grows with the
    principal, which only coarse multiples break).
    """
    b = _batch(
        None,
        annual_rate_percent,
        term,
        periods_per_year,
        grace_principal_periods,
        0,
        0,
        installment_multiple,
        interest_method,
        amortization,
        decimals,
        rounding,
        extra=(installment, 0.0 if step is None else step),
    )
    b, cap_x, grid = b
    size = b.units.size
    cap_x = cap_x * b.scale
    if not np.all(np.isfinite(cap_x)):
        raise ValueError("installment must be finite")
    near = np.rint(cap_x)
    cap = np.where(np.abs(cap_x - near) < 1e-6, near, np.floor(cap_x))
    grid = np.ones(size) if step is None else _in_units(grid, b.scale, "step", positive=True)

    def level_fits(j: Array, idx: Array) -> Array:
        sub = b.take(idx, j * grid[idx])
        _check_exact(sub)
        return _first_installment(sub) <= cap[idx]

    # aim at the top of the rounding plateau of the largest level within the cap
    plateau = (b.multiple > 0) & (b.kind != _EQUAL_PRINCIPAL)
    mult = np.where(plateau, b.multiple, 1.0)
    target = np.where(plateau, (np.floor(cap / mult) + 0.5) * mult, cap + 0.5)
    aim = np.floor(np.maximum(target, 0) / _slope(b) / grid)
    lo = np.maximum(aim - 2, 0).astype(np.int64)
    hi = (aim + 2 + np.ceil(aim * 1e-9)).astype(np.int64)
    lo[cap < 0], hi[cap < 0] = 0, 1
    _edge(level_fits, lo, hi, np.full(size, 4, dtype=np.int64))

    if largest:

        def all_fit(j: Array, idx: Array) -> Array:
            sub = b.take(idx, j * grid[idx])
            return _run(sub, want_rows=False)[1] <= cap[idx]

        hi = lo + 1
        idx = np.flatnonzero(lo > 0)
        # the last installment moves by about (1 + r)^m per unit of principal: a few Newton
        # steps down, then an edge search between what fits and what does not
        growth = np.exp((b.term - b.gp) * np.log1p(b.rn / b.den))
        for _ in range(8):
            if not idx.size:
                break
            excess = _run(b.take(idx, lo[idx] * grid[idx]), want_rows=False)[1] - cap[idx]
            over = excess > 0
            idx, excess = idx[over], excess[over]
            down = np.maximum(1, np.ceil(excess / (growth[idx] * grid[idx]))).astype(np.int64)
            hi[idx] = lo[idx]
            lo[idx] = np.maximum(lo[idx] - down, 0)
            idx = idx[lo[idx] > 0]
        lo[idx] = 0  # still over after the Newton steps: let the edge search start from nothing
        moved = np.flatnonzero(hi - lo > 1)
        if moved.size:
            lo_m, hi_m = lo[moved], hi[moved]
            _edge(lambda j, i: all_fit(j, moved[i]), lo_m, hi_m, np.full(moved.size, 4, dtype=np.int64))
            lo[moved] = lo_m

    return _amounts(lo * grid, b, units)
