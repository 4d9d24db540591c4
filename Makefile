# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Installed before shoal's `torch>=2.2,<3` range, so pip keeps it: on these machines
# torch==2.13.0 resolves to a CPU wheel on disk, where a bare `torch` pulls a multi-GB CUDA build.
TORCH ?= torch==2.13.0

.PHONY: demo test lint unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Stamps make re-runs instant; they are rebuilt when pyproject.toml changes.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[torch,dashboard]"
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[dev,torch,dashboard]"
	@touch $@

demo: $(VENV)/.installed
	$(BIN)/shoal demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/lint-imports

# PostgreSQL and Chromium come from Debian's packages; the tests start and stop their own server,
# and drive /usr/bin/chromium for the dashboard's browser tests.
unit: $(VENV)/.installed-dev
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-chromium.sh
	$(BIN)/pytest

test: lint unit

bench: $(VENV)/.installed-dev
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/python benchmarks/bench_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
