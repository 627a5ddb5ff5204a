"""HTTP for affordability: quick and recorded assessments, replay, versioned policies, financing
plans and programme coverage."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from loansvc.affordability import assessments, coverage, plan, policies
from loansvc.affordability.schemas import (
    AssessmentResult,
    AssessRequest,
    CoverageOut,
    CoverageRequest,
    FinancingPlanOut,
    FinancingPlanRequest,
    PolicyCreate,
    PolicyOut,
    RecordedAssessRequest,
    ReplayOut,
    StoredAssessmentOut,
)
from loansvc.auth.principal import Principal
from loansvc.fields import Page
from loansvc.web.deps import ALL_ROLES, PageDep, SessionDep, SettingsDep, TodayDep, require
from loansvc.web.problems import AUTH_ERRORS, responses

router = APIRouter(prefix="/v1", tags=["affordability"])


def _stored_out(assessment, principal: Principal) -> StoredAssessmentOut:
    return StoredAssessmentOut(
        id=assessment.id,
        household_id=assessment.household_id,
        lender_id=assessment.lender_id,
        product_id=assessment.product_id,
        policy_version=assessment.policy_version,
        decision=assessment.decision,
        result=assessment.result,
        inputs=assessments.inputs_view(assessment, principal),
        created_by=assessment.created_by,
        created_at=assessment.created_at,
    )


@router.post(
    "/affordability/assess", response_model=AssessmentResult, responses=responses(*AUTH_ERRORS, 404, 422)
)
def assess(
    body: AssessRequest,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    principal: Principal = require("loan_officer", "partner"),
):
    """A quick cash-flow check with reasons and stress tests. Nothing is stored."""
    return assessments.quick_assess(session, principal, body, today, khr_per_usd=settings.khr_per_usd)


@router.post(
    "/households/{household_id}/assessments",
    status_code=201,
    response_model=StoredAssessmentOut,
    responses=responses(*AUTH_ERRORS, 404, 422),
)
def record_assessment(
    household_id: str,
    body: RecordedAssessRequest,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    principal: Principal = require("loan_officer", "partner"),
):
    """Assess a registered household from its recorded finances and its loans with every lender."""
    assessment = assessments.record_assessment(
        session, principal, household_id, body, today, khr_per_usd=settings.khr_per_usd
    )
    return _stored_out(assessment, principal)


@router.get(
    "/households/{household_id}/assessments",
    response_model=Page[StoredAssessmentOut],
    responses=responses(*AUTH_ERRORS, 404),
)
def list_assessments(
    household_id: str,
    session: SessionDep,
    page: PageDep,
    principal: Principal = require("loan_officer", "partner"),
):
    """The household's assessments, newest first, a page at a time."""
    items, total = assessments.list_assessments(session, principal, household_id, page.limit, page.offset)
    return Page[StoredAssessmentOut](
        items=[_stored_out(a, principal) for a in items], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/assessments/{assessment_id}", response_model=StoredAssessmentOut, responses=responses(*AUTH_ERRORS, 404)
)
def get_assessment(
    assessment_id: str, session: SessionDep, principal: Principal = require("loan_officer", "partner")
):
    return _stored_out(assessments.get_assessment(session, principal, assessment_id), principal)


@router.post(
    "/assessments/{assessment_id}/replay", response_model=ReplayOut, responses=responses(*AUTH_ERRORS, 404)
)
def replay_assessment(
    assessment_id: str, session: SessionDep, principal: Principal = require("loan_officer", "partner")
):
    """Re-run a stored assessment from its snapshot under its recorded policy version."""
    return assessments.replay(session, principal, assessment_id)


@router.get("/policies", response_model=Page[PolicyOut], responses=responses(*AUTH_ERRORS))
def list_policies(
    session: SessionDep, page: PageDep, settings: SettingsDep, principal: Principal = require(*ALL_ROLES)
):
    items, total = policies.list_policies(session, page.limit, page.offset, khr_per_usd=settings.khr_per_usd)
    return Page[PolicyOut](items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/policies/{version}", response_model=PolicyOut, responses=responses(*AUTH_ERRORS, 404))
def get_policy(
    version: str, session: SessionDep, settings: SettingsDep, principal: Principal = require(*ALL_ROLES)
):
    return policies.get_policy(session, version, khr_per_usd=settings.khr_per_usd)


@router.post(
    "/policies", status_code=201, response_model=PolicyOut, responses=responses(*AUTH_ERRORS, 409, 422)
)
def create_policy(
    body: PolicyCreate, session: SessionDep, settings: SettingsDep, principal: Principal = require("admin")
):
    """A new policy version (existing versions are never changed); optionally the new default."""
    return policies.create_policy(session, principal, body, khr_per_usd=settings.khr_per_usd)


@router.post(
    "/households/{household_id}/financing-plan",
    response_model=FinancingPlanOut,
    responses=responses(*AUTH_ERRORS, 404, 422),
)
def financing_plan(
    household_id: str,
    body: FinancingPlanRequest,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    principal: Principal = require("loan_officer", "partner"),
):
    """How this family can build this house at the least cost of credit: its contribution, then, within
    its capacity and the policy, the combination of the materials-bank loan (materials only) and the
    partner loan with the lowest interest and fees, a grant for ID Poor or vulnerable households for
    what credit leaves unpaid, and what is still missing; each part's interest and fees, the whole's,
    and one sentence explaining the choice. Nothing is stored."""
    return plan.financing_plan(
        session,
        principal,
        household_id,
        body,
        today,
        khr_per_usd=settings.khr_per_usd,
        grant_cap_usd=settings.grant_cap_usd,
    )


@router.post(
    "/analysis/coverage",
    response_model=CoverageOut,
    responses={
        200: {
            "content": {"text/csv": {}},
            "description": "JSON, or with format=csv one row per model x scenario",
        },
        **responses(*AUTH_ERRORS, 422),
    },
    tags=["analysis"],
)
def programme_coverage(
    body: CoverageRequest,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    format: Annotated[Literal["json", "csv"], Query(description="json, or csv")] = "json",
    principal: Principal = require("finance_lead", "loan_officer"),
):
    """For each house design and set of loan terms: how many households can borrow the whole cost
    without subsidy, the subsidy that reaches every household (total and median), and both by
    income decile. Vectorised over households and scenarios; the exact engine stays the
    authority for any one family's figures."""
    report = coverage.run(session, body, today, khr_per_usd=settings.khr_per_usd)
    if format == "csv":
        return Response(
            coverage.to_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="coverage.csv"'},
        )
    return report
