"""A simulation's documents: its repayment schedule and a key facts statement, filled from the
answer of POST /v1/schedules/simulate itself (the same service, the same figures)."""

from __future__ import annotations

from datetime import date

from loansvc.documents import FeeTerm, KeyFacts, Row, ScheduleDoc
from loansvc.domain.rates import shown_percent
from loansvc.domain.schedule import CAMBODIA
from loansvc.schedules import service
from loansvc.schedules.schemas import SimulateRequest


def schedule_document(req: SimulateRequest, today: date) -> ScheduleDoc:
    result = service.run_simulation(req)
    return ScheduleDoc(
        kind="simulation",
        currency=result.currency,
        issued_on=today,
        rows=tuple(
            Row(i.number, i.due_date, i.principal, i.interest, i.fees, i.total, i.balance)
            for i in result.installments
        ),
        total_principal=result.totals.principal,
        total_interest=result.totals.interest,
        total_fees=result.totals.fees,
        total_paid=result.totals.total,
        apr_percent=shown_percent(result.apr_percent),
        eir_percent=shown_percent(result.eir_percent),
        principal=req.principal,
        term=req.term,
        frequency=req.frequency,
        annual_rate_percent=req.annual_rate_percent,
        interest_method=req.interest_method,
        label=req.label,
        warnings=tuple(w.code for w in result.warnings),
        rate_cap_percent=CAMBODIA.rate_cap_percent,
    )


def key_facts(
    req: SimulateRequest, today: date, *, complaints_hotline: str, title_return_days: int
) -> KeyFacts:
    """A simulation knows its fees but not a lender's late-fee rule: the statement says to ask."""
    return KeyFacts(
        schedule=schedule_document(req, today),
        fees=tuple(FeeTerm(f.name, f.timing, f.amount, f.percent) for f in req.fees),
        late_fee_rule_known=False,
        title_return_days=title_return_days,
        complaints_hotline=complaints_hotline,
        allocation_order=(),
    )
