"""The page routes, one module per area; each router refuses a POST without the CSRF token."""

from __future__ import annotations

from loansvc.ui.pages import account, affordability, dashboard, households, loans, materials, simulate, visits

ROUTERS = [
    account.router,
    households.router,
    affordability.router,
    loans.router,
    simulate.router,
    materials.router,
    visits.router,
    dashboard.router,
]
