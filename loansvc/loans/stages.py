"""Construction stages: the order a loan's milestones are funded in, and what each milestone shows.

The rule, checked on every disbursement (the loan row is locked, so it reads a settled history):
- the contract's milestones (`LoanTerms.milestones`) are funded in order, none skipped: the first
  disbursement is for the first milestone;
- a disbursement for milestone k needs milestone k-1 funded (cash or materials) and passed by its
  latest inspection after its last funding: dated on or after that funding's day (on the same day,
  recorded after it: an inspection recorded before a delivery cannot have seen it) and not after
  this disbursement's date. A failed inspection blocks the next stage until a later pass;
- more disbursements for the milestone being funded need no new inspection (materials in two
  deliveries); a milestone before the one being funded is closed (its inspection opened the next);
- materials in kind follow the same gate unless the contract says `materials_gated: false`; then
  they go out for any milestone without inspection (cash stays gated).

A skipped or closed milestone is 409 STAGE_OUT_OF_ORDER, a missing or failed inspection 409
INSPECTION_REQUIRED; each detail names the milestones concerned.

Each milestone's status (GET /v1/loans/{id}/milestones):
- `not_started`: nothing disbursed for it yet;
- `funded`: disbursed, and not inspected since its last funding;
- `inspected_passed`: its latest inspection since its last funding passed (the next may be funded);
- `inspected_failed`: its latest inspection since its last funding failed (the next waits for a pass).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from sqlalchemy.orm import Session

from loansvc.auth.principal import Principal
from loansvc.db.models import Disbursement, Inspection, Loan, Product
from loansvc.domain.errors import Conflict, InvalidInput
from loansvc.domain.money import round_money
from loansvc.fields import DecimalStr, OutModel, Page
from loansvc.lending import repository as lending_repository
from loansvc.lending.access import get_visible
from loansvc.lending.terms import DEFAULT_MILESTONES, has_terms, terms_of
from loansvc.loans import repository

StageStatus = Literal["not_started", "funded", "inspected_passed", "inspected_failed"]


@dataclass
class Stage:
    """One milestone of the contract with its disbursements and inspections, oldest first."""

    milestone: str
    position: int
    disbursements: list[Disbursement] = field(default_factory=list)
    inspections: list[Inspection] = field(default_factory=list)

    @property
    def last_funded_on(self) -> date | None:
        return self.disbursements[-1].disbursed_on if self.disbursements else None

    def after_last_funding(self, inspection: Inspection) -> bool:
        """Dated after the stage's last funding, or the same day and recorded after it."""
        last = self.disbursements[-1]
        return (inspection.inspected_on, inspection.created_at) > (last.disbursed_on, last.created_at)

    def deciding_inspection(self, until: date | None = None) -> Inspection | None:
        """The latest inspection after the last funding (and dated by `until`): it decides."""
        if not self.disbursements:
            return None
        seen = [
            i
            for i in self.inspections
            if self.after_last_funding(i) and (until is None or i.inspected_on <= until)
        ]
        return seen[-1] if seen else None

    @property
    def status(self) -> StageStatus:
        if not self.disbursements:
            return "not_started"
        deciding = self.deciding_inspection()
        if deciding is None:
            return "funded"
        return "inspected_passed" if deciding.passed else "inspected_failed"


def stages(
    milestones: tuple[str, ...], disbursements: list[Disbursement], inspections: list[Inspection]
) -> list[Stage]:
    """The milestones in contract order; disbursements and inspections arrive oldest first."""
    out = [Stage(milestone=m, position=k) for k, m in enumerate(milestones)]
    by_name = {s.milestone: s for s in out}
    for d in disbursements:
        if d.milestone in by_name:
            by_name[d.milestone].disbursements.append(d)
    for i in inspections:
        if i.milestone in by_name:
            by_name[i.milestone].inspections.append(i)
    return out


def check(session: Session, loan: Loan, milestone: str, kind: str, on: date) -> None:
    """Refuse a disbursement for `milestone` on `on` that breaks the order of the stages."""
    terms = terms_of(loan)
    milestones = terms.milestones
    if milestone not in milestones:
        raise InvalidInput(
            f"milestone must be one of: {', '.join(milestones)}", code="UNKNOWN_MILESTONE", field="milestone"
        )
    if kind == "materials" and not terms.materials_gated:
        return
    loan_stages = stages(
        milestones,
        lending_repository.disbursements(session, loan.id),
        repository.inspections(session, loan.id),
    )
    wanted = milestones.index(milestone)
    funded = [s.position for s in loan_stages if s.disbursements]
    if not funded:
        if wanted > 0:
            raise Conflict(
                f"the first disbursement is for the {milestones[0]}: the {milestone} comes after the "
                f"{milestones[wanted - 1]}, which has not been funded",
                code="STAGE_OUT_OF_ORDER",
            )
        return
    current = max(funded)
    if wanted == current:
        return  # another disbursement for the stage being funded
    if wanted < current:
        raise Conflict(
            f"the {milestone} is closed: the {milestones[current]} is being funded, and stages go in order",
            code="STAGE_OUT_OF_ORDER",
        )
    previous = loan_stages[wanted - 1]
    if wanted > current + 1:
        raise Conflict(
            f"the {milestone} needs the {previous.milestone} to be funded and to pass an inspection first; "
            f"the {previous.milestone} has not been funded",
            code="STAGE_OUT_OF_ORDER",
        )
    deciding = previous.deciding_inspection(until=on)
    if deciding is None or not deciding.passed:
        raise Conflict(
            f"the {milestone} needs the {previous.milestone} to have passed an inspection after its last "
            f"funding on {previous.last_funded_on}{_why_not(previous, deciding, on)}",
            code="INSPECTION_REQUIRED",
        )


def _why_not(previous: Stage, deciding: Inspection | None, on: date) -> str:
    if deciding is not None:
        return f"; its latest inspection, on {deciding.inspected_on}, failed"
    later = [i for i in previous.inspections if i.inspected_on > on]
    if later:
        return f"; its inspection on {later[-1].inspected_on} is dated after this disbursement ({on})"
    funded_on = previous.last_funded_on
    if any(i.inspected_on == funded_on for i in previous.inspections):
        return f"; its inspection on {funded_on} was recorded before that funding"
    return ""


# The milestones of a loan ---------------------------------------------------------------------------


class MilestoneDisbursementOut(OutModel):
    id: str
    kind: str
    amount: DecimalStr
    date: date


class MilestoneInspectionOut(OutModel):
    id: str
    inspected_on: date
    passed: bool
    inspector: str
    notes: str | None


class MilestoneOut(OutModel):
    milestone: str
    position: int
    status: StageStatus
    funded_amount: DecimalStr
    last_funded_on: date | None
    disbursements: list[MilestoneDisbursementOut]
    inspections: list[MilestoneInspectionOut]


def _milestones_of(session: Session, loan: Loan) -> tuple[str, ...]:
    """The contract's milestones; before approval (no contract yet), the product's."""
    if has_terms(loan):
        return terms_of(loan).milestones
    product = session.get(Product, loan.product_id)
    return tuple(product.milestones or DEFAULT_MILESTONES)


def milestone_out(stage: Stage, currency: str) -> MilestoneOut:
    return MilestoneOut(
        milestone=stage.milestone,
        position=stage.position,
        status=stage.status,
        funded_amount=round_money(sum((d.amount for d in stage.disbursements), Decimal(0)), currency),
        last_funded_on=stage.last_funded_on,
        disbursements=[
            MilestoneDisbursementOut(
                id=d.id, kind=d.kind, amount=round_money(d.amount, currency), date=d.disbursed_on
            )
            for d in stage.disbursements
        ],
        inspections=[MilestoneInspectionOut.model_validate(i) for i in stage.inspections],
    )


def milestones_page(
    session: Session, principal: Principal, loan_id: str, limit: int, offset: int
) -> Page[MilestoneOut]:
    """Every milestone of the contract in order, each with its tranches, deliveries and inspections."""
    loan = get_visible(session, principal, loan_id)
    loan_stages = stages(
        _milestones_of(session, loan),
        lending_repository.disbursements(session, loan.id),
        repository.inspections(session, loan.id),
    )
    items = [milestone_out(s, loan.currency) for s in loan_stages[offset : offset + limit]]
    return Page[MilestoneOut](items=items, total=len(loan_stages), limit=limit, offset=offset)
