"""Simulation use cases: turn a request into loan terms, call the exact engine, shape the result.

Nothing here touches the database: a simulation stores nothing.
"""

from __future__ import annotations

from decimal import Decimal

from loansvc.domain import rates
from loansvc.domain.errors import InvalidInput
from loansvc.domain.money import Rounding, quantum
from loansvc.domain.rates import shown_percent
from loansvc.domain.schedule import (
    CAMBODIA,
    Amortization,
    DayCount,
    Fee,
    FeeTiming,
    Frequency,
    InterestCalculation,
    InterestMethod,
    JurisdictionRules,
    LoanTerms,
    Simulation,
    Tranche,
    simulate,
)
from loansvc.schedules.schemas import (
    AprRequest,
    AprResponse,
    CompareResponse,
    InstallmentOut,
    OfferSummary,
    ScheduleResponse,
    SimulateRequest,
    Totals,
    WarningOut,
)


def terms_from_request(req: SimulateRequest) -> LoanTerms:
    return LoanTerms(
        principal=req.principal,
        currency=req.currency,
        annual_rate_percent=req.annual_rate_percent,
        term=req.term,
        frequency=Frequency(req.frequency),
        disbursement_date=req.disbursement_date,
        interest_method=InterestMethod(req.interest_method),
        amortization=Amortization(req.amortization),
        interest_calculation=InterestCalculation(req.interest_calculation),
        day_count=DayCount(req.day_count),
        first_repayment_date=req.first_repayment_date,
        grace_principal_periods=req.grace_principal_periods,
        grace_interest_periods=req.grace_interest_periods,
        interest_free_periods=req.interest_free_periods,
        installment_multiple=req.installment_multiple,
        rounding=Rounding(req.rounding),
        fees=tuple(
            Fee(name=f.name, timing=FeeTiming(f.timing), amount=f.amount, percent=f.percent) for f in req.fees
        ),
        tranches=tuple(Tranche(date=t.date, amount=t.amount) for t in req.tranches),
    )


def schedule_response(sim: Simulation) -> ScheduleResponse:
    """The engine's result as the response, built without validating it again: every value is
    already a Decimal in the minor unit, a date or an int, and validating 24 installments field
    by field cost more than building the schedule and solving its APR."""
    schedule = sim.schedule
    return ScheduleResponse.model_construct(
        currency=schedule.currency,
        installment_amount=schedule.installment_amount,
        installments=[
            InstallmentOut.model_construct(
                number=i.number,
                due_date=i.due_date,
                principal=i.principal,
                interest=i.interest,
                fees=i.fees,
                total=i.total,
                balance=i.balance,
            )
            for i in schedule.installments
        ],
        totals=Totals.model_construct(
            principal=schedule.total_principal,
            interest=schedule.total_interest,
            fees=schedule.total_fees,
            total=schedule.total,
        ),
        apr_percent=sim.apr_percent,
        eir_percent=sim.eir_percent,
        warnings=[WarningOut.model_construct(code=w.code, message=w.message) for w in sim.warnings],
    )


def run_simulation(req: SimulateRequest, rules: JurisdictionRules = CAMBODIA) -> ScheduleResponse:
    return schedule_response(simulate(terms_from_request(req), rules))


def compare(offers: list[SimulateRequest], rules: JurisdictionRules = CAMBODIA) -> CompareResponse:
    """The offers side by side, ranked by their APR as it is shown (see `_ranks`)."""
    simulations = []
    for index, req in enumerate(offers):
        try:
            simulations.append(simulate(terms_from_request(req), rules))
        except InvalidInput as exc:
            # name the offer at fault: body -> index -> field
            raise InvalidInput(
                f"offer {index}: {exc.message}", code=exc.code, field=f"{index}.{exc.field or 'principal'}"
            ) from exc
    shown = [shown_percent(sim.apr_percent) for sim in simulations]
    ranks = _ranks(shown) if len({sim.schedule.currency for sim in simulations}) == 1 else None
    summaries = []
    for index, (req, sim) in enumerate(zip(offers, simulations, strict=True)):
        schedule = sim.schedule
        summaries.append(
            OfferSummary(
                index=index,
                label=req.label,
                currency=schedule.currency,
                principal=req.principal.quantize(quantum(schedule.currency)),  # "3000.00", as elsewhere
                term=req.term,
                frequency=req.frequency,
                installment_amount=schedule.installment_amount,
                largest_installment=max(i.total for i in schedule.installments),
                total_interest=schedule.total_interest,
                total_fees=schedule.total_fees,
                total_cost=schedule.total_interest + schedule.total_fees,
                total_paid=schedule.total,
                apr_percent=sim.apr_percent,
                apr_percent_shown=shown[index],
                rank=ranks[index] if ranks is not None else None,
                eir_percent=sim.eir_percent,
                warnings=[{"code": w.code, "message": w.message} for w in sim.warnings],
            )
        )
    first = [index for index, rank in enumerate(ranks or ()) if rank == 1]
    return CompareResponse(offers=summaries, cheapest_index=first[0] if len(first) == 1 else None)




def _ranks(shown: list[Decimal]) -> list[int]:
    """Competition ranking ("1224"): an offer's rank is 1 + the number of offers whose shown APR
    is lower, so offers with the same shown APR share a rank and the next rank skips past them
    (18.00, 18.00, 19.61 -> 1, 1, 3). Differences past the shown decimals never separate offers."""
    return [1 + sum(other < mine for other in shown) for mine in shown]


def solve_apr(req: AprRequest) -> AprResponse:
    advances = [rates.CashFlow(date=f.date, amount=f.amount) for f in req.advances]
    payments = [rates.CashFlow(date=f.date, amount=f.amount) for f in req.payments]
    result = rates.solve_rate(
        rates.AprMethod(req.method), advances, payments, rates.UnitPeriod(req.unit_period)
    )
    return AprResponse(
        apr_percent=result.apr_percent, periodic_rate=result.periodic_rate, eir_percent=result.eir_percent
    )
