# `make demo` and `make test` work on a fresh machine: each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint unit integration infra simulate serve clean focus-validator chromium openapi bench

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pump-anthropic run

test: lint $(STAMP) focus-validator chromium
	$(BIN)/pytest

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
