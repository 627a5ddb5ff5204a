#!/usr/bin/env bash
# README command 2: set up, check, and run the whole suite on SQLite, then again on PostgreSQL.
source "$(dirname "$0")/_venv.sh"
PG_URL="${LOANSVC_TEST_PG_URL:-postgresql+psycopg://root@127.0.0.1:5432/test}"

echo "==> ruff"
ruff check loansvc tests scripts alembic
echo "==> import-linter (the domain core stays pure)"
lint-imports
echo "==> tests on SQLite"
unset LOANSVC_TEST_DATABASE_URL
python -m pytest -q -p no:cacheprovider "$@"

echo "==> tests on PostgreSQL ($PG_URL)"
if python - "$PG_URL" <<'PY'
import sys, psycopg
url = sys.argv[1].replace("postgresql+psycopg://", "postgresql://")
try:
    psycopg.connect(url, connect_timeout=3).close()
except Exception as exc:
    print(f"   PostgreSQL does not answer: {exc}".splitlines()[0])
    sys.exit(1)
PY
then
  LOANSVC_TEST_DATABASE_URL="$PG_URL" python -m pytest -q -p no:cacheprovider --ignore=tests/domain "$@"
elif [ "${CI:-}" = "true" ]; then
  echo "FAILED: PostgreSQL is required under CI=true"
  exit 1
else
  echo "SKIPPED: the PostgreSQL run (no server answers at $PG_URL; start one to run it)"
fi
