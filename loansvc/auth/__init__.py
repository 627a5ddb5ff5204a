"""API keys, roles and lender scoping."""
