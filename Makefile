# The commands of the README. Each does its own set-up.
VENV ?= .venv
EXAMPLE ?= examples/wine-sklearn
PYTEST_ARGS ?=
# make run inside make test (tests/test_readme.py): no "Entering directory" lines after the verdict
MAKEFLAGS += --no-print-directory

.PHONY: run test check lint setup clean

setup:
	@scripts/setup-venv

run: setup
	$(VENV)/bin/mlops run $(EXAMPLE)

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Before each commit: the lint and the unit tier (in-process tests, tests/tiers.py), in under two minutes.
check: lint
	$(VENV)/bin/python -m pytest -m unit $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo

clean:
	rm -rf $(VENV) .pytest_cache
