#!/usr/bin/env bash
# README command 1: set up, seed the Stung Mean Chey demo on SQLite, and serve on 127.0.0.1:8000.
source "$(dirname "$0")/_venv.sh"
export LOANSVC_DATABASE_URL="${LOANSVC_DATABASE_URL:-sqlite:///./loansvc.db}"
PORT="${PORT:-8000}"
loansvc demo --port "$PORT"
echo "==> serving on http://127.0.0.1:$PORT (Ctrl-C to stop)"
exec loansvc serve --host 127.0.0.1 --port "$PORT"
