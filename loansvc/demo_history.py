"""The demo's living portfolio: 18 months of loans, tranches, deliveries and repayments.

Everything goes through the same services as the API (apply, approve, disburse, inspect, repay), with
past dates, so the demo data obeys every rule the service enforces. Families mostly pay on time;
some fall behind, a few stop paying, and a few catch up. Deterministic for a given day.
"""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loansvc import affordability
from loansvc.affordability import housing
from loansvc.affordability import repository as affordability_repository
from loansvc.affordability.schemas import HousingModelCreate
from loansvc.auth.principal import Principal
from loansvc.db.models import Assessment, Household, Lender, Loan, Material, Product
from loansvc.domain import affordability as policy_engine
from loansvc.domain.dates import add_months
from loansvc.domain.errors import DomainError
from loansvc.domain.money import round_down
from loansvc.lending import repository as lending_repository
from loansvc.loans import disbursements
from loansvc.loans import service as loans
from loansvc.loans.schemas import (
    ApproveRequest,
    DisbursementCreate,
    InspectionCreate,
    LoanCreate,
    RejectRequest,
)
from loansvc.materials import service as materials
from loansvc.materials.schemas import MaterialCreate, ReceiptCreate
from loansvc.protection import service as protection
from loansvc.protection.schemas import ApplicationConsent, ReviewCreate
from loansvc.repayments import service as repayments
from loansvc.repayments.schemas import RepaymentCreate

CATALOG = [
    ("CEM-50", "Portland cement, 50 kg bag", "bag", "6.50"),
    ("SAND-M3", "River sand", "m3", "14.00"),
    ("GRAVEL-M3", "Crushed gravel", "m3", "22.00"),
    ("BRICK-4H", "Four-hole clay brick", "piece", "0.07"),
    ("REBAR-10", "Steel rebar 10 mm, 12 m", "bar", "5.80"),
    ("ROOF-ZN", "Zinc roof sheet 0.35 mm", "sheet", "7.20"),
    ("TIMBER-M3", "Treated timber", "m3", "310.00"),
    ("DOOR-STD", "Steel door with frame", "piece", "85.00"),
]
CORE_HOUSE = {
    "code": "SMC-CORE-24",
    "name": "Stung Mean Chey core house, 24 m2, brick and zinc",
    "floor_area_m2": "24",
    "currency": "USD",
    "description": "Incremental core house: one room and a wet core, extensible upward.",
    "stages": [
        {
            "stage": "foundation",
            "labour_cost": "180.00",
            "materials": [
                {"sku": "CEM-50", "quantity": "30"},
                {"sku": "SAND-M3", "quantity": "3.5"},
                {"sku": "GRAVEL-M3", "quantity": "4"},
                {"sku": "REBAR-10", "quantity": "24"},
            ],
        },
        {
            "stage": "structure",
            "labour_cost": "350.00",
            "materials": [
                {"sku": "BRICK-4H", "quantity": "5200"},
                {"sku": "CEM-50", "quantity": "25"},
                {"sku": "SAND-M3", "quantity": "2.5"},
                {"sku": "REBAR-10", "quantity": "30"},
            ],
        },
        {
            "stage": "roof",
            "labour_cost": "160.00",
            "materials": [{"sku": "ROOF-ZN", "quantity": "28"}, {"sku": "TIMBER-M3", "quantity": "0.6"}],
        },
        {
            "stage": "finishing",
            "labour_cost": "220.00",
            "materials": [
                {"sku": "DOOR-STD", "quantity": "2"},
                {"sku": "CEM-50", "quantity": "12"},
                {"sku": "SAND-M3", "quantity": "1.5"},
            ],
        },
    ],
}
MATERIAL_KITS = [  # what the materials bank delivers, stage by stage
    ("foundation", [("CEM-50", "30"), ("SAND-M3", "3.5"), ("GRAVEL-M3", "4")]),
    ("structure", [("BRICK-4H", "2600"), ("CEM-50", "10")]),
    ("roof", [("ROOF-ZN", "28")]),
]


def _actor(name: str, role: str, lender_id: str | None = None) -> Principal:
    # a key id is a 36-character column: a stable UUID per demo actor (two actors, two ids)
    key_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"loansvc-demo:{name}"))
    return Principal(key_id=key_id, name=name, role=role, lender_id=lender_id)


def _stock_the_bank(session: Session, officer: Principal, start: date) -> None:
    for sku, name, unit, cost in CATALOG:
        if session.scalar(select(Material.id).where(Material.sku == sku)) is None:
            materials.create(
                session, officer, MaterialCreate(sku=sku, name=name, unit=unit, unit_cost=Decimal(cost))
            )
        quantity = Decimal("200000") if sku == "BRICK-4H" else Decimal("3000")
        materials.receive(
            session,
            officer,
            sku,
            ReceiptCreate(quantity=quantity, supplier="Phnom Penh supplier", received_on=start),
            start,
        )
    if affordability_repository.housing_model(session, CORE_HOUSE["code"]) is None:
        housing.create(session, officer, HousingModelCreate.model_validate(CORE_HOUSE))


def _behaviour(rng: random.Random) -> str:
    draw = rng.random()
    return "on_time" if draw < 0.74 else "late" if draw < 0.87 else "stops" if draw < 0.95 else "catches_up"


def _repay(
    session: Session, actor: Principal, loan: Loan, behaviour: str, rng: random.Random, today: date
) -> None:
    rows = lending_repository.installments(session, loan)
    stop_after = rng.randint(2, 8)
    missed = 0
    for k, row in enumerate(rows):
        if row.due_date > today:
            break
        if behaviour == "stops" and k >= stop_after:
            break
        paid_on = row.due_date
        amount = row.total
        if behaviour == "late":
            paid_on = row.due_date + timedelta(days=rng.choice([0, 3, 9, 18, 35]))
        if behaviour == "catches_up" and 3 <= k <= 5:
            missed += 1
            continue
        if behaviour == "catches_up" and missed:
            amount, missed = amount + sum(r.total for r in rows[k - missed : k]), 0
        if paid_on > today:
            break
        try:
            repayments.record(
                session,
                actor,
                loan.id,
                RepaymentCreate(
                    amount=amount, paid_on=paid_on, reference=f"DEMO-{loan.id[:8]}-{k + 1}", channel="cash"
                ),
                today,
            )
        except DomainError:
            break


def _inspect(session: Session, officer: Principal, loan: Loan, milestone: str, on: date, today: date) -> None:
    """The NGO site engineer passes a stage, after its funding and before the next stage's."""
    disbursements.inspect(
        session,
        officer,
        loan.id,
        InspectionCreate(
            milestone=milestone,
            inspected_on=on,
            inspector="NGO site engineer",
            passed=True,
            notes="stage built as planned",
        ),
        today,
    )


def _lend(
    session: Session,
    rng: random.Random,
    household: Household,
    product: Product,
    lender: Lender,
    officer: Principal,
    checker: Principal,
    today: date,
    khr_per_usd: Decimal,
) -> None:
    submitted = today - timedelta(days=rng.randint(40, 540))
    bank = lender.kind == "materials_bank"
    maker = officer if bank else _actor(f"{lender.name} credit officer", "partner", lender.id)
    approver = checker if bank else _actor(f"{lender.name} branch manager", "partner", lender.id)
    step = product.installment_multiple or (Decimal(100000) if product.currency == "KHR" else Decimal(50))
    low, high = int(product.min_amount / step), int(min(product.max_amount, product.min_amount * 16) / step)
    amount = step * rng.randint(max(low, 1), max(high, low, 1))
    if bank:
        amount = Decimal(rng.choice([600, 800, 1000, 1200]))
    term = rng.choice([t for t in (12, 18, 24, 36, 48) if product.min_term <= t <= product.max_term])
    # the loan officer sizes the loan to what the family can carry, as the policy computes it
    record = affordability.policy_record(session, product.policy_version, khr_per_usd=khr_per_usd)
    policy = affordability.engine_policy(record)
    request = affordability.product_loan_request(product, None, term, 0)
    inp, _ = affordability.household_input(session, household, product.currency, request, submitted, policy)
    capacity = policy_engine.assess(inp, policy).max_loan_amount or Decimal(0)
    if capacity >= product.min_amount:
        amount = min(amount, round_down(capacity, step))
    try:
        loan = loans.apply(
            session,
            maker,
            LoanCreate(
                household_id=household.id,
                product_id=product.id,
                amount=amount,
                term=term,
                purpose="build the core house",
                housing_model_code="SMC-CORE-24",
                submitted_on=submitted,
                # the family signs the programme's consent form to share its file with the lender
                consent=ApplicationConsent(
                    given_on=submitted, method="signed_form", reference=f"CF-{household.parcel_code}"
                ),
            ),
            submitted,
            khr_per_usd=khr_per_usd,
        )
    except DomainError:
        return
    decided = submitted + timedelta(days=rng.randint(2, 10))
    if loan.assessment_id and session.get(Assessment, loan.assessment_id).decision == "ineligible":
        loans.reject(
            session,
            approver,
            loan.id,
            RejectRequest(reason="repayment capacity too low", rejected_on=decided),
            today,
        )
        return
    if protection.review_reasons(session, loan):  # an ID Poor family: the loan officer reviews first
        note = "home visit: incomes and debts checked with the family, repayment capacity confirmed"
        review = ReviewCreate(outcome="cleared", note=note)
        protection.record_review(session, checker, loan.id, review, decided)
    loans.approve(session, approver, loan.id, ApproveRequest(approved_on=decided), today)
    on = decided + timedelta(days=rng.randint(3, 15))
    if bank:
        for n, (milestone, lines) in enumerate(MATERIAL_KITS):
            if n:  # the stages go in order: the previous one passes its inspection first
                _inspect(session, officer, loan, MATERIAL_KITS[n - 1][0], on - timedelta(days=2), today)
            body = DisbursementCreate(
                kind="materials",
                milestone=milestone,
                date=on,
                lines=[{"sku": s, "quantity": q} for s, q in lines],
            )
            try:
                disbursements.disburse(session, officer, loan.id, body, today)
            except DomainError:
                break
            on += timedelta(days=rng.randint(20, 45))
            if on > today:
                break
    else:
        tranches = [("foundation", Decimal("0.4")), ("structure", Decimal("0.35")), ("roof", Decimal("0.25"))]
        remaining = loan.approved_amount
        for n, (milestone, share) in enumerate(tranches):
            part = remaining if n == len(tranches) - 1 else (loan.approved_amount * share).quantize(step)
            if n:
                _inspect(session, officer, loan, tranches[n - 1][0], on - timedelta(days=2), today)
            try:
                disbursements.disburse(
                    session,
                    maker,
                    loan.id,
                    DisbursementCreate(kind="cash", amount=part, milestone=milestone, date=on),
                    today,
                )
            except DomainError:
                break
            remaining -= part
            on = add_months(on, 1) + timedelta(days=rng.randint(0, 10))
            if on > today:
                break
    session.flush()
    if loan.status == "active":
        _repay(session, maker if not bank else officer, loan, _behaviour(rng), rng, today)


def seed_history(
    session: Session,
    today: date,
    share: float = 0.35,
    seed: int = 20260101,
    khr_per_usd: Decimal = Decimal("4100"),
) -> int:
    """Lend to about `share` of the households; returns the number of loans applied for."""
    if session.scalar(select(func.count(Loan.id))):
        return 0
    rng = random.Random(seed)
    officer, checker = (
        _actor("NGO loan officer Sokha", "loan_officer"),
        _actor("NGO loan officer Dara", "loan_officer"),
    )
    start = today - timedelta(days=560)
    _stock_the_bank(session, officer, start)
    products = list(session.scalars(select(Product).order_by(Product.name)))
    lenders = {lender.id: lender for lender in session.scalars(select(Lender))}
    bank_products = [p for p in products if lenders[p.lender_id].kind == "materials_bank"]
    mfi_products = [p for p in products if lenders[p.lender_id].kind == "mfi"]
    households = list(session.scalars(select(Household).order_by(Household.parcel_code)))
    count = 0
    for household in households:
        if rng.random() > share:
            continue
        vulnerable = household.idpoor_level > 0 or bool(household.vulnerabilities)
        product = rng.choice(bank_products if vulnerable and bank_products else mfi_products)
        _lend(
            session, rng, household, product, lenders[product.lender_id], officer, checker, today, khr_per_usd
        )
        count += 1
    return count
