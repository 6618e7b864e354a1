#!/usr/bin/env bash
# The whole test suite: lint, types, unit/integration tests, then browser tests in a
# pytest process of their own (sync Playwright and pytest-asyncio must not share a loop).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-deps.sh
scripts/setup.sh

echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy
echo "== pytest (services, media, signaling)"
.venv/bin/pytest -m "not browser" "$@"
echo "== pytest (browser, real Chromium)"
set +e
.venv/bin/pytest -m browser "$@"
rc=$?
set -e
# Exit 5 means no browser test was collected (e.g. a -k filter); anything else counts.
if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then exit "$rc"; fi
