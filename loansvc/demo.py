"""The demo programme: Stung Mean Chey with 570 households, three partner MFIs and the materials bank.

Seeding is deterministic (a fixed random seed) and idempotent: a second run adds nothing. The
demo API keys are re-issued at each run (only their hashes are stored, so they cannot be shown
again), and the previous demo keys are revoked.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from loansvc.auth.service import create_key, revoke_key
from loansvc.db.models import (
    ApiKey,
    Household,
    HouseholdDebt,
    HouseholdExpense,
    HouseholdIncome,
    Lender,
    Product,
    Site,
)
from loansvc.db.session import Database
from loansvc.demo_history import seed_history
from loansvc.domain.text import search_text
from loansvc.lending import expected, positions
from loansvc.snapshots import flows
from loansvc.web.clock import Clock

SEED = 20260101
SITE_NAME = "Stung Mean Chey"
HOUSEHOLDS = 570

FAMILY_NAMES = [
    "Sok",
    "Chan",
    "Kim",
    "Heng",
    "Meas",
    "Chea",
    "Lim",
    "Ouk",
    "Keo",
    "Pich",
    "Ros",
    "Sam",
    "Nov",
    "Yim",
]
GIVEN_NAMES = [
    "Sreymom",
    "Dara",
    "Sophea",
    "Vanna",
    "Bopha",
    "Rithy",
    "Chenda",
    "Sokha",
    "Piseth",
    "Malis",
    "Vuthy",
    "Srey Leak",
    "Kosal",
    "Channary",
    "Sovann",
    "Theary",
    "Narin",
    "Kanha",
    "Samnang",
    "Phalla",
]
MOBILE_PREFIXES = [10, 12, 15, 16, 17, 77, 78, 85, 89, 92, 96, 97]
INFORMAL = [
    ("moto-taxi", 8, 15),
    ("street vending", 5, 12),
    ("construction labour", 8, 14),
    ("tuk-tuk", 10, 18),
]

MFIS = [
    ("Angkor Housing Microfinance", "USD"),
    ("Mekong Home Finance", "USD"),
    ("Tonle Sap Community Credit", "KHR"),
]


def _money(value: int | Decimal, places: str = "1") -> Decimal:
    # the generator draws whole numbers; converting through str keeps them exact
    return Decimal(str(value)).quantize(Decimal(places))


def _household(rng: random.Random, site: Site, number: int) -> Household:
    size = rng.choice([2, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 7, 8])
    idpoor_draw = rng.random()
    idpoor = 1 if idpoor_draw < 0.08 else 2 if idpoor_draw < 0.21 else 0
    vulnerabilities = []
    if rng.random() < 0.22:
        vulnerabilities.append("female_headed")
    if rng.random() < 0.08:
        vulnerabilities.append("elderly_head")
    if rng.random() < 0.05:
        vulnerabilities.append("disability")
    if rng.random() < 0.06:
        vulnerabilities.append("chronic_illness")
    identity = {
        "parcel_code": f"SMC-{number:03d}",
        "title_number": f"PP-MC-2024-{100000 + number * 7:06d}",
        "head_name": f"{rng.choice(FAMILY_NAMES)} {rng.choice(GIVEN_NAMES)}",
        "phone": f"0{rng.choice(MOBILE_PREFIXES)} {rng.randint(100, 999)} {rng.randint(100, 999)}",
    }
    household = Household(
        site_id=site.id,
        **identity,
        search_text=search_text(**identity),
        household_size=size,
        idpoor_level=idpoor,
        vulnerabilities=vulnerabilities,
        temporary_shelter=rng.random() < 0.7,
    )
    incomes = []
    garment_workers = rng.choice([0, 1, 1, 1, 2, 2]) if idpoor == 0 else rng.choice([0, 0, 1])
    for k in range(garment_workers):
        incomes.append(
            (
                "garment wage" if k == 0 else "garment wage (second earner)",
                _money(rng.choice([208, 208, 215, 225, 240])),
                "monthly",
                "USD",
            )
        )
    if not incomes or rng.random() < 0.45:
        source, low, high = rng.choice(INFORMAL)
        if idpoor:
            low, high = low - 3, high - 5
        incomes.append((source, _money(rng.randint(low, high)), "daily", "USD"))
    if rng.random() < 0.15:
        # riel earnings from selling in the market, whole hundreds of riel
        incomes.append(("market stall (riel)", _money(rng.randint(150, 400) * 100), "daily", "KHR"))
    if rng.random() < 0.12:
        incomes.append(("rice harvest work (seasonal)", _money(rng.randint(150, 300)), "quarterly", "USD"))
    household.incomes = [
        HouseholdIncome(position=k, source=s, amount=a, frequency=f, currency=c)
        for k, (s, a, f, c) in enumerate(incomes)
    ]
    food = _money(rng.randint(25, 40) * size)
    expenses = [
        ("food", food, "monthly"),
        ("utilities and school", _money(rng.randint(25, 70)), "monthly"),
        ("health", _money(rng.randint(5, 30)), "monthly"),
    ]
    if rng.random() < 0.3:
        expenses.append(("transport to work", _money(rng.randint(1, 2)), "daily"))
    household.expenses = [
        HouseholdExpense(position=k, category=c, amount=a, frequency=f)
        for k, (c, a, f) in enumerate(expenses)
    ]
    debts = []
    if rng.random() < 0.3:
        debts.append(
            (
                "an MFI outside the programme",
                _money(rng.randint(30, 85)),
                "monthly",
                _money(rng.randint(3, 20) * 100),
            )
        )
    if rng.random() < 0.08:
        debts.append(
            ("informal moneylender", _money(rng.randint(2, 4)), "daily", _money(rng.randint(1, 4) * 100))
        )
    household.existing_debts = [
        HouseholdDebt(position=k, lender=lender, installment=i, frequency=f, outstanding=o)
        for k, (lender, i, f, o) in enumerate(debts)
    ]
    return household


def _products(lender: Lender, currency: str) -> list[Product]:
    if currency == "KHR":
        limits = dict(
            min_amount=Decimal("1000000"), max_amount=Decimal("20000000"), installment_multiple=Decimal("100")
        )
    else:
        limits = dict(min_amount=Decimal("250"), max_amount=Decimal("5000"), installment_multiple=None)
    common = dict(
        lender_id=lender.id,
        currency=currency,
        annual_rate_percent=Decimal("18"),
        interest_method="declining_balance",
        amortization="equal_installments",
        frequency="monthly",
        interest_calculation="per_period",
        day_count="actual/365",
        min_term=12,
        max_term=48,
        max_grace_principal_periods=3,
        milestones=["foundation", "structure", "roof", "finishing"],
    )
    products = [Product(name=f"Home building loan ({currency})", fees=[], **limits, **common)]
    if currency == "USD":
        # the 1 % administration fee withheld at disbursement costs about 1.9 points of APR over
        # 12 months, so the nominal rate is 16 %: the APR stays within the 18 % cap on every term
        # (17.93 % at worst, 12 months with 3 months' grace), so no approval needs an acknowledgement
        products.append(
            Product(
                name="Home improvement loan (KHR)",
                currency="KHR",
                min_amount=Decimal("1000000"),
                max_amount=Decimal("12000000"),
                installment_multiple=Decimal("100"),
                fees=[{"name": "administration", "timing": "upfront", "percent": "1"}],
                **{k: v for k, v in common.items() if k not in ("currency", "annual_rate_percent")},
                annual_rate_percent=Decimal("16"),
            )
        )
    return products


def seed_data(session: Session) -> None:
    if session.scalar(select(Site.id).where(Site.name == SITE_NAME)) is not None:
        return
    rng = random.Random(SEED)
    site = Site(name=SITE_NAME, district="Mean Chey", city="Phnom Penh")
    session.add(site)
    lenders = []
    for name, currency in MFIS:
        lender = Lender(name=name, kind="mfi", default_currency=currency)
        lenders.append(lender)
    bank = Lender(name="Programme materials bank", kind="materials_bank", default_currency="USD")
    fund = Lender(name="Community housing fund", kind="ngo_fund", default_currency="USD")
    session.add_all([*lenders, bank, fund])
    session.flush()
    for lender, (_, currency) in zip(lenders, MFIS, strict=True):
        session.add_all(_products(lender, currency))
    session.add(
        Product(
            lender_id=bank.id,
            name="Materials in kind",
            currency="USD",
            annual_rate_percent=Decimal("0"),
            interest_method="declining_balance",
            amortization="equal_installments",
            frequency="monthly",
            interest_calculation="per_period",
            day_count="actual/365",
            min_amount=Decimal("50"),
            max_amount=Decimal("2500"),
            min_term=6,
            max_term=36,
            fees=[],
            max_grace_principal_periods=3,
            installment_multiple=None,
            milestones=["foundation", "structure", "roof", "finishing"],
        )
    )
    session.add_all(_household(rng, site, n) for n in range(1, HOUSEHOLDS + 1))
    session.flush()


DEMO_ROLES = ("admin", "loan_officer", "finance_lead", "partner")


def issue_demo_keys(session: Session) -> dict[str, str]:
    partner_lender = session.scalar(select(Lender.id).where(Lender.name == MFIS[0][0]))
    keys = {}
    for role in DEMO_ROLES:
        name = f"demo-{role.replace('_', '-')}"
        existing = session.scalar(
            select(ApiKey).where(ApiKey.name.like(f"{name}%"), ApiKey.revoked_at.is_(None))
        )
        count = session.scalar(select(ApiKey.id).where(ApiKey.name.like(f"{name}%")).order_by(None).limit(1))
        suffix = "" if count is None else f"-{random.SystemRandom().randrange(16**6):06x}"
        issued = create_key(
            session,
            name=name + suffix,
            role=role,
            lender_id=partner_lender if role == "partner" else None,
            created_by="demo",
        )
        if existing is not None:  # after the new one: the last admin key cannot be revoked
            revoke_key(session, existing.name)
        keys[role] = issued.key
    return keys


def loan_changes(session: Session, today: date) -> None:
    """What the calendar and hard times do to loans: Cambodia's public holidays (future due dates
    on them move), one late family's loan restructured (three months of interest only, three more
    months), and one family that pays 300 ahead (a prepayment that shortens its loan). Once."""
    from loansvc.auth.principal import Principal
    from loansvc.db.models import Lender, Loan
    from loansvc.holidays import service as holidays
    from loansvc.lending import reads
    from loansvc.repayments import service as repayments
    from loansvc.repayments.schemas import RepaymentCreate
    from loansvc.restructures import service as restructures
    from loansvc.restructures.schemas import RestructureChanges, RestructureCreate

    admin = Principal(
        key_id="00000000-0000-5000-8000-000000000001", name="demo admin", role="admin", lender_id=None
    )
    if session.scalar(select(Loan.id).where(Loan.restructure_count > 0)) is not None:
        return
    holidays.seed(session, admin, today.year - 1, today.year + 3, today)
    mfi_loans = session.scalars(
        select(Loan)
        .join(Lender, Lender.id == Loan.lender_id)
        .where(Loan.status == "active", Lender.kind == "mfi", Loan.currency == "USD")
        .where(Loan.disbursed_amount >= Loan.approved_amount)
        .order_by(Loan.id)
    ).all()
    late = on_time = None
    for loan in mfi_loans:
        figures = reads.figures(session, loan, today, today)
        if late is None and 30 <= figures.days_past_due <= 120:
            late = loan
        elif on_time is None and figures.days_past_due == 0 and figures.outstanding_principal > 600:
            on_time = loan
    if late is not None:
        credit = Principal(
            key_id="00000000-0000-5000-8000-000000000002",
            name="MFI credit officer",
            role="partner",
            lender_id=late.lender_id,
        )
        manager = Principal(
            key_id="00000000-0000-5000-8000-000000000003",
            name="MFI branch manager",
            role="partner",
            lender_id=late.lender_id,
        )
        body = RestructureCreate(
            effective_on=today,
            reason="the family's garment income stopped for three months",
            changes=RestructureChanges(principal_grace_periods=3, extend_term_by=3, capitalise_arrears=True),
        )
        request = restructures.request(session, credit, late.id, body, today, Decimal("18"))
        restructures.approve(session, manager, request.id, today, Decimal("18"))
    if on_time is not None:
        payer = Principal(
            key_id="00000000-0000-5000-8000-000000000002",
            name="MFI credit officer",
            role="partner",
            lender_id=on_time.lender_id,
        )
        body = RepaymentCreate(amount=Decimal("300"), paid_on=today, reference="DEMO-PREPAY", channel="cash")
        repayments.record(session, payer, on_time.id, body, today)


def seed(db: Database, today: date | None = None, khr_per_usd: Decimal = Decimal("4100")) -> dict[str, str]:
    today = today or Clock().today()
    with db.transaction() as session:
        seed_data(session)
        seed_history(session, today, khr_per_usd=khr_per_usd)
        loan_changes(session, today)
        positions.refresh(session, today)  # what the nightly job would have done by today
        expected.refresh_expected(session, today)
        flows.fill(session, today - timedelta(days=1), today=today)  # and the nightly flows
        return issue_demo_keys(session)
