"""Registry use cases: create and read lenders, products, sites and households, scoped by caller.

A partner key sees only its own lender's products and the households with a live consent to share
their file with its lender; anything else is reported as not found, never as forbidden, so its
existence is not revealed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from loansvc.affordability.policies import policy_record
from loansvc.auth.principal import Principal
from loansvc.db.base import utcnow
from loansvc.db.models import (
    Household,
    HouseholdDebt,
    HouseholdExpense,
    HouseholdIncome,
    HouseholdLender,
    Lender,
    Product,
    Site,
)
from loansvc.db.query import page
from loansvc.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from loansvc.domain.money import round_money
from loansvc.domain.text import search_terms, search_text
from loansvc.lending import households
from loansvc.registry import repository
from loansvc.registry.schemas import (
    HouseholdCreate,
    HouseholdPatch,
    LenderCreate,
    ProductCreate,
    SiteCreate,
)

# Lenders ------------------------------------------------------------------------------------------


def create_lender(session: Session, body: LenderCreate) -> Lender:
    if repository.name_taken(session, Lender, body.name):
        raise Conflict(f"a lender named {body.name!r} already exists", code="LENDER_NAME_TAKEN")
    lender = Lender(name=body.name, kind=body.kind, default_currency=body.default_currency)
    session.add(lender)
    session.flush()
    return lender


def list_lenders(session: Session, limit: int, offset: int) -> tuple[list[Lender], int]:
    return page(session, repository.lenders_query(), limit, offset)


def get_lender(session: Session, lender_id: str) -> Lender:
    lender = session.get(Lender, lender_id)
    if lender is None:
        raise NotFound(f"no lender {lender_id}", code="LENDER_NOT_FOUND")
    return lender


# Products -----------------------------------------------------------------------------------------


def _check_minor_units(value: Decimal | None, currency: str, field: str) -> None:
    if value is not None and value != round_money(value, currency):
        raise InvalidInput(
            f"{field} has more decimals than {currency} allows", code="TOO_MANY_DECIMALS", field=field
        )


def check_legal_limits(annual_rate_percent: Decimal, interest_method: str, rate_cap_percent: Decimal) -> None:
    """NBC limits every lender is held to (MFI, NGO fund, materials bank): a nominal rate above the
    cap, or flat interest, is never lent. Any way of writing a product's rate or method calls this."""
    if annual_rate_percent > rate_cap_percent:
        raise InvalidInput(
            f"the nominal rate {annual_rate_percent}% a year is above the legal cap of {rate_cap_percent}%",
            code="RATE_ABOVE_LEGAL_CAP",
            field="annual_rate_percent",
        )
    if interest_method == "flat":
        raise InvalidInput(
            "flat-rate interest is prohibited: lend on the declining balance "
            "(a flat offer can still be simulated and compared, never lent)",
            code="FLAT_RATE_PROHIBITED",
            field="interest_method",
        )


def create_product(
    session: Session,
    principal: Principal,
    body: ProductCreate,
    *,
    rate_cap_percent: Decimal,
    khr_per_usd: Decimal | None = None,
) -> Product:
    """`rate_cap_percent`: the legal cap (settings); `khr_per_usd`: the app's riel rate, for the
    default policy if a named version brings it into use."""
    if principal.is_partner and body.lender_id != principal.lender_id:
        raise Forbidden("a partner creates products for its own lender only", code="OTHER_LENDER")
    lender = session.get(Lender, body.lender_id)
    if lender is None:
        raise InvalidInput(f"no lender {body.lender_id}", code="UNKNOWN_LENDER", field="lender_id")
    check_legal_limits(body.annual_rate_percent, body.interest_method, rate_cap_percent)
    if lender.kind == "materials_bank":
        for k, fee in enumerate(body.fees):
            if fee.timing == "upfront":  # nothing to withhold it from: the loan is paid out in goods
                raise InvalidInput(
                    "a materials-bank loan is disbursed in kind, so an upfront fee cannot be withheld "
                    "from it: charge the fee per installment",
                    code="UPFRONT_FEE_IN_KIND",
                    field=f"fees[{k}].timing",
                )
    if body.policy_version is not None:
        policy_record(session, khr_per_usd=khr_per_usd)  # the default version exists from first use on
        policy_record(session, body.policy_version)  # 422 UNKNOWN_POLICY naming policy_version
    if repository.product_name_taken(session, lender.id, body.name):
        raise Conflict(f"the lender already has a product named {body.name!r}", code="PRODUCT_NAME_TAKEN")
    for field in ("min_amount", "max_amount", "installment_multiple"):
        _check_minor_units(getattr(body, field), body.currency, field)
    for k, fee in enumerate(body.fees):
        _check_minor_units(fee.amount, body.currency, f"fees[{k}].amount")
    product = Product(
        lender_id=lender.id,
        name=body.name,
        currency=body.currency,
        annual_rate_percent=body.annual_rate_percent,
        interest_method=body.interest_method,
        amortization=body.amortization,
        frequency=body.frequency,
        interest_calculation=body.interest_calculation,
        day_count=body.day_count,
        min_amount=body.min_amount,
        max_amount=body.max_amount,
        min_term=body.min_term,
        max_term=body.max_term,
        fees=[fee.model_dump(mode="json", exclude_none=True) for fee in body.fees],
        max_grace_principal_periods=body.max_grace_principal_periods,
        installment_multiple=body.installment_multiple,
        milestones=list(body.milestones),
        policy_version=body.policy_version,
        allocation_order=list(body.allocation_order),
        prepayment=body.prepayment,
        holiday_rule=body.holiday_rule,
        allow_credit_balance=body.allow_credit_balance,
        materials_gated=body.materials_gated,
        late_fee=body.late_fee,
        late_fee_after_days=body.late_fee_after_days,
    )
    session.add(product)
    session.flush()
    return product


def list_products(
    session: Session, principal: Principal, limit: int, offset: int, lender_id: str | None = None
):
    scope = principal.lender_scope
    if scope is not None and lender_id not in (None, scope):
        return [], 0
    return page(session, repository.products_query(scope or lender_id), limit, offset)


def get_product(session: Session, principal: Principal, product_id: str) -> Product:
    product = session.get(Product, product_id)
    scope = principal.lender_scope
    if product is None or (scope is not None and product.lender_id != scope):
        raise NotFound(f"no product {product_id}", code="PRODUCT_NOT_FOUND")
    return product


# Sites --------------------------------------------------------------------------------------------


def create_site(session: Session, body: SiteCreate) -> Site:
    if repository.name_taken(session, Site, body.name):
        raise Conflict(f"a site named {body.name!r} already exists", code="SITE_NAME_TAKEN")
    site = Site(name=body.name, district=body.district, city=body.city)
    session.add(site)
    session.flush()
    return site


def list_sites(session: Session, limit: int, offset: int) -> tuple[list[Site], int]:
    return page(session, repository.sites_query(), limit, offset)


def get_site(session: Session, site_id: str) -> Site:
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound(f"no site {site_id}", code="SITE_NOT_FOUND")
    return site


# Households ---------------------------------------------------------------------------------------


def _finance_lines(body: HouseholdCreate | HouseholdPatch, household: Household) -> bool:
    """Replace the lines the body sends; whether it sent any."""
    if body.incomes is not None:
        household.incomes = [
            HouseholdIncome(position=k, **i.model_dump()) for k, i in enumerate(body.incomes)
        ]
    if body.expenses is not None:
        household.expenses = [
            HouseholdExpense(position=k, **e.model_dump()) for k, e in enumerate(body.expenses)
        ]
    if body.existing_debts is not None:
        household.existing_debts = [
            HouseholdDebt(position=k, **d.model_dump()) for k, d in enumerate(body.existing_debts)
        ]
    return any(lines is not None for lines in (body.incomes, body.expenses, body.existing_debts))


def _parcel_taken(parcel_code: str) -> Conflict:
    return Conflict(f"parcel {parcel_code} of this site already has a household", code="PARCEL_TAKEN")


def _title_taken(title_number: str) -> Conflict:
    return Conflict(
        f"title number {title_number} already belongs to another household's parcel",
        code="TITLE_TAKEN",
        field="title_number",
    )


@contextmanager
def _unique_claims(
    session: Session, site_id: str, parcel_code: str, title_number: str | None, other_than: str | None = None
) -> Iterator[None]:
    """Write a household's parcel and title in a savepoint: when the unique indexes refuse them
    because a concurrent request took one first, the answer is the same 409 as the checks give."""
    try:
        with session.begin_nested():
            yield
    except IntegrityError as exc:
        if repository.parcel_taken(session, site_id, parcel_code, other_than=other_than):
            raise _parcel_taken(parcel_code) from exc
        if title_number is not None and repository.title_taken(session, title_number, other_than=other_than):
            raise _title_taken(title_number) from exc
        raise


def _search_text(household: Household) -> str:
    return search_text(
        head_name=household.head_name,
        parcel_code=household.parcel_code,
        title_number=household.title_number,
        phone=household.phone,
    )


def create_household(session: Session, body: HouseholdCreate) -> Household:
    if session.get(Site, body.site_id) is None:
        raise InvalidInput(f"no site {body.site_id}", code="UNKNOWN_SITE", field="site_id")
    if repository.parcel_taken(session, body.site_id, body.parcel_code):
        raise _parcel_taken(body.parcel_code)
    if body.title_number is not None and repository.title_taken(session, body.title_number):
        raise _title_taken(body.title_number)
    scalars = body.model_dump(exclude={"incomes", "expenses", "existing_debts"})
    household = Household(**scalars)
    household.incomes, household.expenses, household.existing_debts = [], [], []
    set_committed_value(household, "consents", [])  # a new household has consented to nothing yet
    set_committed_value(household, "collateral_held", [])  # and no lender holds anything of it
    _finance_lines(body, household)
    household.search_text = _search_text(household)
    with _unique_claims(session, body.site_id, body.parcel_code, body.title_number):
        session.add(household)
        session.flush()
    return household


def list_households(
    session: Session,
    principal: Principal,
    site_id: str | None,
    limit: int,
    offset: int,
    *,
    q: str | None = None,
    parcel_code: str | None = None,
    idpoor_level: int | None = None,
):
    """`q` finds a family by name, parcel, title or phone (folded, as a substring; exact first)."""
    query = repository.households_query(site_id, principal.lender_scope)
    parcel_code = (parcel_code or "").strip() or None  # blank: no filter, as for q
    query = repository.households_matching(query, search_terms(q), parcel_code, idpoor_level)
    return page(session, query, limit, offset)


def get_household(session: Session, principal: Principal, household_id: str) -> Household:
    household = households.household(session, household_id, principal.lender_scope)
    if household is None:
        raise NotFound(f"no household {household_id}", code="HOUSEHOLD_NOT_FOUND")
    return household


def patch_household(
    session: Session, principal: Principal, household_id: str, body: HouseholdPatch
) -> Household:
    household = get_household(session, principal, household_id)
    changes = body.model_dump(exclude_unset=True, exclude={"incomes", "expenses", "existing_debts"})
    for required in (
        "parcel_code", "head_name", "household_size", "idpoor_level", "temporary_shelter", "vulnerabilities",
        "language",
    ):
        if required in changes and changes[required] is None:
            raise InvalidInput(f"{required} cannot be null", field=required)
    if "parcel_code" in changes and repository.parcel_taken(
        session, household.site_id, changes["parcel_code"], other_than=household.id
    ):
        raise _parcel_taken(changes["parcel_code"])
    if changes.get("title_number") is not None and repository.title_taken(
        session, changes["title_number"], other_than=household.id
    ):
        raise _title_taken(changes["title_number"])
    parcel_code = changes.get("parcel_code", household.parcel_code)
    title_number = changes.get("title_number", household.title_number)
    changed = any(getattr(household, key) != value for key, value in changes.items())
    with _unique_claims(session, household.site_id, parcel_code, title_number, other_than=household.id):
        for key, value in changes.items():
            setattr(household, key, value)
        household.search_text = _search_text(household)
        # the lines are rows of their own: the household row's onupdate never sees them change
        if _finance_lines(body, household) or changed:
            household.updated_at = utcnow()
        session.flush()
    return household


def link_household_to_lender(session: Session, household_id: str, lender_id: str) -> None:
    """Record that a household applied to a lender (what a partner may see is its consent's business:
    loansvc.lending.households)."""
    if session.get(HouseholdLender, (household_id, lender_id)) is None:
        session.add(HouseholdLender(household_id=household_id, lender_id=lender_id))
        session.flush()
