#!/usr/bin/env bash
# Create .venv, install Hearth pinned, fetch the browser libraries. Idempotent and quick
# when nothing changed (stamps record what was installed).
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PY"
  "$PY" -m venv .venv
fi
stamp=.venv/.hearth-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python packages (pinned in pyproject.toml)"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
  touch "$stamp"
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  if ! command -v npm >/dev/null; then
    echo "setup: npm is missing. Install it with: apt-get install -y npm" >&2
    exit 1
  fi
  echo "setup: installing browser libraries with npm ci"
  npm ci --ignore-scripts --no-audit --no-fund --silent
fi
