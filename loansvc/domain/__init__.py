"""The pure domain core: money, schedules, rates, affordability, arrears.

Nothing here imports fastapi, sqlalchemy, pydantic, pandas or the rest of loansvc
(an import-linter contract in CI keeps it so).
"""
