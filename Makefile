# `make demo` and `make test` work on a fresh machine: each creates .venv and installs what it needs.
# The interpreter: the runtime we ship (python3.13, as template.yaml deploys) when the machine has it, pyenv's or on
# the PATH; else the newest Python >= 3.11 found. `make PYTHON=...` overrides. The venv is rebuilt when it changes.
PYTHON ?= $(shell bash scripts/pick-python.sh)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
INTERPRETER_STAMP := $(VENV)/.interpreter-$(shell $(PYTHON) -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)
# Two pytest workers on two cores: each worker has its own in-process moto and simulators on free ports.
PYTEST_WORKERS ?= 2

.PHONY: demo test check lint unit integration properties infra e2e simulator chaos simulate serve clean \
	focus-validator chromium openapi bench python

python:
	@echo "Python for .venv: $(PYTHON) ($$($(PYTHON) --version 2>&1))"

$(INTERPRETER_STAMP):
	@echo "Python for .venv: $(PYTHON) ($$($(PYTHON) --version 2>&1)); (re)building .venv"
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	touch $(INTERPRETER_STAMP)

$(STAMP): $(INTERPRETER_STAMP) requirements.txt requirements-dev.txt pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: python $(STAMP)
	$(BIN)/pump-anthropic run

test: python lint $(STAMP) focus-validator chromium
	$(BIN)/pytest -n $(PYTEST_WORKERS)

# The tiers, each runnable alone (each exits non-zero when a test fails).
unit: $(STAMP)
	$(BIN)/pytest tests/unit
integration: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) tests/integration --ignore=tests/integration/bad_input
properties: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) tests/integration/bad_input
infra: $(STAMP)
	$(BIN)/pytest tests/infra
simulator: $(STAMP)
	$(BIN)/pytest tests/simulator
e2e: $(STAMP) chromium
	$(BIN)/pytest tests/e2e
chaos: $(STAMP) ; PUMP_CHAOS=long $(BIN)/pytest tests/integration/test_chaos.py

# The fast inner loop: ruff and the unit tier (pure: no sockets, no AWS), well under a minute.
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest tests/unit -q

# Debian's Chromium for the dashboard's browser test, when missing. Idempotent.
chromium:
	bash scripts/install-chromium.sh

# FinOps focus-validator in its own virtualenv (.venv/focus-validator); the FOCUS export test runs it. Idempotent.
focus-validator:
	bash scripts/focus-validator.sh install

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/cfn-lint template.yaml

simulate: $(STAMP)
	$(BIN)/pump-anthropic simulate --port 8765

serve: $(STAMP)
	$(BIN)/pump-anthropic serve --port 8080

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# Regenerate the committed OpenAPI document (a test fails when it is stale).
openapi: $(STAMP)
	$(BIN)/python -c "import json; from pump_anthropic.api.openapi import openapi_document; \
	print(json.dumps(openapi_document(), indent=2, sort_keys=True))" > docs/openapi.json

# Benchmarks on the embedded default: one table, appended to bench/RESULTS.md (~10.5 min on 2 cores; ~12 min on a fresh clone, the peer install and layer builds included).
# `make bench BENCH_ARGS=--quick` is a small smoke run; `--only cold_start` runs one script.
bench: $(STAMP)
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)
