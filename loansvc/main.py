"""create_app(): settings, database, routers and error handlers."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from loansvc import __version__, ui
from loansvc.affordability.housing_router import router as housing_router
from loansvc.affordability.router import router as affordability_router
from loansvc.auth.router import router as api_keys_router
from loansvc.auth.service import recent_keys
from loansvc.config import Settings, get_settings
from loansvc.db.session import Database
from loansvc.health.router import router as health_router
from loansvc.holidays.router import router as holidays_router
from loansvc.loans.router import router as loans_router
from loansvc.materials.router import router as materials_router
from loansvc.notify.router import router as notify_router
from loansvc.notify.worker import Worker
from loansvc.protection.complaints_router import router as complaints_router
from loansvc.protection.contacts_router import router as contacts_router
from loansvc.protection.custody_router import router as custody_router
from loansvc.protection.router import router as protection_router
from loansvc.registry.router import router as registry_router
from loansvc.repayments.router import router as repayments_router
from loansvc.reports.follow_up_router import router as follow_up_reports_router
from loansvc.reports.router import router as reports_router
from loansvc.restructures.router import router as restructures_router
from loansvc.schedules.router import router as schedules_router
from loansvc.web import docs, problems, query_check
from loansvc.web.clock import Clock
from loansvc.web.middleware import BodyLimitMiddleware, RequestLogMiddleware

DESCRIPTION = """
Housing loans for families rebuilding on titled parcels in upgraded settlements
(pilot: Stung Mean Chey, Phnom Penh).

Every endpoint except `GET /health` needs `Authorization: Bearer <key>`. Money and rates travel
as decimal strings. Errors are RFC 9457 problem details with a stable `code`.
"""

ROUTERS = [
    health_router,
    api_keys_router,
    registry_router,
    schedules_router,
    affordability_router,
    housing_router,
    materials_router,
    loans_router,
    protection_router,
    custody_router,
    complaints_router,
    contacts_router,
    repayments_router,
    restructures_router,
    holidays_router,
    reports_router,
    follow_up_reports_router,
    notify_router,
]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The delivery worker (webhooks, queued reminders) runs with the app unless settings say not;
    what startup built is kept out of the collector's full passes while the app serves (gc_freeze)."""
    settings = app.state.settings
    worker = Worker(app.state.db, settings) if settings.worker_enabled else None
    if worker:
        worker.start()
    if settings.gc_freeze:
        gc.collect()  # startup's garbage first: frozen objects are never collected
        gc.freeze()
    try:
        yield
    finally:
        if settings.gc_freeze:
            gc.unfreeze()
        if worker:
            worker.stop()


def create_app(
    settings: Settings | None = None, database: Database | None = None, clock: Clock | None = None
) -> FastAPI:
    settings = settings or get_settings()
    logging.basicConfig(level=settings.log_level, format="%(message)s")
    app = FastAPI(
        title="loansvc",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan,
        **docs.app_options(settings),
    )
    app.state.settings = settings
    app.state.db = database or Database.configured(settings)
    app.state.clock = clock or Clock()
    recent_keys.ttl = settings.auth_cache_seconds
    query_check.install(app)  # before the routers: every route refuses unknown query parameters
    for router in ROUTERS:
        app.include_router(router)
    docs.install(app, settings)  # the bearer scheme in the spec; /docs from the package
    problems.install(app)
    ui.install(app)  # the pages under /ui/, session cookie, / -> /ui/ (wraps the error handlers above)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestLogMiddleware)
    return app
