# Two commands do all the set-up on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint venv broker postgres bench clean

venv: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(PY) || { echo "creating virtualenv $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "installing requirements into $(VENV)"
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -r requirements.txt
	@touch $(STAMP)

broker:
	@scripts/kafka-local start

postgres:
	@scripts/postgres-local ensure >/dev/null

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy adsite impressions stats scripts/bench_pipeline.py tests

# The whole suite against a real broker and a real PostgreSQL (both installed/started if missing).
test: venv lint broker postgres
	DATABASE_URL="$$(scripts/postgres-local url)" $(PY) -m pytest $(PYTEST_ARGS)

# SQLite + local broker + web server + one consumer; Ctrl+C stops what it started.
run: venv
	@scripts/run-local

# Consumer throughput against PostgreSQL, with the as-is path measured beside it.
bench: venv broker postgres
	DATABASE_URL="$$(scripts/postgres-local url)_bench" $(PY) scripts/bench_pipeline.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
