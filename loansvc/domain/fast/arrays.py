"""Loan terms as numpy arrays for the bulk path, and exact rounding of integer quotients.

Internal to `loansvc.domain.fast`: arguments broadcast together, are checked (ValueError for what
the exact engine would refuse, or what could not be computed exactly) and are converted, block by
block, to integer-valued minor units and exact per-period rate fractions rn / den.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from loansvc.domain.money import Rounding

Array = np.ndarray

FLOAT_EXACT = 2.0**52 * (1 - 1e-9)  # below it, float64 interest quotients round exactly
_INT_LIMIT = 2.0**62  # int64 products must stay below it
_RATE_SCALE = 10**6  # annual rates in percent carry at most 6 decimals
BLOCK = 16384  # loans per block: a block's working arrays stay in cache

ANNUITY, EQUAL_PRINCIPAL, FLAT = 0, 1, 2  # loan kinds


# ---------------------------------------------------------------- rounding exact quotients


def round_in_place(x: Array, mode: str) -> Array:
    """x rounded to an integer with `mode`, in place (x: a float array)."""
    if mode == "half_even":
        return np.rint(x, out=x)
    whole = np.floor(x)
    x -= whole  # exact: the fraction of a float is representable
    return np.add(whole, x >= 0.5, out=x)


def rdiv(num: Array, den: Array | int, mode: str) -> Array:
    """num / den (num >= 0, den >= 1) rounded with `mode`, exactly, on int64."""
    num = np.asarray(num).astype(np.int64)
    den = np.asarray(den).astype(np.int64)
    q, r = np.divmod(num, den)
    twice = 2 * r
    up = (twice > den) | ((twice == den) & ((q % 2 == 1) if mode == "half_even" else True))
    return (q + up).astype(np.float64)


# ---------------------------------------------------------------- the terms, block by block


@dataclass(frozen=True)
class Batch:
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

    def take(self, idx, units: Array | None = None) -> Batch:
        fields = {name: getattr(self, name)[idx] for name in _BATCH_FIELDS}
        if units is not None:
            fields["units"] = np.asarray(units, dtype=np.float64)
        return replace(self, **fields)


_BATCH_FIELDS = tuple(name for name in Batch.__dataclass_fields__ if name != "mode")


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


def in_units(values: Array, scale: Array | float, name: str, *, positive: bool) -> Array:
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


class Terms:
    """The terms as given, broadcast together. A field given once for all loans is converted
    and checked once; a field given per loan is converted and checked block by block."""

    def __init__(
        self,
        principal,
        rate,
        term,
        ppy,
        gp,
        gi,
        free,
        multiple,
        method,
        amortization,
        decimals,
        rounding,
        extra=(),
    ):
        self.mode = _mode(rounding)
        flat = _choice(method, {"declining_balance": 0, "flat": 1}, "interest_method")
        ep = _choice(amortization, {"equal_installments": 0, "equal_principal": 1}, "amortization")
        kind = np.where(flat == 1, FLAT, np.where(ep == 1, EQUAL_PRINCIPAL, ANNUITY)).astype(np.int8)
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
        self.late = (
            {} if "decimals" in once else {k: once.pop(k) for k in ("principal", "multiple") if k in once}
        )
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
            out["units"] = in_units(fields["principal"], scale, "principal", positive=self.has_principal)
        if "multiple" in fields:
            out["multiple"] = in_units(fields["multiple"], scale, "installment_multiple", positive=False)
        return out

    def blocks(self) -> Iterator[tuple[slice | Array, Batch]]:
        """(the loans' flat positions, their batch), block by block."""
        for lo in range(0, self.size, BLOCK):
            idx = slice(lo, min(self.size, lo + BLOCK))
            yield (idx if self.order is None else self.order[idx]), self.batch(idx)

    def batch(self, idx: slice) -> Batch:
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
        return Batch(
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


def check_exact(b: Batch) -> None:
    spread = np.where(b.kind == FLAT, np.maximum(b.term - b.free, 1), 1)
    if b.units.size and np.max(b.units * b.rn * spread) >= _INT_LIMIT:
        raise ValueError(
            "principal x rate is too large for the bulk path to stay exact; use the exact engine"
        )
