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
