# Gennaker developer entry points. `make up` runs the product, `make test` runs everything CI runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DATA_DIR ?= $(CURDIR)/.gennaker

.PHONY: up test lint typecheck unit bench lock clean ui ui-check system-packages screenshots

# Real components the slow tests start themselves: OpenLDAP's slapd, Chromium for the browser tests,
# Prometheus for the canary metric source.
SYSTEM_PACKAGES := slapd ldap-utils chromium docker-registry prometheus
system-packages:
	@if ! dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES); \
	fi

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e '.[test]'
	touch $@

# Front-end packages from npm (pinned by web/package-lock.json), copied into the package's static files.
# The copies are committed, so a wheel or `pip install .` from a clone needs no npm; `make ui` refreshes
# them after a change to web/, and `make ui-check` (run by `make test`) fails if they differ from npm's.
ui:
	npm ci --prefix web --no-audit --no-fund
	node web/build.mjs

ui-check: ui
	git diff --exit-code --stat -- src/gennaker/ui/static/vendor

up: $(VENV)/.installed
	GENNAKER_DATA_DIR=$(DATA_DIR) $(VENV)/bin/gennaker up --load-examples examples

lint: $(VENV)/.installed
	$(PY) -m ruff check src tests bench

typecheck: $(VENV)/.installed
	$(PY) -m mypy

test: lint typecheck system-packages ui-check
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) bench/engine.py --json
	$(PY) bench/api.py --json
	$(PY) bench/expressions.py --json
	$(PY) bench/kubernetes.py --json
	$(PY) bench/bake.py --json
	$(PY) bench/ui.py --json
	$(PY) bench/cli.py --json
	$(PY) bench/startup.py --json
	$(PY) bench/triggers.py --json
	$(PY) bench/jenkins.py --json

# Screenshots of the main pages for docs/img and the README, taken by the browser tests.
screenshots: $(VENV)/.installed system-packages
	GENNAKER_SCREENSHOTS=docs/img $(PY) -m pytest -q tests/e2e/test_browser.py

# Re-pin the lock after changing dependencies in pyproject.toml.
lock: $(VENV)/.installed
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
