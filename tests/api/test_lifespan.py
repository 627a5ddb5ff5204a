"""The app's lifespan: what startup built is frozen out of the garbage collector's full passes while
the app serves (LOANSVC_GC_FREEZE, on by default; the suite turns it off for its own apps), and
given back to the collector when it stops."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from loansvc.config import Settings
from loansvc.main import create_app


def test_serving_freezes_what_startup_built_and_stopping_gives_it_back(db, database_url):
    assert Settings.model_fields["gc_freeze"].default is True
    before = gc.get_freeze_count()
    app = create_app(Settings(database_url=database_url, gc_freeze=True), database=db)
    with TestClient(app) as client:
        # the app, its routes and the modules imported: far more than a request makes
        assert gc.get_freeze_count() - before > 10_000
        assert client.get("/health").status_code == 200
    assert gc.get_freeze_count() == 0


def test_off_the_collector_is_left_as_python_has_it(db, database_url):
    before = gc.get_freeze_count()
    app = create_app(Settings(database_url=database_url, gc_freeze=False), database=db)
    with TestClient(app) as client:
        assert gc.get_freeze_count() == before
        assert client.get("/health").status_code == 200
