"""Repayment schedules: from loan terms to dated installments, exact to the minor unit, and
the simulation that prices them (actuarial APR/EIR of their own cash flows) and checks them
against jurisdiction rules.

The rules reproduce Apache Fineract's published schedules: half-even rounding by default,
installments rounded to a multiple, interest per period or daily, the last installment
clearing the balance. Terms and their checks live in `loansvc.domain.terms`.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from loansvc.domain.dates import days_30_360, days_by_year_length
from loansvc.domain.money import Rounding, quantum
from loansvc.domain.rates import CashFlow, actuarial_rate, unit_period_for
from loansvc.domain.terms import (
    MAX_AMOUNT,
    MAX_RATE_PERCENT,
    MAX_TERM,
    Amortization,
    DayCount,
    Fee,
    FeeTiming,
    Frequency,
    InterestCalculation,
    InterestMethod,
    LoanTerms,
    Tranche,
    check_terms,
    due_dates,
    fee_amount,
)

__all__ = [
    "CAMBODIA",
    "MAX_AMOUNT",
    "MAX_RATE_PERCENT",
    "MAX_TERM",
    "Amortization",
    "DayCount",
    "Fee",
    "FeeTiming",
    "Frequency",
    "Installment",
    "InterestCalculation",
    "InterestMethod",
    "JurisdictionRules",
    "LoanTerms",
    "Rounding",
    "RuleWarning",
    "Schedule",
    "Simulation",
    "Tranche",
    "Warning",
    "annuity_payment",
    "build_schedule",
    "due_dates",
    "monthly_equivalent_factor",
    "simulate",
    "unit_period_for",
    "validate_terms",
]

# Amounts stay far below 34 significant digits, so every product is exact before it is rounded.
_CTX = Context(prec=34, rounding=ROUND_HALF_EVEN)
_ZERO = Decimal(0)
_ONE = Decimal(1)

# Day-count year as a common denominator: actual/actual weighs each day 1/365 or 1/366,
# i.e. (days365 * 366 + days366 * 365) / (365 * 366), so a period's interest is one division.
_DAY_BASIS = {
    DayCount.ACTUAL_365: 365,
    DayCount.ACTUAL_360: 360,
    DayCount.ACTUAL_ACTUAL: 365 * 366,
    DayCount.THIRTY_360: 360,
}


@dataclass(frozen=True)
class Installment:
    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    fees: Decimal
    total: Decimal
    balance: Decimal  # principal outstanding just after this installment (a same-day tranche joins after it)


@dataclass(frozen=True)
class Schedule:
    currency: str
    installment_amount: Decimal | None  # the level installment; None for equal principal
    installments: tuple[Installment, ...]
    total_principal: Decimal
    total_interest: Decimal
    total_fees: Decimal  # per-installment and upfront fees
    total: Decimal  # everything the client pays: installments plus upfront fees
    upfront_fees: Decimal  # withheld at disbursement

    def cash_flows(self, terms: LoanTerms) -> tuple[list[CashFlow], list[CashFlow]]:
        """(advances, payments): the disbursement net of upfront fees and each tranche at its
        date; each installment total at its due date (installments of zero are no payment)."""
        advances = [CashFlow(terms.disbursement_date, terms.principal - self.upfront_fees)]
        advances += [CashFlow(t.date, t.amount) for t in terms.tranches]
        payments = [CashFlow(i.due_date, i.total) for i in self.installments if i.total > 0]
        return advances, payments


def validate_terms(terms: LoanTerms) -> None:
    """Raise InvalidInput, naming the field at fault, for terms no schedule can honour."""
    with localcontext(_CTX):
        check_terms(terms)


def annuity_payment(balance: Decimal, rate: Decimal, periods: int) -> Decimal:
    """PMT, unrounded: the level payment repaying `balance` over `periods` at `rate` per period."""
    with localcontext(_CTX):
        if rate == 0:
            return balance / periods
        return balance * rate / (_ONE - (_ONE + rate) ** -periods)


def monthly_equivalent_factor(frequency: Frequency) -> Decimal:
    """Installments per month for a frequency: periods per year / 12 (13/12 for every 4 weeks)."""
    with localcontext(_CTX):
        return Decimal(Frequency(frequency).periods_per_year) / 12


def _round_installment(raw: Decimal, q: Decimal, mode: str, multiple: Decimal | None) -> Decimal:
    """An installment rounded to the minor unit, then to the multiple (both with the terms' mode)."""
    amount = raw.quantize(q, rounding=mode)
    if multiple is not None:
        amount = ((amount / multiple).to_integral_value(rounding=mode) * multiple).quantize(q)
    return amount


def _level(balance: Decimal, rate: Decimal, periods: int, q: Decimal, mode: str, multiple: Decimal | None):
    """The level installment: PMT at the per-period rate, rounded."""
    raw = balance / periods if rate == 0 else balance * rate / (_ONE - (_ONE + rate) ** -periods)
    return _round_installment(raw, q, mode, multiple)


def _day_weight(day_count: DayCount, start: date, end: date) -> int:
    """Days of [start, end) in units of 1 / _DAY_BASIS[day_count] of a year."""
    if day_count is DayCount.THIRTY_360:
        return days_30_360(start, end)
    if day_count is DayCount.ACTUAL_ACTUAL:
        normal, leap = days_by_year_length(start, end)
        return normal * 366 + leap * 365
    return (end - start).days


def build_schedule(terms: LoanTerms) -> Schedule:
    """Validate the terms, then build their schedule (no APR: this runs in affordability loops)."""
    with localcontext(_CTX):
        dues = check_terms(terms)
        return _build(terms, dues)


def _build(terms: LoanTerms, dues: list[date]) -> Schedule:
    q = quantum(terms.currency)
    mode = terms.rounding.decimal_mode
    zero = _ZERO.quantize(q)
    n = terms.term
    annual = terms.annual_rate_percent
    rate_den = Decimal(100 * terms.frequency.periods_per_year)
    rate = annual / rate_den  # for PMT only; each period's interest divides once by rate_den
    flat = terms.interest_method is InterestMethod.FLAT
    daily = not flat and terms.interest_calculation is InterestCalculation.DAILY
    equal_principal = not flat and terms.amortization is Amortization.EQUAL_PRINCIPAL
    gp, gi, free = terms.grace_principal_periods, terms.grace_interest_periods, terms.interest_free_periods
    multiple = terms.installment_multiple
    principal = terms.principal.quantize(q)

    upfront = per_installment_fee = zero
    for fee in terms.fees:
        amount = fee_amount(fee, principal, q, terms.rounding)
        if fee.timing is FeeTiming.UPFRONT:
            upfront += amount
        else:
            per_installment_fee += amount

    # each tranche joins before the first installment due after its date
    balance = principal
    joins: dict[int, list[tuple[date, Decimal]]] = {}
    for tranche in sorted(terms.tranches, key=lambda t: t.date):
        amount = tranche.amount.quantize(q)
        if tranche.date == terms.disbursement_date:
            balance += amount
        else:
            joins.setdefault(bisect_right(dues, tranche.date) + 1, []).append((tranche.date, amount))

    if flat:
        flat_interest = (principal * annual / rate_den).quantize(q, rounding=mode)
        flat_total = (principal * annual * (n - free) / rate_den).quantize(q, rounding=mode)
        level: Decimal | None = _round_installment(principal / (n - gp) + flat_interest, q, mode, multiple)
        installment_amount: Decimal | None = level
    elif equal_principal:
        level = installment_amount = None
    else:
        # the level before any later tranche; recomputed below when a tranche joins
        installment_amount = level = _level(balance, rate, n - gp, q, mode, multiple)
    stale = level is None  # a tranche joining later makes the level stale again
    if daily:
        day_count = terms.day_count
        day_den = Decimal(100 * _DAY_BASIS[day_count])

    installments: list[Installment] = []
    append = installments.append
    accrued_total = deferred = total_interest = zero
    start = terms.disbursement_date
    for k in range(1, n + 1):
        end = dues[k - 1]
        joined = joins.get(k)
        opening = balance
        if joined:
            balance += sum(amount for _, amount in joined)
            stale = True

        # interest the period accrues
        if k <= free:
            accrued = zero
        elif flat:
            # never past the total, which is rounded once (a per-period rounding up can overtake it)
            accrued = flat_total - accrued_total if k == n else min(flat_interest, flat_total - accrued_total)
        elif daily:
            weighted = _ZERO
            cursor, running = start, opening
            for when, amount in joined or ():
                if when > cursor:
                    weighted += running * _day_weight(day_count, cursor, when)
                    cursor = when
                running += amount
            weighted += running * _day_weight(day_count, cursor, end)
            accrued = (weighted * annual / day_den).quantize(q, rounding=mode)
        else:
            accrued = (balance * annual / rate_den).quantize(q, rounding=mode)
        accrued_total += accrued

        # interest shown: nothing during interest grace, then all it deferred at once
        if k <= gi:
            interest = zero
            deferred += accrued
        elif k == gi + 1:
            interest = accrued + deferred
        else:
            interest = accrued

        if k <= gp:
            part = zero
        elif k == n:
            part = balance
        else:
            if stale:
                remaining = n - k + 1
                if equal_principal:
                    level = (balance / remaining).quantize(q, rounding=mode)
                elif not flat:
                    level = _level(balance, rate, remaining, q, mode, multiple)
                stale = False
            part = level if equal_principal else level - accrued  # type: ignore[operator]
            # never negative amortisation, never past the balance
            if part < 0:
                part = zero
            elif part > balance:
                part = balance
        balance -= part
        total_interest += interest
        append(
            Installment(
                number=k,
                due_date=end,
                principal=part,
                interest=interest,
                fees=per_installment_fee,
                total=part + interest + per_installment_fee,
                balance=balance,
            )
        )
        start = end

    total_principal = sum((i.principal for i in installments), zero)
    fees_in_installments = per_installment_fee * n
    return Schedule(
        currency=terms.currency,
        installment_amount=installment_amount,
        installments=tuple(installments),
        total_principal=total_principal,
        total_interest=total_interest,
        total_fees=fees_in_installments + upfront,
        total=total_principal + total_interest + fees_in_installments + upfront,
        upfront_fees=upfront,
    )


@dataclass(frozen=True)
class RuleWarning:
    code: str
    message: str


Warning = RuleWarning  # the name the API speaks; RuleWarning avoids shadowing the builtin here


@dataclass(frozen=True)
class JurisdictionRules:
    name: str = "KH"
    rate_cap_percent: Decimal | None = Decimal("18")  # NBC Prakas B7-017-109 (2017)
    flat_rate_prohibited: bool = True  # Cambodian MFIs lend on declining balance only


CAMBODIA = JurisdictionRules()


@dataclass(frozen=True)
class Simulation:
    schedule: Schedule
    apr_percent: Decimal
    eir_percent: Decimal
    warnings: tuple[RuleWarning, ...]


_TWO_PLACES = Decimal("0.01")


def rule_warnings(
    terms: LoanTerms, apr_percent: Decimal, rules: JurisdictionRules
) -> tuple[RuleWarning, ...]:
    """The jurisdiction's warnings for these terms and their APR."""
    found: list[RuleWarning] = []
    cap = rules.rate_cap_percent
    if cap is not None and terms.annual_rate_percent > cap:
        found.append(
            RuleWarning(
                "NOMINAL_RATE_ABOVE_CAP",
                f"the nominal rate {terms.annual_rate_percent}% a year is above "
                f"the {rules.name} cap of {cap}%",
            )
        )
    # compared at the published precision, so rounding noise on a capped loan is no breach
    if cap is not None and apr_percent.quantize(_TWO_PLACES) > cap:
        found.append(
            RuleWarning(
                "APR_ABOVE_CAP",
                f"the APR of {apr_percent}%, fees and flat interest included, is above the "
                f"{rules.name} cap of {cap}%",
            )
        )
    if rules.flat_rate_prohibited and terms.interest_method is InterestMethod.FLAT:
        found.append(
            RuleWarning(
                "FLAT_RATE_PROHIBITED",
                f"flat-rate interest is not allowed for MFI loans in {rules.name}; "
                "this simulation only shows what a flat offer really costs",
            )
        )
    return tuple(found)


def simulate(terms: LoanTerms, rules: JurisdictionRules = CAMBODIA) -> Simulation:
    """The schedule, the actuarial APR/EIR of its own cash flows (the frequency as unit period)
    and the jurisdiction's warnings."""
    schedule = build_schedule(terms)
    advances, payments = schedule.cash_flows(terms)
    rate = actuarial_rate(advances, payments, unit_period_for(terms.frequency))
    return Simulation(
        schedule=schedule,
        apr_percent=rate.apr_percent,
        eir_percent=rate.eir_percent,
        warnings=rule_warnings(terms, rate.apr_percent, rules),
    )
