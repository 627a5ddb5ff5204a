"""Affordability: versioned policies, assessments (quick and recorded), house models, plans, coverage."""
