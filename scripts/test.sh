#!/usr/bin/env bash
# README command 2: set up, check, and run the whole suite on SQLite, then again on PostgreSQL.
source "$(dirname "$0")/_venv.sh"
PG_URL="${LOANSVC_TEST_PG_URL:-postgresql+psycopg://root@127.0.0.1:5432/test}"
if [ ! -x /usr/bin/chromium ]; then  # the pages' browser tests (tests/ui) drive Debian's Chromium
  echo "==> installing chromium and the Khmer fonts"
  apt-get update -qq && apt-get install -y -qq chromium fonts-khmeros
fi

echo "==> ruff"
ruff check loansvc tests scripts alembic
echo "==> import-linter (the domain core stays pure)"
lint-imports
echo "==> tests on SQLite"
unset LOANSVC_TEST_DATABASE_URL
python -m pytest -q -p no:cacheprovider "$@"
echo "==> fuzzing the API over its spec (schemathesis, in-process, SQLite, admin and partner keys)"
LOANSVC_FUZZ=1 python -m pytest -q -p no:cacheprovider tests/test_schemathesis.py
echo "==> the demo on SQLite"
LOANSVC_DATABASE_URL="sqlite:///$(mktemp -d)/demo.db" loansvc demo --no-serve >/dev/null

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
  echo "==> the demo on PostgreSQL (a database of its own, made afresh)"
  DEMO_URL="$(python - "$PG_URL" <<'PY'
import sys, psycopg
url = sys.argv[1].replace("postgresql+psycopg://", "postgresql://")
base, _, name = url.rpartition("/")
demo = f"{name.split('?')[0]}_demo"
with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
    conn.execute(f'DROP DATABASE IF EXISTS "{demo}"')
    conn.execute(f'CREATE DATABASE "{demo}"')
print(f"postgresql+psycopg://{base.split('://', 1)[1]}/{demo}")
PY
)"
  LOANSVC_DATABASE_URL="$DEMO_URL" loansvc demo --no-serve >/dev/null
elif [ "${CI:-}" = "true" ]; then
  echo "FAILED: PostgreSQL is required under CI=true"
  exit 1
else
  echo "SKIPPED: the PostgreSQL run (no server answers at $PG_URL; start one to run it)"
fi
