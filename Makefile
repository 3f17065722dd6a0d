# The two commands a newcomer needs: `make up` runs the platform, `make test` runs the tests.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: up demo test lint bench clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml $(VENV)/.run-installed
	$(BIN)/pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.run-installed

up: $(VENV)/.run-installed  ## run NATS (embedded), the four services and the gateway on :8000
	$(BIN)/swp up

demo: $(VENV)/.run-installed  ## load the demo county 640402 原州区 into a running platform
	$(BIN)/swp demo

test: $(VENV)/.test-installed  ## the whole suite: unit, integration (real NATS + PostgreSQL + SQLite), contracts
	$(BIN)/python -m pytest

bench: $(VENV)/.test-installed  ## benchmarks vs raw baselines → BENCHMARKS.md and var/bench/results.json
	$(BIN)/python -m bench.run

lint: $(VENV)/.test-installed
	$(BIN)/ruff check shared services tests
	$(BIN)/lint-imports

clean:
	rm -rf var .pytest_cache .hypothesis
