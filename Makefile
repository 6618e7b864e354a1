.PHONY: run test setup bench lint
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

# The relay benchmark (issue 7): Janus and Hearth side by side in netns hearth-peer
# (root required), every scenario, 3 repeats; writes docs/benchmarks.md (~25 min).
bench:
	../shared/tools/janus-peer start
	.venv/bin/python -m bench.relay --scenarios 1x1,4x3,6x5,2x10,2x25,12x11 --repeats 3 \
		--warmup 8 --window 20 --sfu janus,hearth --workers 6; \
		rc=$$?; ../shared/tools/janus-peer stop; exit $$rc
