.PHONY: run test test-fast setup bench bench-relay bench-memory bench-feel bench-signaling lint
# Quick start: `make run` serves Hearth; `make test` runs every test.
run:
	@scripts/setup.sh
	.venv/bin/hearth serve

test:
	@scripts/test.sh

# The pure and in-process tests (no browser, no cluster, no media): under a minute.
test-fast:
	@scripts/test-fast.sh

setup:
	@scripts/setup.sh

lint:
	.venv/bin/ruff check . && .venv/bin/mypy

# Every benchmark, one after the other; each rewrites its own section of
# docs/benchmarks.md (and the relay's PNG charts). Root is required for the relay
# part: Janus and Hearth run side by side in the network namespace hearth-peer, which
# bench/janus/janus-peer creates (and installs Janus from Debian if missing). Needs a
# quiet host: about an hour.
bench: bench-relay bench-memory bench-feel bench-signaling

bench-relay:
	bench/janus/janus-peer start
	.venv/bin/python -m bench.relay --scenarios 1x1,4x3,6x5,2x10,2x25,12x11 --repeats 3 \
		--warmup 8 --window 20 --sfu janus,hearth --workers 6; \
		rc=$$?; bench/janus/janus-peer stop; exit $$rc

# Hearth's memory on a fresh process, then 100 create → 6x5 → end cycles (retained RSS).
bench-memory:
	bench/janus/janus-peer start
	.venv/bin/python -m bench.relay --memory --cycles 100 --soak-scenario 6x5 --warmup 2 \
		--window 3 --workers 6; \
		rc=$$?; bench/janus/janus-peer stop; exit $$rc

# What a person feels: breakout switch at the relay, then join, chat and breakouts in Chromium
# (three people, then six with where each switch spends its time).
bench-feel:
	.venv/bin/python -m bench.switch --repeats 20
	.venv/bin/python -m bench.browser --repeats 10
	.venv/bin/python -m bench.breakouts --repeats 10
	.venv/bin/python -m bench.breakouts --people 6 --repeats 10

bench-signaling:
	.venv/bin/python -m bench.signaling --clients 1000 --sessions 100 --stores embedded,redis \
		--rate 0.05
