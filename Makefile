.PHONY: run test setup bench bench-relay bench-feel bench-signaling lint
# Quick start: `make run` serves Hearth; `make test` runs every test.
run:
	@scripts/setup.sh
	.venv/bin/hearth serve

test:
	@scripts/test.sh

setup:
	@scripts/setup.sh

lint:
	.venv/bin/ruff check . && .venv/bin/mypy

# Every benchmark (issue 7), one after the other; each rewrites its own section of
# docs/benchmarks.md (and the relay's PNG charts). Root is required for the relay
# part: Janus and Hearth run side by side in the netns hearth-peer. About 45 minutes.
bench: bench-relay bench-feel bench-signaling

bench-relay:
	../shared/tools/janus-peer start
	.venv/bin/python -m bench.relay --scenarios 1x1,4x3,6x5,2x10,2x25,12x11 --repeats 3 \
		--warmup 8 --window 20 --sfu janus,hearth --workers 6; \
		rc=$$?; ../shared/tools/janus-peer stop; exit $$rc

# What a person feels: breakout switch at the relay, then join, chat and breakouts in Chromium.
bench-feel:
	.venv/bin/python -m bench.switch --repeats 20
	.venv/bin/python -m bench.browser --repeats 10
	.venv/bin/python -m bench.breakouts --repeats 10

bench-signaling:
	.venv/bin/python -m bench.signaling --clients 1000 --sessions 100 --stores embedded,redis \
		--rate 0.05
