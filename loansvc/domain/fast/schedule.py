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

from dataclasses import dataclass
from decimal import Context, Decimal, localcontext

import numpy as np

from loansvc.domain.fast.arrays import (
    ANNUITY,
    EQUAL_PRINCIPAL,
    FLAT,
    FLOAT_EXACT,
    Array,
    Batch,
    Terms,
    check_exact,
    rdiv,
    round_in_place,
)
from loansvc.domain.money import Rounding
from loansvc.domain.schedule import annuity_payment

__all__ = [
    "BulkSchedules",
    "BulkSummary",
    "level_installments",
    "schedule_summary",
    "schedules",
]

_TIE = 1e-13  # relative distance to a tie below which the level is recomputed exactly


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


# ---------------------------------------------------------------- the level installment


def _annuity(b: Batch, m: Array) -> Array:
    """PMT at the per-period rate over m installments, rounded to the minor unit (units)."""
    out = np.empty(b.units.shape)
    zero = b.rn == 0
    if zero.any():
        out[zero] = rdiv(b.units[zero], m[zero], b.mode)
    live = ~zero
    if live.any():
        r = b.rn[live] / b.den[live]
        raw = b.units[live] * r / -np.expm1(-m[live] * np.log1p(r))
        near = np.abs(raw - np.floor(raw) - 0.5) <= _TIE * raw + 1e-9
        rounded = round_in_place(raw.copy(), b.mode)
        for i in np.flatnonzero(near):  # a near tie: the exact engine's own Decimal formula
            j = np.flatnonzero(live)[i]
            rounded[i] = _exact_annuity(b, j, int(m[j]))
        out[live] = rounded
    return out


def _exact_annuity(b: Batch, j: int, periods: int) -> float:
    mode = Rounding(b.mode).decimal_mode
    with localcontext(Context(prec=34)):
        rate = Decimal(int(b.micro[j])).scaleb(-6) / Decimal(100 * int(b.ppy[j]))
        balance = Decimal(int(b.units[j])).scaleb(-int(b.decimals[j]))
        raw = annuity_payment(balance, rate, periods)
        return float(raw.scaleb(int(b.decimals[j])).to_integral_value(rounding=mode))


def flat_interest(b: Batch, periods: Array | int = 1) -> Array:
    return rdiv(b.units.astype(np.int64) * b.rn_int * periods, b.den_int, b.mode)


def levels(b: Batch) -> tuple[Array, Array]:
    """(the level installment, NaN for equal principal; the amount each installment repays:
    the level, from which the period's interest is taken, or equal principal's fixed part)."""
    m = (b.term - b.gp).astype(np.float64)
    level = np.full(b.units.shape, np.nan)
    if not level.size:
        return level, level
    annuity, flat = b.kind == ANNUITY, b.kind == FLAT
    if annuity.all():
        level = _annuity(b, m)
    elif annuity.any():
        level[annuity] = _annuity(b.take(annuity), m[annuity])
    if flat.any():
        f = b.take(flat)
        level[flat] = rdiv(f.units + flat_interest(f) * m[flat], m[flat], b.mode)
    rounded = (b.multiple > 0) & (b.kind != EQUAL_PRINCIPAL)
    if rounded.any():
        mult = b.multiple[rounded]
        level[rounded] = rdiv(level[rounded], mult, b.mode) * mult
    step = level.copy()
    ep = b.kind == EQUAL_PRINCIPAL
    if ep.any():
        step[ep] = rdiv(b.units[ep], m[ep], b.mode)
    return level, step


# ---------------------------------------------------------------- the period loop


def run_block(
    b: Batch,
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
    rn, den, fixed_part = b.rn, b.den, b.kind == EQUAL_PRINCIPAL
    flat = b.kind == FLAT
    any_flat, all_flat, any_fixed = bool(flat.any()), bool(flat.all()), bool(fixed_part.any())
    max_gp, max_gi, max_free = int(b.gp.max()), int(b.gi.max()), int(b.free.max())
    same_term = int(b.term.min()) == n_max
    if not same_term:  # the loans whose last installment is k, for each k
        by_term = np.argsort(b.term, kind="stable")
        bounds = np.searchsorted(b.term[by_term], np.arange(n_max + 2))
    if any_flat:
        f = b.take(flat)
        flat_due = np.zeros(size)
        flat_total = np.zeros(size)
        flat_due[flat] = flat_interest(f)
        flat_total[flat] = flat_interest(f, f.term - f.free)
        accrued_total = np.zeros(size)
    deferred = np.zeros(size) if max_gi else None
    # Interest never exceeds the first period's (the balance only falls) nor, flat, the flat
    # interest (the last installment, which could, clears the balance anyway): when every level
    # covers it, no principal part can go negative and the floor at 0 is skipped.
    most = flat_due.copy() if any_flat else np.zeros(size)
    if not all_flat:
        np.copyto(most, rdiv(b.units.astype(np.int64) * b.rn_int, b.den_int, mode), where=~flat)
    floor_needed = bool(np.any((step < most) & ~fixed_part))
    # float64 quotients are exact below 2**52; beyond, the interest takes the int64 path
    in_float = size and float(b.units.max()) * float(rn.max()) < FLOAT_EXACT
    scratch_a, scratch_i, scratch_p, scratch_t = (np.empty(size) for _ in range(4))
    for k in range(1, n_max + 1):
        deferring = k <= max_gi + 1 and max_gi > 0
        interest = rows[1][k - 1] if rows else scratch_i
        accrued = scratch_a if deferring else interest
        part = rows[0][k - 1] if rows else scratch_p
        # the loans whose last installment this is
        last = by_term[bounds[k] : bounds[k + 1]] if not same_term else slice(None) if k == n_max else None
        # interest the period accrues
        if all_flat:
            pass
        elif in_float:
            np.multiply(bal, rn, out=accrued)
            round_in_place(np.divide(accrued, den, out=accrued), mode)
        else:
            accrued[:] = rdiv(bal.astype(np.int64) * b.rn_int, b.den_int, mode)
        if any_flat:  # the flat interest, never past the total; the last takes what is left
            left = flat_total - accrued_total
            due = np.minimum(left, flat_due)
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
        if floor_needed:
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


def _compute(t: Terms, want_rows: bool, units: bool) -> BulkSchedules | BulkSummary:
    size, n_max = t.size, t.max_term
    level, largest, total_interest = np.empty(size), np.empty(size), np.empty(size)
    rows = tuple(np.zeros((n_max, size)) for _ in range(3)) if want_rows else None
    for pos, b in t.blocks():
        check_exact(b)
        block_level, step = levels(b)
        n = b.units.size
        block_largest, block_interest = np.zeros(n), np.zeros(n)
        if rows and isinstance(pos, slice):  # written in place
            run_block(b, step, block_largest, block_interest, tuple(r[:, pos] for r in rows), not units)
        elif rows:  # grouped out of order: scattered back
            block_rows = tuple(np.zeros((int(b.term.max()), n)) for _ in range(3))
            run_block(b, step, block_largest, block_interest, block_rows, not units)
            for whole, part in zip(rows, block_rows, strict=True):
                whole[: part.shape[0], pos] = part
        else:
            run_block(b, step, block_largest, block_interest)
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


def terms_of(
    principal,
    annual_rate_percent,
    term,
    periods_per_year,
    grace_principal_periods,
    installment_multiple,
    grace_interest_periods,
    interest_free_periods,
    interest_method,
    amortization,
    decimals,
    rounding,
    extra=(),
) -> Terms:
    return Terms(
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
    t = terms_of(
        principal,
        annual_rate_percent,
        term,
        periods_per_year,
        grace_principal_periods,
        installment_multiple,
        grace_interest_periods,
        interest_free_periods,
        interest_method,
        amortization,
        decimals,
        rounding,
    )
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
    t = terms_of(
        principal,
        annual_rate_percent,
        term,
        periods_per_year,
        grace_principal_periods,
        installment_multiple,
        grace_interest_periods,
        interest_free_periods,
        interest_method,
        amortization,
        decimals,
        rounding,
    )
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
    t = terms_of(
        principal,
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
    )
    out = np.empty(t.size)
    for pos, b in t.blocks():
        check_exact(b)
        level = levels(b)[0]
        out[pos] = level if units else level / b.scale
    return out.reshape(t.shape)
