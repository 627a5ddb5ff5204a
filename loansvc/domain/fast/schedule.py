"""Vectorised repayment schedules: the exact engine's rules over arrays of loans (numpy).

For what-if work over many loans at once (programme coverage: households x scenarios x house
models). Nothing computed here reaches a contract, a ledger or a figure shown for one family:
those come from the exact Decimal engine, `loansvc.domain.schedule`, which stays the authority.
This path agrees with it within one minor unit per installment (property-tested in
tests/domain/test_fast_schedule.py) on the terms it covers: per_period interest, declining
balance (equal installments or equal principal) or flat, principal grace, interest grace,
interest-free periods, an installment multiple, half-even or half-up rounding. Fees, tranches,
dates and daily interest are the exact engine's alone.

Why it is exact rather than merely close:
- amounts are integer-valued float64 minor units, so every sum and difference is exact;
- a per-period rate is the integer fraction rn / den (the annual percent, at most 6 decimals,
  over 100 x periods per year, reduced by a common divisor), and a period's interest is the
  quotient balance x rn / den rounded by np.rint (half-even) or by its fraction (half-up).
  While balance x rn < 2**52 that is the exactly rounded quotient: a quotient that is not a
  tie lies at least 1/(2 den) from one, more than half a float64 ulp. Beyond, int64 divmod;
- the annuity factor of the level installment is the one float step: when its raw value falls
  within 1e-13 (relative) of a rounding tie, it is recomputed with the exact engine's formula.

Loans are processed in blocks of a few thousand, so the working arrays stay in the CPU cache.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
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

Array = np.ndarray

_FLOAT_EXACT = 2.0**52 * (1 - 1e-9)  # below it, float64 interest quotients round exactly
_INT_LIMIT = 2.0**62  # int64 products must stay below it
_RATE_SCALE = 10**6  # annual rates in percent carry at most 6 decimals
_BLOCK = 16384  # loans per block: a block's working arrays stay in cache
_TIE = 1e-13  # relative distance to a tie below which the level is recomputed exactly
_MAX_ITERATIONS = 200

_ANNUITY, _EQUAL_PRINCIPAL, _FLAT = 0, 1, 2  # loan kinds


@dataclass(frozen=True)
class BulkSummary:
    """Per loan, in currency units (or integer-valued minor units with `units=True`)."""

    level_installment: Array  # NaN for equal principal, as the exact engine's None
    largest_installment: Array
    total_interest: Array


@dataclass(frozen=True)
class BulkSchedules(BulkSummary):
    """Each installment's parts, padded with zeros after a loan's last installment: shape
    (*loans, the longest term)."""

    principal: Array
    interest: Array
    total: Array


# ---------------------------------------------------------------- rounding exact quotients


def _round(x: Array, mode: str) -> Array:
    """x rounded to an integer with `mode`, in place (x: a float array)."""
    if mode == "half_even":
        return np.rint(x, out=x)
    whole = np.floor(x)
    x -= whole  # exact: the fraction of a float is representable
    return np.add(whole, x >= 0.5, out=x)


def _rdiv(num: Array, den: Array | int, mode: str) -> Array:
    """num / den (num >= 0, den >= 1) rounded with `mode`, exactly, on int64."""
    num = np.asarray(num).astype(np.int64)
    den = np.asarray(den).astype(np.int64)
    q, r = np.divmod(num, den)
    twice = 2 * r
    up = (twice > den) | ((twice == den) & ((q % 2 == 1) if mode == "half_even" else True))
    return (q + up).astype(np.float64)


# ---------------------------------------------------------------- the terms, block by block


@dataclass(frozen=True)
class _Batch:
    """One block of loans, every field an array of the block's length."""

    mode: str
    units: Array  # principal in minor units (integer-valued float64)
    scale: Array  # 10 ** decimals
    decimals: Array
    micro: Array  # annual percent x 10**6 (int64): the exact rate
    ppy: Array
    rn: Array  # per-period rate = rn / den, integer-valued float64
    den: Array
    rn_int: Array  # the same as int64
    den_int: Array
    term: Array
    gp: Array
    gi: Array
    free: Array
    multiple: Array  # minor units; 0 for none
    kind: Array

    def take(self, idx, units: Array | None = None) -> _Batch:
        fields = {name: getattr(self, name)[idx] for name in _BATCH_FIELDS}
        if units is not None:
            fields["units"] = np.asarray(units, dtype=np.float64)
        return replace(self, **fields)


_BATCH_FIELDS = tuple(name for name in _Batch.__dataclass_fields__ if name != "mode")


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


def _whole(values: Array, name: str, low: int) -> Array:
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.rint(arr)):
            raise ValueError(f"{name} must be whole numbers")
    elif arr.dtype.kind not in "iub":
        raise ValueError(f"{name} must be whole numbers")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < low:
        raise ValueError(f"{name} must be >= {low}")
    return arr


def _in_units(values: Array, scale: Array | float, name: str, *, positive: bool) -> Array:
    """Amounts in currency units as integer-valued minor units; refuses what is not."""
    x = np.multiply(values, scale, dtype=np.float64)
    units = np.rint(x)
    if x.size:
        spread = np.abs(x - units).max()
        top = np.abs(x).max()
        if not np.isfinite(spread + top) or spread > 1e-9 * max(1.0, top):
            raise ValueError(f"{name} must be finite amounts in the currency's minor unit")
        if units.min() <= 0 if positive else units.min() < 0:
            raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'}")
    return units


def _micro(rate: Array) -> Array:
    x = np.multiply(rate, _RATE_SCALE, dtype=np.float64)
    micro = np.rint(x)
    if x.size:
        if not np.isfinite(x.max()) or np.isnan(x.min()) or x.min() < 0:
            raise ValueError("annual_rate_percent must be finite and >= 0")
        if np.abs(x - micro).max() > 1e-9 * max(1.0, float(micro.max())):
            raise ValueError("annual_rate_percent must have at most 6 decimals")
    return micro.astype(np.int64)


class _Terms:
    """The terms as given, broadcast together. A field given once for all loans is converted
    and checked once; a field given per loan is converted and checked block by block."""

    def __init__(self, principal, rate, term, ppy, gp, gi, free, multiple, method, amortization,
                 decimals, rounding, extra=()):  # fmt: skip
        self.mode = _mode(rounding)
        flat = _choice(method, {"declining_balance": 0, "flat": 1}, "interest_method")
        ep = _choice(amortization, {"equal_installments": 0, "equal_principal": 1}, "amortization")
        kind = np.where(flat == 1, _FLAT, np.where(ep == 1, _EQUAL_PRINCIPAL, _ANNUITY)).astype(np.int8)
        self.has_principal = principal is not None
        raw = {
            "principal": np.asarray(0.0 if principal is None else principal, dtype=np.float64),
            "rate": np.asarray(rate, dtype=np.float64),
            "term": np.asarray(term),
            "ppy": np.asarray(ppy),
            "gp": np.asarray(gp),
            "gi": np.asarray(gi),
            "free": np.asarray(free),
            "multiple": np.nan_to_num(np.asarray(0.0 if multiple is None else multiple, dtype=np.float64)),
            "kind": kind,
            "decimals": np.asarray(decimals),
        }
        extras = [np.asarray(x, dtype=np.float64) for x in extra]
        self.shape = np.broadcast_shapes(*(a.shape for a in raw.values()), *(e.shape for e in extras))
        self.size = math.prod(self.shape)
        self.extra = [np.ascontiguousarray(np.broadcast_to(e, self.shape)).reshape(-1) for e in extras]
        self.per_loan = {
            name: np.ascontiguousarray(np.broadcast_to(a, self.shape)).reshape(-1)
            for name, a in raw.items()
            if a.size != 1
        }
        once = {name: a.reshape(()) for name, a in raw.items() if a.size == 1}
        # amounts given once wait for the block's scale when the decimals are given per loan
        self.late = {} if "decimals" in once else {k: once.pop(k) for k in ("principal", "multiple") if k in once}
        self.once = self._convert(once)
        self.max_term = int(np.max(raw["term"])) if self.size else 0
        self.order = None
        if self.size and ("term" in self.per_loan or "kind" in self.per_loan):
            terms, kinds = (
                np.broadcast_to(self.per_loan[name] if name in self.per_loan else raw[name], (self.size,))
                for name in ("term", "kind")
            )
            if np.ptp(terms) or np.ptp(kinds):  # group alike loans into the same blocks
                self.order = np.lexsort((terms, kinds))

    def _convert(self, fields: dict[str, Array], scale: Array | None = None) -> dict[str, Array]:
        """Checked, in the units the kernel works in (ValueError naming the field otherwise)."""
        out: dict[str, Array] = {}
        if "decimals" in fields:
            out["decimals"] = _whole(fields["decimals"], "decimals", 0)
            if out["decimals"].size and out["decimals"].max() > 6:
                raise ValueError("decimals must be from 0 to 6")
            scale = out["scale"] = 10.0 ** out["decimals"]
        for name, low in (("term", 1), ("ppy", 1), ("gp", 0), ("gi", 0), ("free", 0)):
            if name in fields:
                out[name] = _whole(fields[name], _NAMES[name], low)
        if "kind" in fields:
            out["kind"] = fields["kind"]
        if "rate" in fields:
            out["micro"] = _micro(fields["rate"])
        if "principal" in fields:
            out["units"] = _in_units(fields["principal"], scale, "principal", positive=self.has_principal)
        if "multiple" in fields:
            out["multiple"] = _in_units(fields["multiple"], scale, "installment_multiple", positive=False)
        return out

    def blocks(self) -> Iterator[tuple[slice | Array, _Batch]]:
        """(the loans' flat positions, their batch), block by block."""
        for lo in range(0, self.size, _BLOCK):
            idx = slice(lo, min(self.size, lo + _BLOCK))
            yield (idx if self.order is None else self.order[idx]), self.batch(idx)

    def batch(self, idx: slice) -> _Batch:
        """The loans at idx (positions in the grouped order), converted and checked."""
        pos = idx if self.order is None else self.order[idx]
        given = {name: a[pos] for name, a in self.per_loan.items()}
        fields = self.once | self._convert(given | self.late, self.once.get("scale"))
        n = len(range(self.size)[idx])
        f = {name: np.broadcast_to(v, (n,)) for name, v in fields.items()}
        term, gp, gi, free = f["term"], f["gp"], f["gi"], f["free"]
        if np.any(gp >= term) or np.any(gi >= term) or np.any(free > term):
            raise ValueError(
                "grace must leave an installment to repay, and free periods cannot exceed the term"
            )
        # one common divisor of the block's rates keeps the numbers small
        den = 100 * _RATE_SCALE * f["ppy"]
        g = np.gcd(np.gcd.reduce(f["micro"]), np.gcd.reduce(den)) if n else 1
        rn_int, den_int = f["micro"] // g, den // g
        return _Batch(
            mode=self.mode,
            units=f["units"],
            scale=f["scale"],
            decimals=f["decimals"],
            micro=f["micro"],
            ppy=f["ppy"],
            rn=rn_int.astype(np.float64),
            den=den_int.astype(np.float64),
            rn_int=rn_int,
            den_int=den_int,
            term=term,
            gp=gp,
            gi=gi,
            free=free,
            multiple=f["multiple"],
            kind=f["kind"],
        )


_NAMES = {
    "term": "term",
    "ppy": "periods_per_year",
    "gp": "grace_principal_periods",
    "gi": "grace_interest_periods",
    "free": "interest_free_periods",
}


def _check_exact(b: _Batch) -> None:
    spread = np.where(b.kind == _FLAT, np.maximum(b.term - b.free, 1), 1)
    if b.units.size and np.max(b.units * b.rn * spread) >= _INT_LIMIT:
        raise ValueError("principal x rate is too large for the bulk path to stay exact; use the exact engine")


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
    if not level.size:
        return level, level
    annuity, flat = b.kind == _ANNUITY, b.kind == _FLAT
    if annuity.all():
        level = _annuity(b, m)
    elif annuity.any():
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
    b: _Batch,
    step: Array,
    largest: Array,
    total_interest: Array,
    rows: tuple[Array, Array, Array] | None = None,
    to_currency: bool = False,
) -> None:
    """One block of loans, period by period, as the exact engine's loop (`_build` there): the
    largest installment and the total interest, and with `rows` each installment's principal,
    interest and total (in currency units when `to_currency`, else minor units)."""
    size, mode = b.units.size, b.mode
    if not size:
        return
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
    scratch_a, scratch_i, scratch_p, scratch_t = (np.empty(size) for _ in range(4))
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
        total = rows[2][k - 1] if rows else scratch_t
        np.add(part, interest, out=total)
        np.maximum(largest, total, out=largest)
        total_interest += interest
        if rows and to_currency:
            for row in (part, interest, total):
                row /= b.scale




def _compute(t: _Terms, want_rows: bool, units: bool) -> BulkSchedules | BulkSummary:
    size, n_max = t.size, t.max_term
    level, largest, total_interest = np.empty(size), np.empty(size), np.empty(size)
    rows = tuple(np.zeros((n_max, size)) for _ in range(3)) if want_rows else None
    for pos, b in t.blocks():
        _check_exact(b)
        block_level, step = _levels(b)
        n = b.units.size
        block_largest, block_interest = np.zeros(n), np.zeros(n)
        if rows and isinstance(pos, slice):  # written in place
            _block(b, step, block_largest, block_interest, tuple(r[:, pos] for r in rows), not units)
        elif rows:  # grouped out of order: scattered back
            block_rows = tuple(np.zeros((int(b.term.max()), n)) for _ in range(3))
            _block(b, step, block_largest, block_interest, block_rows, not units)
            for whole, part in zip(rows, block_rows, strict=True):
                whole[: part.shape[0], pos] = part
        else:
            _block(b, step, block_largest, block_interest)
        for out, value in ((level, block_level), (largest, block_largest), (total_interest, block_interest)):
            out[pos] = value if units else value / b.scale

    def shaped(x: Array) -> Array:
        return x.reshape(t.shape)

    summary = {
        "level_installment": shaped(level),
        "largest_installment": shaped(largest),
        "total_interest": shaped(total_interest),
    }
    if rows is None:
        return BulkSummary(**summary)
    principal, interest, total = (r.T.reshape((*t.shape, n_max)) for r in rows)
    return BulkSchedules(**summary, principal=principal, interest=interest, total=total)


def _terms(principal, annual_rate_percent, term, periods_per_year, grace_principal_periods,
           installment_multiple, grace_interest_periods, interest_free_periods, interest_method,
           amortization, decimals, rounding, extra=()) -> _Terms:  # fmt: skip
    return _Terms(
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
        extra,
    )


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
    amounts are in currency units (5000.0 at 12.5 %/year), results too unless `units`, where
    they are integer-valued minor units. `principal`, `interest` and `total` have the shape
    (*loans, the longest term), zero after a loan's last installment."""
    t = _terms(principal, annual_rate_percent, term, periods_per_year, grace_principal_periods,
               installment_multiple, grace_interest_periods, interest_free_periods, interest_method,
               amortization, decimals, rounding)  # fmt: skip
    return _compute(t, want_rows=True, units=units)  # type: ignore[return-value]


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
    keeping the installments (memory: a few arrays per block of loans)."""
    t = _terms(principal, annual_rate_percent, term, periods_per_year, grace_principal_periods,
               installment_multiple, grace_interest_periods, interest_free_periods, interest_method,
               amortization, decimals, rounding)  # fmt: skip
    return _compute(t, want_rows=False, units=units)


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
    """The level installment of each loan (the exact engine's `installment_amount`) in closed
    form, without the period loop; NaN for equal principal, which has none."""
    t = _terms(principal, annual_rate_percent, term, periods_per_year, grace_principal_periods,
               installment_multiple, 0, 0, interest_method, amortization, decimals, rounding)  # fmt: skip
    out = np.empty(t.size)
    for pos, b in t.blocks():
        _check_exact(b)
        level = _levels(b)[0]
        out[pos] = level if units else level / b.scale
    return out.reshape(t.shape)


# ---------------------------------------------------------------- the largest loan for an installment


def _first_installment(b: _Batch) -> Array:
    """The installment the search caps, in units: the level installment, or for equal principal
    its fixed part plus the interest on the whole principal (its first installment after grace)."""
    level, step = _levels(b)
    fixed = b.kind == _EQUAL_PRINCIPAL
    if fixed.any():
        level[fixed] = step[fixed] + _flat_interest(b.take(fixed))
    return level


def _peak(b: _Batch) -> Array:
    """The largest installment of each loan, in units."""
    _check_exact(b)
    largest = np.zeros(b.units.size)
    _block(b, _levels(b)[1], largest, np.zeros(b.units.size))
    return largest


def _slope(b: _Batch) -> Array:
    """First installment per unit of principal (float; it only aims the search)."""
    r = b.rn / b.den
    m = (b.term - b.gp).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        annuity = np.where(r > 0, r / -np.expm1(-m * np.log1p(r)), 1 / m)
    return np.where(b.kind == _ANNUITY, annuity, 1 / m + r)


def _edge(fits: Callable[[Array, Array], Array], lo: Array, hi: Array) -> None:
    """Move lo (fits, or is 0) and hi (does not fit) in place until hi = lo + 1, for a
    predicate fits(j, idx) that is monotone in j; every loop is bounded."""
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


def _search(b: _Batch, cap: Array, grid: Array, largest: bool) -> Array:
    """The largest multiple j of grid (in units) whose installment fits under cap, per loan."""

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
    t = _terms(None, annual_rate_percent, term, periods_per_year, grace_principal_periods,
               installment_multiple, 0, 0, interest_method, amortization, decimals, rounding,
               extra=(installment, 1.0 if step is None else step))  # fmt: skip
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
            grid = _in_units(step_given[pos], b.scale, "step", positive=True)
        found = _search(b, cap, grid, largest) * grid
        out[pos] = found if units else found / b.scale
    return out.reshape(t.shape)
