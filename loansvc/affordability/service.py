"""Affordability use cases: policies, quick and recorded assessments, and replay.

A recorded assessment counts the household's declared debts plus the installments of its approved
and active loans with every lender in loansvc, so a family cannot borrow its way round the check
at a second lender. A partner sees only the total of those other loans, never their lenders or
amounts. Every stored assessment keeps its policy version and a snapshot of its inputs.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loansvc.affordability import repository
from loansvc.affordability.schemas import AssessRequest, LoanIn, PolicyCreate, RecordedAssessRequest
from loansvc.auth.principal import Principal
from loansvc.config import get_settings
from loansvc.db.models import Assessment, Household, Lender, Loan, Product
from loansvc.db.models import Policy as PolicyRecord
from loansvc.domain import affordability as policy_engine
from loansvc.domain.errors import Conflict, InvalidInput, NotFound
from loansvc.domain.schedule import Fee, FeeTiming, monthly_equivalent_factor
from loansvc.registry import repository as registry_repository

DEFAULT_VERSION = policy_engine.DEFAULT_POLICY.version


# Policies -----------------------------------------------------------------------------------------


def _default_record() -> PolicyRecord:
    policy = policy_engine.Policy(khr_per_usd=get_settings().khr_per_usd)
    return PolicyRecord(
        version=policy.version,
        parameters=policy.to_dict(),
        is_default=True,
        created_by="system",
        notes="the programme's default policy",
    )


def policy_record(session: Session, version: str | None = None) -> PolicyRecord:
    """The named policy version, or the default one (created on first use from the code's defaults)."""
    if version is not None:
        record = session.get(PolicyRecord, version)
        if record is None:
            raise InvalidInput(f"no policy version {version}", code="UNKNOWN_POLICY", field="policy_version")
        return record
    record = repository.default_policy(session)
    if record is None:
        try:
            with session.begin_nested():
                session.add(_default_record())
        except IntegrityError:  # another request created it first
            pass
        record = repository.default_policy(session)
    return record


def engine_policy(record: PolicyRecord) -> policy_engine.Policy:
    return policy_engine.Policy.from_dict(record.parameters)


def create_policy(session: Session, principal: Principal, body: PolicyCreate) -> PolicyRecord:
    if session.get(PolicyRecord, body.version) is not None:
        raise Conflict(
            f"policy version {body.version} exists and is never changed; choose a new version",
            code="POLICY_VERSION_EXISTS",
        )
    base = policy_record(session, body.base_version)
    parameters = {**base.parameters, **body.parameters, "version": body.version}
    try:
        policy = policy_engine.Policy.from_dict(parameters)
    except InvalidInput as exc:
        raise InvalidInput(
            exc.message, code="INVALID_POLICY", field=f"parameters.{exc.field or 'version'}"
        ) from exc
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"invalid policy parameters: {exc}", code="INVALID_POLICY", field="parameters"
        ) from exc
    if body.make_default:
        for record in session.scalars(repository.policies_query()):
            record.is_default = False
    record = PolicyRecord(
        version=body.version,
        parameters=policy.to_dict(),
        is_default=body.make_default,
        created_by=principal.name,
        notes=body.notes,
    )
    session.add(record)
    session.flush()
    return record


# Inputs -------------------------------------------------------------------------------------------


def fee_terms(raw: list[dict[str, Any]]) -> tuple[Fee, ...]:
    """Fee terms stored as JSON (decimal strings) on a product or a loan's frozen terms."""
    return tuple(
        Fee(
            name=f["name"],
            timing=FeeTiming(f.get("timing", "upfront")),
            amount=Decimal(f["amount"]) if f.get("amount") is not None else None,
            percent=Decimal(f["percent"]) if f.get("percent") is not None else None,
        )
        for f in raw or []
    )


def product_loan_request(
    product: Product, amount: Decimal | None, term: int, grace: int
) -> policy_engine.LoanRequest:
    return policy_engine.LoanRequest(
        amount=amount,
        annual_rate_percent=product.annual_rate_percent,
        term=term,
        frequency=product.frequency,
        interest_method=product.interest_method,
        amortization=product.amortization,
        grace_principal_periods=grace,
        installment_multiple=product.installment_multiple,
        fees=fee_terms(product.fees),
        interest_calculation=product.interest_calculation,
        day_count=product.day_count,
    )


def visible_product(session: Session, principal: Principal, product_id: str, field: str) -> Product:
    product = session.get(Product, product_id)
    if product is None or (principal.is_partner and product.lender_id != principal.lender_id):
        raise InvalidInput(f"no product {product_id}", code="UNKNOWN_PRODUCT", field=field)
    return product


def check_product_limits(
    product: Product, amount: Decimal | None, term: int, grace: int, prefix: str
) -> None:
    if not product.min_term <= term <= product.max_term:
        raise InvalidInput(
            f"term must be between {product.min_term} and {product.max_term} for this product",
            code="TERM_OUT_OF_RANGE",
            field=f"{prefix}term",
        )
    if amount is not None and not product.min_amount <= amount <= product.max_amount:
        raise InvalidInput(
            f"amount must be between {product.min_amount.normalize():f} and "
            f"{product.max_amount.normalize():f}",
            code="AMOUNT_OUT_OF_RANGE",
            field=f"{prefix}amount",
        )
    if grace > product.max_grace_principal_periods:
        raise InvalidInput(
            f"this product allows at most {product.max_grace_principal_periods} grace periods",
            code="GRACE_OUT_OF_RANGE",
            field=f"{prefix}grace_principal_periods",
        )


def loan_request(
    session: Session, principal: Principal, loan: LoanIn, currency: str
) -> tuple[policy_engine.LoanRequest, Product | None]:
    if loan.product_id is None:
        return policy_engine.LoanRequest(
            amount=loan.amount,
            annual_rate_percent=loan.annual_rate_percent,
            term=loan.term,
            frequency=loan.frequency or "monthly",
            interest_method=loan.interest_method or "declining_balance",
            amortization=loan.amortization or "equal_installments",
            grace_principal_periods=loan.grace_principal_periods,
        ), None
    product = visible_product(session, principal, loan.product_id, "loan.product_id")
    if product.currency != currency:
        raise InvalidInput(
            f"the product lends in {product.currency}; assess in that currency",
            code="CURRENCY_MISMATCH",
            field="currency",
        )
    check_product_limits(product, loan.amount, loan.term, loan.grace_principal_periods, "loan.")
    return product_loan_request(product, loan.amount, loan.term, loan.grace_principal_periods), product


def _lines(
    rows, amount_attr: str, label_attr: str, default_currency: str
) -> tuple[policy_engine.CashLine, ...]:
    return tuple(
        policy_engine.CashLine(
            label=getattr(r, label_attr),
            amount=getattr(r, amount_attr),
            frequency=r.frequency,
            currency=r.currency or default_currency,
        )
        for r in rows
    )


def programme_loans(
    session: Session,
    household_id: str,
    currency: str,
    khr_per_usd: Decimal,
    exclude_loan_id: str | None = None,
) -> list[dict[str, Any]]:
    """Each approved or active loan of the household in loansvc, with its monthly installment."""
    from loansvc.domain.schedule import build_schedule
    from loansvc.loans.disbursements import loan_terms  # a loan's frozen terms; loans import this module
    from loansvc.loans.repository import installments

    out = []
    for loan in repository.committed_loans(session, household_id, exclude_loan_id):
        # what is still to come on the current schedule, and what the whole approval promises:
        # a loan partly disbursed will grow to its approved amount, so the larger of the two counts
        to_come = [r.total for r in installments(session, loan) if r.fully_paid_on is None]
        promised = build_schedule(
            loan_terms(
                loan, loan.approved_amount, loan.first_disbursed_on or loan.decided_on or loan.submitted_on
            )
        )
        if not to_come and loan.disbursed_amount >= loan.approved_amount:
            continue  # everything is already paid ahead of schedule
        largest = max([*to_come, max(i.total for i in promised.installments)])
        factor = monthly_equivalent_factor((loan.terms or {}).get("frequency", "monthly"))
        monthly = policy_engine.to_currency(largest * factor, loan.currency, currency, khr_per_usd)
        out.append(
            {
                "loan_id": loan.id,
                "lender_id": loan.lender_id,
                "currency": loan.currency,
                "monthly_installment": str(monthly),
            }
        )
    return out


def household_input(
    session: Session,
    household: Household,
    currency: str,
    loan: policy_engine.LoanRequest | None,
    as_of: date,
    policy: policy_engine.Policy,
    exclude_loan_id: str | None = None,
    overrides: AssessRequest | None = None,
) -> tuple[policy_engine.AssessmentInput, list[dict[str, Any]]]:
    household = registry_repository.household(session, household.id) or household
    programme = programme_loans(session, household.id, currency, policy.khr_per_usd, exclude_loan_id)
    incomes = _lines(household.incomes, "amount", "source", "USD")
    expenses = _lines(household.expenses, "amount", "category", "USD")
    debts = tuple(
        policy_engine.DebtLine(
            lender=d.lender,
            installment=d.installment,
            frequency=d.frequency,
            outstanding=d.outstanding,
            currency=d.currency or "USD",
        )
        for d in household.existing_debts
    )
    size, idpoor = household.household_size, household.idpoor_level
    if overrides is not None:  # a loan officer's "what if" on a registered household
        incomes = _request_lines(overrides.incomes, "source") if overrides.incomes else incomes
        expenses = _request_lines(overrides.expenses, "category") if overrides.expenses else expenses
        debts = _request_debts(overrides) if overrides.existing_debts else debts
        size = overrides.household_size or size
        idpoor = overrides.idpoor_level if overrides.idpoor_level is not None else idpoor
    # the engine counts the declared lenders itself; here only the lenders inside loansvc
    lenders = {p["lender_id"] for p in programme}
    extra = sum((Decimal(p["monthly_installment"]) for p in programme), Decimal(0))
    inp = policy_engine.AssessmentInput(
        currency=currency,
        household_size=size,
        idpoor_level=idpoor,
        incomes=incomes,
        expenses=expenses,
        existing_debts=debts,
        loan=loan,
        active_lenders=len(lenders),
        extra_debt_service=extra,
        as_of=as_of,
    )
    return inp, programme


def _request_lines(lines, label_attr: str) -> tuple[policy_engine.CashLine, ...]:
    return tuple(
        policy_engine.CashLine(
            label=getattr(x, label_attr), amount=x.amount, frequency=x.frequency, currency=x.currency
        )
        for x in lines or []
    )


def _request_debts(body: AssessRequest) -> tuple[policy_engine.DebtLine, ...]:
    return tuple(
        policy_engine.DebtLine(
            lender=d.lender,
            installment=d.installment,
            frequency=d.frequency,
            outstanding=d.outstanding,
            currency=d.currency,
        )
        for d in body.existing_debts
    )


# Assessments --------------------------------------------------------------------------------------


def visible_household(
    session: Session, principal: Principal, household_id: str, field: str | None = None
) -> Household:
    lender = principal.lender_id if principal.is_partner else None
    household = registry_repository.household(session, household_id, lender)
    if household is None:
        if field is not None:
            raise InvalidInput(f"no household {household_id}", code="UNKNOWN_HOUSEHOLD", field=field)
        raise NotFound(f"no household {household_id}", code="HOUSEHOLD_NOT_FOUND")
    return household


def _policy_for(session: Session, product: Product | None) -> PolicyRecord:
    return policy_record(session, product.policy_version if product is not None else None)


def quick_assess(session: Session, principal: Principal, body: AssessRequest, today: date) -> dict[str, Any]:
    """POST /v1/affordability/assess: nothing is stored."""
    loan, product = (None, None)
    if body.loan is not None:
        loan, product = loan_request(session, principal, body.loan, body.currency)
    record = _policy_for(session, product)
    policy = engine_policy(record)
    if body.household_id is not None:
        household = visible_household(session, principal, body.household_id, field="household_id")
        inp, _ = household_input(session, household, body.currency, loan, today, policy, overrides=body)
    else:
        inp = policy_engine.AssessmentInput(
            currency=body.currency,
            household_size=body.household_size,
            idpoor_level=body.idpoor_level or 0,
            incomes=_request_lines(body.incomes, "source"),
            expenses=_request_lines(body.expenses, "category"),
            existing_debts=_request_debts(body),
            loan=loan,
            as_of=today,
        )
    return policy_engine.assess(inp, policy).to_dict()


def _store(
    session: Session,
    principal: Principal,
    household: Household,
    product: Product | None,
    record: PolicyRecord,
    inp: policy_engine.AssessmentInput,
    programme: list[dict[str, Any]],
) -> Assessment:
    result = policy_engine.assess(inp, engine_policy(record))
    assessment = Assessment(
        household_id=household.id,
        lender_id=product.lender_id if product else principal.lender_id,
        product_id=product.id if product else None,
        policy_version=record.version,
        inputs={**inp.to_dict(), "programme_loans": programme},
        result=result.to_dict(),
        decision=result.decision,
        created_by=principal.name,
        created_by_role=principal.role,
    )
    session.add(assessment)
    session.flush()
    return assessment


def record_assessment(
    session: Session, principal: Principal, household_id: str, body: RecordedAssessRequest, today: date
) -> Assessment:
    household = visible_household(session, principal, household_id)
    currency = body.currency
    if currency is None:
        currency = session.get(Product, body.loan.product_id).currency if body.loan.product_id else "USD"
    loan, product = loan_request(session, principal, body.loan, currency)
    record = _policy_for(session, product)
    inp, programme = household_input(session, household, currency, loan, today, engine_policy(record))
    return _store(session, principal, household, product, record, inp, programme)


def assess_for_application(
    session: Session,
    principal: Principal,
    household: Household,
    product: Product,
    *,
    amount: Decimal,
    term: int,
    grace_principal_periods: int,
    as_of: date,
) -> Assessment:
    """The assessment attached to a loan application, under the product's policy."""
    record = _policy_for(session, product)
    loan = product_loan_request(product, amount, term, grace_principal_periods)
    inp, programme = household_input(session, household, product.currency, loan, as_of, engine_policy(record))
    return _store(session, principal, household, product, record, inp, programme)


def list_assessments(session: Session, principal: Principal, household_id: str) -> list[Assessment]:
    visible_household(session, principal, household_id)
    lender = principal.lender_id if principal.is_partner else None
    return list(session.scalars(repository.assessments_query(household_id, lender)))


def assessment_view(assessment: Assessment, principal: Principal) -> dict[str, Any]:
    """What a caller may see: partners get other lenders' loans as a total; finance leads no inputs."""
    view = {"id": assessment.id, "policy_version": assessment.policy_version, **assessment.result}
    return view


def inputs_view(assessment: Assessment, principal: Principal) -> dict[str, Any] | None:
    if principal.role == "finance_lead":
        return None
    inputs = dict(assessment.inputs)
    programme = inputs.pop("programme_loans", [])
    if principal.is_partner:
        others = [p for p in programme if p["lender_id"] != principal.lender_id]
        own = [p for p in programme if p["lender_id"] == principal.lender_id]
        inputs["programme_loans"] = own
        inputs["other_programme_loans"] = {
            "count": len(others),
            "monthly_installments": str(sum((Decimal(p["monthly_installment"]) for p in others), Decimal(0))),
        }
    else:
        inputs["programme_loans"] = programme
    return inputs


def get_assessment(session: Session, principal: Principal, assessment_id: str) -> Assessment:
    assessment = session.get(Assessment, assessment_id)
    if assessment is None or (principal.is_partner and assessment.lender_id != principal.lender_id):
        raise NotFound(f"no assessment {assessment_id}", code="ASSESSMENT_NOT_FOUND")
    return assessment


def replay(session: Session, principal: Principal, assessment_id: str) -> dict[str, Any]:
    """Re-run a stored assessment from its snapshot under its recorded policy version."""
    assessment = get_assessment(session, principal, assessment_id)
    inputs = {k: v for k, v in assessment.inputs.items() if k != "programme_loans"}
    record = policy_record(session, assessment.policy_version)
    replayed = policy_engine.assess(
        policy_engine.AssessmentInput.from_dict(inputs), engine_policy(record)
    ).to_dict()
    return {
        "assessment_id": assessment.id,
        "policy_version": record.version,
        "matches": replayed == assessment.result,
        "recorded": assessment.result,
        "replayed": replayed,
    }


def housing_model_exists(session: Session, code: str) -> bool:
    return repository.housing_model(session, code) is not None


def lender_name(session: Session, lender_id: str) -> str:
    lender = session.get(Lender, lender_id)
    return lender.name if lender else lender_id


__all__ = ["Loan"]
