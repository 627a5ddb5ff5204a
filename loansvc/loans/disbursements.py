"""Disbursements: materials in kind and cash tranches tied to construction milestones.

The loan row is locked for the whole request (and on SQLite the transaction is BEGIN IMMEDIATE), so
concurrent requests queue: the sum disbursed never passes the approval (a CHECK guards it too) and
stock never goes below zero. The first disbursement creates the repayment schedule; each later one
re-amortizes it by writing a new schedule version.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from loansvc.audit.service import record as audit
from loansvc.auth.principal import Principal
from loansvc.db.models import Disbursement, DisbursementLine, Inspection, Lender, Loan
from loansvc.domain.errors import Conflict, Forbidden, InvalidInput
from loansvc.domain.money import Rounding, quantum, round_money
from loansvc.domain.terms import FeeTiming, fee_amount
from loansvc.events import emit
from loansvc.fields import Page
from loansvc.lending import ledger
from loansvc.lending import repository as lending_repository
from loansvc.lending.access import check_date, get_visible, snapshot
from loansvc.lending.calendar import loan_calendar
from loansvc.lending.contract import schedule_for
from loansvc.lending.status import illegal_transition, transition
from loansvc.lending.terms import LoanTerms, terms_of
from loansvc.loans import repository, stages
from loansvc.loans.schemas import DisbursementCreate, DisbursementLineOut, DisbursementOut, InspectionCreate
from loansvc.materials import repository as materials_repository
from loansvc.materials import service as materials


def upfront_fees(terms: LoanTerms, principal: Decimal) -> Decimal:
    """The contract's upfront fees on `principal`: fixed amounts plus percents of it, each rounded
    to the minor unit as the schedule rounds them (0 for no principal)."""
    if principal <= 0:
        return Decimal(0)
    q = quantum(terms.currency)
    upfront = (f for f in terms.fees if f.timing is FeeTiming.UPFRONT)
    return sum((fee_amount(f, principal, q, Rounding.HALF_EVEN) for f in upfront), Decimal(0))


def withheld_fees(loan: Loan, amount: Decimal) -> Decimal:
    """What a cash disbursement of `amount` withholds: the upfront fees on everything disbursed with
    it, less those on what was disbursed before. So fixed fees come off the first tranche, percent
    fees pro rata, and the disbursements together withhold the fees on their total exactly."""
    terms = terms_of(loan)
    return upfront_fees(terms, loan.disbursed_amount + amount) - upfront_fees(terms, loan.disbursed_amount)


def _check_actor(session: Session, principal: Principal, loan: Loan, kind: str) -> Lender:
    lender = session.get(Lender, loan.lender_id)
    if kind == "materials":
        if lender.kind != "materials_bank":
            raise InvalidInput(
                "materials are issued on materials-bank loans only",
                code="WRONG_DISBURSEMENT_KIND",
                field="kind",
            )
        if principal.role not in ("loan_officer", "admin"):
            raise Forbidden("materials are issued by a loan officer or an admin", code="ROLE_NOT_ALLOWED")
    else:
        if lender.kind == "materials_bank":
            raise InvalidInput(
                "a materials-bank loan is disbursed in kind", code="WRONG_DISBURSEMENT_KIND", field="kind"
            )
        if principal.role not in ("partner", "admin"):
            raise Forbidden("cash tranches are released by the lender's partner key", code="ROLE_NOT_ALLOWED")
    return lender


def disburse(
    session: Session, principal: Principal, loan_id: str, body: DisbursementCreate, today: date
) -> Disbursement:
    loan = get_visible(session, principal, loan_id, lock=True)
    _check_actor(session, principal, loan, body.kind)
    if loan.status not in ("approved", "active"):
        raise illegal_transition(loan, f"a {loan.status} loan cannot be disbursed")
    if loan.restructure_count:
        raise Conflict(
            f"this loan was restructured on {loan.restructured_on}: its schedule no longer follows the "
            "tranches, so a further tranche needs a new loan",
            code="RESTRUCTURED_LOAN",
        )
    on = body.date or today
    check_date(
        on,
        today=today,
        not_before=loan.last_event_on if loan.status == "approved" else loan.decided_on,
        field="date",
        step="approval" if loan.status == "approved" else "the approval",
    )
    last = lending_repository.disbursements(session, loan.id)
    if last and on < last[-1].disbursed_on:
        raise InvalidInput(
            f"date {on} is before the previous disbursement ({last[-1].disbursed_on})",
            code="DATE_BEFORE_PREVIOUS_STEP",
            field="date",
        )
    stages.check(session, loan, body.milestone, body.kind, on)  # construction stages in order
    stock = {}
    lines: list[tuple[str, Decimal, Decimal, Decimal]] = []
    if body.kind == "materials":
        stock = materials_repository.by_skus(session, [line.sku for line in body.lines], lock=True)
        for k, line in enumerate(body.lines):
            material = stock.get(line.sku)
            if material is None:
                raise InvalidInput(
                    f"no material with sku {line.sku}", code="UNKNOWN_SKU", field=f"lines[{k}].sku"
                )
            if material.currency != loan.currency:
                raise InvalidInput(
                    f"{line.sku} is priced in {material.currency}, the loan in {loan.currency}",
                    code="CURRENCY_MISMATCH",
                    field=f"lines[{k}].sku",
                )
            value = round_money(line.quantity * material.unit_cost, loan.currency)
            lines.append((line.sku, line.quantity, material.unit_cost, value))
        amount = sum((value for *_, value in lines), Decimal(0))
        if amount <= 0:
            raise InvalidInput("the delivery has no value", code="ZERO_VALUE", field="lines")
    else:
        amount = body.amount
        if amount != round_money(amount, loan.currency):
            raise InvalidInput(
                f"amount has more decimals than {loan.currency} allows",
                code="TOO_MANY_DECIMALS",
                field="amount",
            )
    if loan.disbursed_amount + amount > loan.approved_amount:
        raise Conflict(
            f"disbursing {amount} would bring the total to {loan.disbursed_amount + amount}, "
            f"above the approved {loan.approved_amount}",
            code="OVER_DISBURSEMENT",
        )
    # goods cannot be withheld: in-kind loans carry no upfront fee (refused on materials-bank products)
    withheld = withheld_fees(loan, amount) if body.kind == "cash" else Decimal(0)
    if withheld >= amount:
        raise InvalidInput(
            f"the tranche of {amount} does not cover the upfront fees of {withheld} withheld from it",
            code="FEES_ABOVE_TRANCHE",
            field="amount",
        )
    before = snapshot(loan)
    disbursement = Disbursement(
        loan_id=loan.id,
        kind=body.kind,
        amount=amount,
        fees_withheld=withheld,
        net_amount=amount - withheld,
        milestone=body.milestone,
        disbursed_on=on,
        created_by=principal.name,
    )
    session.add(disbursement)
    session.flush()
    for sku, quantity, unit_cost, value in lines:
        session.add(
            DisbursementLine(
                disbursement_id=disbursement.id,
                material_id=stock[sku].id,
                sku=sku,
                quantity=quantity,
                unit_cost=unit_cost,
                value=value,
            )
        )
    if lines:
        materials.issue(session, principal, stock, [(sku, q) for sku, q, *_ in lines], on, disbursement.id)
    history = [(d.disbursed_on, d.amount) for d in last] + [(on, amount)]
    ledger.write_schedule(session, loan, schedule_for(loan, history, loan_calendar(session, loan)), on)
    loan.disbursed_amount += amount
    if loan.status == "approved":
        transition(loan, "active", on)
    loan.last_event_on = on
    session.flush()
    ledger.rebuild(session, loan)  # payments so far move onto the new schedule version
    audit(
        session,
        principal,
        entity_type="disbursement",
        entity_id=disbursement.id,
        loan_id=loan.id,
        action=f"disbursed_{body.kind}",
        before=before,
        # nested, so the loan's own "amount" in before/after is not mistaken for this movement's
        after=snapshot(loan)
        | {
            "disbursement": {
                "kind": body.kind,
                "amount": str(amount),
                "fees_withheld": str(withheld),
                "net_amount": str(amount - withheld),
                "milestone": body.milestone,
                "date": on.isoformat(),
                "lines": [{"sku": s, "quantity": str(q), "value": str(v)} for s, q, _, v in lines],
            }
        },
    )
    emit(
        session,
        "disbursement.recorded",
        loan.lender_id,
        {
            "loan_id": loan.id,
            "disbursement_id": disbursement.id,
            "kind": body.kind,
            "amount": str(amount),
            "currency": loan.currency,
            "disbursed_on": on.isoformat(),
        },
    )
    return disbursement


def disburse_out(
    session: Session, principal: Principal, loan_id: str, body: DisbursementCreate, today: date
) -> DisbursementOut:
    disbursement = disburse(session, principal, loan_id, body, today)
    return disbursement_out(session, get_visible(session, principal, loan_id), disbursement)


def disbursement_out(
    session: Session,
    loan: Loan,
    disbursement: Disbursement,
    lines: list[DisbursementLine] | None = None,
    total: Decimal | None = None,
) -> DisbursementOut:
    if lines is None:
        lines = repository.disbursement_lines(session, [disbursement.id])[disbursement.id]
    gross = round_money(disbursement.amount, loan.currency)
    withheld = round_money(disbursement.fees_withheld or Decimal(0), loan.currency)
    return DisbursementOut(
        id=disbursement.id,
        loan_id=loan.id,
        kind=disbursement.kind,
        amount=gross,
        gross_amount=gross,
        fees_withheld=withheld,
        # rows from before fees were withheld have no net_amount: all of it reached the family
        net_amount=round_money(disbursement.net_amount, loan.currency)
        if disbursement.net_amount is not None
        else gross - withheld,
        milestone=disbursement.milestone,
        date=disbursement.disbursed_on,
        lines=[
            DisbursementLineOut(
                sku=x.sku,
                quantity=x.quantity,
                unit_cost=x.unit_cost,
                value=round_money(x.value, loan.currency),
            )
            for x in lines
        ],
        disbursed_amount=round_money(total if total is not None else loan.disbursed_amount, loan.currency),
        created_by=disbursement.created_by,
        created_at=disbursement.created_at,
    )


def list_disbursements(
    session: Session, principal: Principal, loan_id: str, limit: int, offset: int
) -> Page[DisbursementOut]:
    """A page of the loan's disbursements, oldest first, each with the total disbursed after it."""
    loan = get_visible(session, principal, loan_id)
    rows = lending_repository.disbursements(session, loan.id)
    running, totals = Decimal(0), {}
    for d in rows:
        running += d.amount
        totals[d.id] = running
    shown = rows[offset : offset + limit]
    lines = repository.disbursement_lines(session, [d.id for d in shown])
    items = [disbursement_out(session, loan, d, lines[d.id], totals[d.id]) for d in shown]
    return Page[DisbursementOut](items=items, total=len(rows), limit=limit, offset=offset)


def inspect(
    session: Session, principal: Principal, loan_id: str, body: InspectionCreate, today: date
) -> Inspection:
    loan = get_visible(session, principal, loan_id, lock=True)
    if loan.status not in ("approved", "active"):
        raise Conflict(f"a {loan.status} loan has no construction to inspect", code="ILLEGAL_TRANSITION")
    check_date(
        body.inspected_on, today=today, not_before=loan.decided_on, field="inspected_on", step="approval"
    )
    milestones = terms_of(loan).milestones if loan.approved_amount is not None else ()
    if body.milestone not in milestones:
        raise InvalidInput(
            f"milestone must be one of: {', '.join(milestones)}", code="UNKNOWN_MILESTONE", field="milestone"
        )
    inspection = Inspection(
        loan_id=loan.id,
        milestone=body.milestone,
        inspected_on=body.inspected_on,
        inspector=body.inspector,
        passed=body.passed,
        notes=body.notes,
        created_by=principal.name,
    )
    session.add(inspection)
    session.flush()
    audit(
        session,
        principal,
        entity_type="inspection",
        entity_id=inspection.id,
        loan_id=loan.id,
        action="inspected",
        after={
            "milestone": body.milestone,
            "passed": body.passed,
            "inspected_on": body.inspected_on.isoformat(),
        },
    )
    return inspection
