"""Affordability: versioned policies, assessments (quick and recorded), house models, plans, coverage.

The modules, by job: `policies` (versions, the default), `inputs` (a household's finances and
programme loans as the engine's input), `products` (a product's loan request, fee terms and
limits), `assessments` (quick, recorded and application assessments, reads, replay), `plan`,
`coverage` and `housing`. The names below are what other features (loan applications, the demo)
call, so they read `from loansvc import affordability` and `affordability.<name>`.
"""

from loansvc.affordability.assessments import assess_for_application, assessment_view
from loansvc.affordability.inputs import household_input
from loansvc.affordability.policies import engine_policy, policy_record
from loansvc.affordability.products import (
    check_product_limits,
    fee_terms,
    housing_model_exists,
    product_loan_request,
)

__all__ = [
    "assess_for_application",
    "assessment_view",
    "check_product_limits",
    "engine_policy",
    "fee_terms",
    "household_input",
    "housing_model_exists",
    "policy_record",
    "product_loan_request",
]
