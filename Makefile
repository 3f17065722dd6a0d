# The two commands a newcomer needs: `make up` runs the platform, `make test` runs the tests.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: up demo test lint bench clean install system-deps

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

# Debian packages some tests use: nginx (the gateway config, started for real) and
# docker-compose (validates deploy/compose.yaml), and postgresql-client (pg_dump/pg_restore: `swp
# backup`/`swp restore` of PostgreSQL stores and their test). Installed when running as root with
# apt; elsewhere those tests skip and say so. Nothing is started: the test runs its own nginx.
DEPLOY_PACKAGES := nginx-light docker-compose postgresql-client
# Debian's headless Chromium, its driver and a CJK font for the console's browser tests
# (tests/browser: Selenium uses /usr/bin/chromedriver, never a downloaded browser). Without
# them those tests skip; with CI=true they fail.
BROWSER_PACKAGES := chromium chromium-driver fonts-wqy-microhei
# Node and npm run the real OpenID Connect provider of the identity tests (the certified
# oidc-provider package, pinned in tests/oidc/package-lock.json; the test fixture runs `npm ci`
# into var/oidc-provider/). Without them those tests skip; with CI=true they fail.
NODE_PACKAGES := nodejs npm
system-deps:
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing $(NODE_PACKAGES) (apt) for the identity tests' OIDC provider"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    { apt-get update -q >/dev/null 2>&1; apt-get install -y -q --no-install-recommends $(NODE_PACKAGES) >/dev/null 2>&1; } \
	      || echo "note: could not install $(NODE_PACKAGES); the OIDC tests will skip (fail with CI=true)"; \
	  else echo "note: $(NODE_PACKAGES) missing (not root or no apt); the OIDC tests will skip (fail with CI=true)"; fi; \
	fi
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi wenquanyi; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing $(BROWSER_PACKAGES) (apt) for the browser tests"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    { apt-get update -q >/dev/null 2>&1; apt-get install -y -q --no-install-recommends $(BROWSER_PACKAGES) >/dev/null 2>&1; } \
	      || echo "note: could not install $(BROWSER_PACKAGES); the browser tests will skip (fail with CI=true)"; \
	  else echo "note: $(BROWSER_PACKAGES) missing (not root or no apt); the browser tests will skip (fail with CI=true)"; fi; \
	fi
	@if ! command -v nginx >/dev/null 2>&1 || ! command -v docker-compose >/dev/null 2>&1 || ! command -v pg_dump >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing $(DEPLOY_PACKAGES) (apt) for the deploy tests"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q --no-install-recommends $(DEPLOY_PACKAGES) >/dev/null 2>&1 \
	      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends $(DEPLOY_PACKAGES) >/dev/null 2>&1; } \
	      || echo "note: could not install $(DEPLOY_PACKAGES); some deploy and backup tests will skip"; \
	  else echo "note: $(DEPLOY_PACKAGES) missing (not root or no apt); some deploy and backup tests will skip"; fi; \
	fi

up: $(VENV)/.run-installed  ## run NATS (embedded), the four services and the gateway on :8000
	$(BIN)/swp up

demo: $(VENV)/.run-installed  ## load the demo county 640402 原州区 into a running platform
	$(BIN)/swp demo

test: $(VENV)/.test-installed system-deps  ## the whole suite: unit, integration (real NATS + PostgreSQL + SQLite), contracts
	$(BIN)/python -m pytest

bench: $(VENV)/.test-installed  ## benchmarks vs raw baselines → BENCHMARKS.md and var/bench/results.json
	$(BIN)/python -m bench.run

lint: $(VENV)/.test-installed
	$(BIN)/ruff check shared services tests
	$(BIN)/lint-imports

clean:
	rm -rf var .pytest_cache .hypothesis
