# callops: `make run` starts everything, `make test` runs every test.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# The newest Python 3.11+ on this machine (Django 5.2 supports 3.10–3.13; we need 3.11+).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)

.PHONY: run test lint format bench install e2e

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "callops needs Python 3.11 or newer (python3.11 on PATH)."; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: $(VENV)/.installed
	CALLOPS_LOG_FORMAT=$${CALLOPS_LOG_FORMAT:-text} $(BIN)/python manage.py run

test: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.installed
	@# The conversation metrics benchmark defaults to issue 21's million transcripts: a minute's size here.
	@# Each benchmark ends with a SUMMARY line (bench/summary.py): repeated together at the end.
	@log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	for script in bench/bench_*.py; do echo "== $$script"; \
		BENCH_CONVERSATION_CALLS=$${BENCH_CONVERSATION_CALLS:-100000} $(BIN)/python $$script | tee -a $$log; \
		test $${PIPESTATUS[0]} -eq 0 || exit 1; done; \
	echo "== summary (ratios are to a reference measured in the same run)"; grep '^SUMMARY' $$log || true
