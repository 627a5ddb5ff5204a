"""A restructure, computed on the ledger's own rows: what the family would pay from `effective_on`
(the preview), and the schedule version an approval writes.

The rules:
- the installments due on or before `effective_on` stay as they were paid: what they still owed
  leaves them (so days past due restart) — their principal into the new balance always, their
  interest, fees and late fees into the new balance with `capitalise_arrears`, otherwise spread
  evenly over the new amortizing installments, without interest;
- the installments due after it are replaced; the first new due date is the first old due date
  after `effective_on` (or `new_first_due_date`, later ones following the frequency);
- `payment_holiday_periods` come first (nothing due; their interest capitalised or spread), then
  `principal_grace_periods` (interest only), then level installments (or equal principal) that
  amortize the balance, the last clearing it, over the old number of remaining installments plus
  `extend_term_by`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from loansvc.domain.dates import Calendar, add_months
from loansvc.domain.errors import Conflict, InvalidInput
from loansvc.domain.money import round_money
from loansvc.domain.rates import CashFlow, actuarial_rate, shown_percent, unit_period_for
from loansvc.domain.reschedule import Rest, rest_schedule
from loansvc.domain.schedule import Installment, InterestCalculation
from loansvc.lending.figures import ZERO, late_fee_as_of
from loansvc.lending.terms import LoanTerms


@dataclass(frozen=True)
class Changes:
    principal_grace_periods: int = 0
    payment_holiday_periods: int = 0
    holiday_interest: str = "capitalise"
    extend_term_by: int = 0
    new_annual_rate_percent: Decimal | None = None
    new_first_due_date: date | None = None
    capitalise_arrears: bool = False

    @classmethod
    def from_json(cls, data: dict) -> Changes:
        rate = data.get("new_annual_rate_percent")
        first = data.get("new_first_due_date")
        return cls(
            principal_grace_periods=int(data.get("principal_grace_periods") or 0),
            payment_holiday_periods=int(data.get("payment_holiday_periods") or 0),
            holiday_interest=data.get("holiday_interest") or "capitalise",
            extend_term_by=int(data.get("extend_term_by") or 0),
            new_annual_rate_percent=None if rate is None else Decimal(str(rate)),
            new_first_due_date=date.fromisoformat(first) if isinstance(first, str) else first,
            capitalise_arrears=bool(data.get("capitalise_arrears")),
        )


@dataclass(frozen=True)
class Plan:
    cut: int  # the first installment number replaced
    kept: list[dict]  # the earlier installments, cut to what was paid (field -> value)
    installments: tuple[Installment, ...]
    outstanding_principal: Decimal
    capitalised: Decimal
    old_installment: Decimal | None
    new_installment: Decimal | None
    old_remaining_cost: Decimal
    new_remaining_cost: Decimal
    apr_percent: Decimal
    eir_percent: Decimal
    total_term: int


def _step(terms: LoanTerms):
    months, days = terms.frequency.step
    if months:
        return lambda anchor, k: add_months(anchor, months * k)
    return lambda anchor, k: anchor + timedelta(days=days * k)


def plan(
    rows,
    terms: LoanTerms,
    effective_on: date,
    changes: Changes,
    *,
    max_term: int,
    rate_cap_percent: Decimal,
    calendar: Calendar,
    disbursed_on: date,
) -> Plan:
    """The restructure of the loan whose current schedule rows are `rows` (pure)."""
    later = [r for r in rows if r.due_date > effective_on]
    if not later:
        raise Conflict(
            f"no installment is due after {effective_on}: there is nothing left to restructure",
            code="NOTHING_TO_RESTRUCTURE",
        )
    if any(r.paid_principal + r.paid_interest + r.paid_fees + r.paid_penalty > 0 for r in later):
        raise Conflict(
            "an installment due after effective_on is already partly paid; choose the day after its due "
            "date as effective_on, or reverse that payment first",
            code="PARTLY_PAID_INSTALLMENT",
        )
    rate = changes.new_annual_rate_percent
    if rate is not None and rate > rate_cap_percent:
        raise InvalidInput(
            f"the new rate of {rate}% a year is above the legal cap of {rate_cap_percent}%",
            code="RATE_ABOVE_LEGAL_CAP",
            field="changes.new_annual_rate_percent",
        )
    cut = later[0].number
    earlier = [r for r in rows if r.number < cut]
    currency = terms.currency
    outstanding = sum((r.principal - r.paid_principal for r in rows), ZERO)
    arrears_interest = arrears_fees = ZERO
    kept = []
    for r in earlier:
        penalty = max(late_fee_as_of(r, terms, effective_on), r.penalty)
        arrears_interest += r.interest - r.paid_interest
        arrears_fees += (r.fees - r.paid_fees) + (penalty - r.paid_penalty)
        owed = (
            r.principal + r.interest + r.fees + penalty
            > r.paid_principal + r.paid_interest + r.paid_fees + (r.paid_penalty)
        )
        kept.append(
            {
                "number": r.number,
                "due_date": r.due_date,
                "principal": r.paid_principal,
                "interest": r.paid_interest,
                "fees": r.paid_fees,
                "total": r.paid_principal + r.paid_interest + r.paid_fees,
                "balance": r.balance,
                "paid_principal": r.paid_principal,
                "paid_interest": r.paid_interest,
                "paid_fees": r.paid_fees,
                "paid_penalty": r.paid_penalty,
                "penalty": r.paid_penalty,
                "paid_by_due_date": r.paid_by_due_date,
                "fully_paid_on": effective_on if owed else r.fully_paid_on,
            }
        )
    n = len(later) + changes.extend_term_by
    total_term = cut - 1 + n
    if total_term > max_term:
        raise InvalidInput(
            f"the restructured loan would run {total_term} installments from its first due date, more "
            f"than the product's maximum of {max_term}",
            code="TERM_ABOVE_MAXIMUM",
            field="changes.extend_term_by",
        )
    step = _step(terms)
    if changes.new_first_due_date is not None:
        if changes.new_first_due_date <= effective_on:
            raise InvalidInput(
                "new_first_due_date must be after effective_on",
                code="DATE_OUT_OF_RANGE",
                field="changes.new_first_due_date",
            )
        dues = [calendar.move(step(changes.new_first_due_date, k)) for k in range(n)]
    else:
        old = [r.due_date for r in later]
        dues = old + [
            calendar.move(step(later[-1].due_date, k)) for k in range(1, changes.extend_term_by + 1)
        ]
    previous_due = earlier[-1].due_date if earlier else disbursed_on
    balance = outstanding + (arrears_interest + arrears_fees if changes.capitalise_arrears else ZERO)
    rest = rest_schedule(
        Rest(
            balance=balance,
            currency=currency,
            annual_rate_percent=terms.annual_rate_percent if rate is None else rate,
            frequency=terms.frequency,
            amortization=terms.amortization,
            start=previous_due,
            dues=tuple(dues),
            first_number=cut,
            per_installment_fee=later[0].fees,
            installment_multiple=terms.installment_multiple,
            daily=terms.interest_calculation is InterestCalculation.DAILY,
            day_count=terms.day_count,
            holiday_periods=changes.payment_holiday_periods,
            holiday_interest=changes.holiday_interest,
            grace_periods=changes.principal_grace_periods,
            spread_interest=ZERO if changes.capitalise_arrears else arrears_interest,
            spread_fees=ZERO if changes.capitalise_arrears else arrears_fees,
        )
    )
    regular = [r for r in later[:-1] if r.principal > 0]
    old_level = regular[0].total if regular else later[0].total
    new_total = sum((i.total for i in rest.installments), ZERO)
    old_cost = sum((r.interest - r.paid_interest + r.fees - r.paid_fees for r in rows), ZERO) + sum(
        (max(late_fee_as_of(r, terms, effective_on), r.penalty) - r.paid_penalty for r in earlier), ZERO
    )
    flows = [CashFlow(i.due_date, i.total) for i in rest.installments if i.total > 0]
    # priced on everything the family owes at effective_on (the arrears carried in are owed anyway)
    owed = outstanding + arrears_interest + arrears_fees
    result = actuarial_rate([CashFlow(effective_on, owed)], flows, unit_period_for(terms.frequency))
    new_level = rest.installment_amount
    return Plan(
        cut=cut,
        kept=kept,
        installments=rest.installments,
        outstanding_principal=round_money(outstanding, currency),
        capitalised=rest.capitalised
        + (arrears_interest + arrears_fees if changes.capitalise_arrears else ZERO),
        old_installment=round_money(old_level, currency),
        new_installment=None if new_level is None else round_money(new_level + later[0].fees, currency),
        old_remaining_cost=round_money(old_cost, currency),
        new_remaining_cost=round_money(new_total - outstanding, currency),
        apr_percent=shown_percent(result.apr_percent),
        eir_percent=shown_percent(result.eir_percent),
        total_term=total_term,
    )
