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
_BLOCK = 8192  # loans per block: a block's working arrays stay in cache
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
        self.once = self._convert({name: a.reshape(()) for name, a in raw.items() if a.size == 1})
        self.max_term = int(np.max(raw["term"])) if self.size else 0
        self.order = None
        if self.size and ("term" in self.per_loan or "kind" in self.per_loan):
            terms, kinds = (self.per_loan.get(name, raw[name].reshape(())) for name in ("term", "kind"))
            if np.ptp(terms) or np.ptp(kinds):  # group alike loans into the same blocks
                self.order = np.lexsort((np.broadcast_to(terms, (self.size,)), np.broadcast_to(kinds, (self.size,))))

    def _convert(self, fields: dict[str, Array], scale: Array | None = None) -> dict[str, Array]:
        out = dict(fields)
        if "decimals" in fields:
            out["decimals"] = _whole(fields["decimals"], "decimals", 0)
            if out["decimals"].size and out["decimals"].max() > 6:
                raise ValueError("decimals must be from 0 to 6")
            out["scale"] = 10.0 ** out["decimals"]
        scale = out.get("scale", scale)
        for name, low in (("term", 1), ("ppy", 1), ("gp", 0), ("gi", 0), ("free", 0)):
            if name in fields:
                out[name] = _whole(fields[name], name, low)
        if "rate" in fields:
            out["micro"] = _micro(fields.pop("rate"))
            del out["rate"]
        if scale is not None:
            if "principal" in fields:
                units = _in_units(fields["principal"], scale, "principal", positive=self.has_principal)
                out["units"] = units
                del out["principal"]
            if "multiple" in fields:
                out["multiple"] = _in_units(fields["multiple"], scale, "installment_multiple", positive=False)
        return out

    def blocks(self) -> Iterator[tuple[slice | Array, _Batch]]:
        for lo in range(0, self.size, _BLOCK):
            idx = slice(lo, min(self.size, lo + _BLOCK))
            yield (idx if self.order is None else self.order[idx]), self.batch(idx)

    def batch(self, idx: slice) -> _Batch:
        """The loans at idx (positions in the grouped order), converted and checked."""
        pos = idx if self.order is None else self.order[idx]
        given = {name: a[pos] for name, a in self.per_loan.items()}
        fields = self.once | self._convert(given, self.once.get("scale"))
        if "units" not in fields or "multiple" in given or "scale" in given:  # scale given per loan
            late = {name: (self.per_loan.get(name) if name in given else None) for name in ()}
            del late
            raw_scalars = {}
            if "units" not in fields:
                raw_scalars["principal"] = self._raw_scalar("principal")
            if "multiple" not in given and "scale" in given:
                raw_scalars["multiple"] = self._raw_scalar("multiple")
            fields |= self._convert(raw_scalars, fields["scale"])
        n = len(next(iter(given.values()))) if given else len(range(self.size)[idx])
        f = {name: np.broadcast_to(v, (n,)) for name, v in fields.items()}
        term, gp, gi, free = f["term"], f["gp"], f["gi"], f["free"]
        if np.any(gp >= term) or np.any(gi >= term) or np.any(free > term):
            raise ValueError("grace must leave an installment to repay, and free periods cannot exceed the term")
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

    def _raw_scalar(self, name: str) -> Array:
        raise NotImplementedError
