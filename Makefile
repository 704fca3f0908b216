# Two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-full screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ledger serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

bench: $(STAMP)  # under 3 minutes: every figure beside its baseline, SQLite and PostgreSQL
	$(BIN)/python -m bench

bench-full: $(STAMP)  # the issue's sizes (200k backfill, ledgers of 1M events): ~20 minutes here
	$(BIN)/python -m bench --full

screenshots: $(STAMP)  # the README's pictures of the console, from the demo (needs chromium)
	$(BIN)/python -m docs.screenshots

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
