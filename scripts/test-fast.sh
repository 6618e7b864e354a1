#!/usr/bin/env bash
# The fast tests: pure state machines, policy, stores (the in-memory one, SQLite and a
# real redis-server), configuration, tokens, generated docs, import direction and the
# benchmark helpers. No browser, no cluster, no media peers, no server processes:
# under a minute. `make test` runs everything.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pytest ] || scripts/setup.sh
exec .venv/bin/pytest -q -m "not browser and not cluster" \
  tests/rooms tests/test_docs.py tests/test_architecture.py \
  tests/server/test_config.py \
  tests/signaling/test_protocol_doc.py tests/signaling/test_tokens.py \
  tests/signaling/test_ratelimit.py tests/signaling/test_chat_log.py \
  tests/bench/test_common.py "$@"
