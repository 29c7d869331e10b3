PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint bench install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/bsdflow up

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/commands.py --seconds 10
	$(BIN)/python bench/projections.py --events 50000
	$(BIN)/python bench/freshness.py --seconds 10
	$(BIN)/python bench/fairness.py
	$(BIN)/python bench/subscribers.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/graphql.py
	$(BIN)/python bench/audit.py
	$(BIN)/python bench/rules.py
	$(BIN)/python bench/scheduler.py
	$(BIN)/python bench/workflows.py
	$(BIN)/python bench/imports.py
	$(BIN)/python bench/import_readers.py
	$(BIN)/python bench/make_run.py

clean:
	rm -rf $(VENV) .bsdflow
