"""Whether the database answers, for GET /health."""

from __future__ import annotations

from sqlalchemy import Engine, text


def database_answers(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
