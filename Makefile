# Two commands do all the set-up on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test-port run test test-cluster lint venv broker postgres browser nginx bench bench-read \
	bench-user-sets clean

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

# The client port of this checkout's test broker (scripts/check-hermetic asks).
test-port:
	@echo $(KAFKA_TEST_PORT)

# Debian's chromium + chromedriver for tests/browser (apt-get when missing; root or sudo).
browser:
	@scripts/browser-local ensure >/dev/null

# Debian's nginx for tests/test_slow_clients.py (apt-get when missing; root or sudo). The
# system's nginx service is never enabled or used.
nginx:
	@scripts/prod-local ensure >/dev/null

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy adsite impressions stats scripts/bench_pipeline.py scripts/bench_read.py \
		scripts/bench scripts/scaling_table.py scripts/bench_user_sets.py tests

# `make test`'s own broker: its own ports and state folder, never make run's (9092/9093,
# .local/kafka). KAFKA_LOCAL_REUSE_FOREIGN=0: it fails rather than use a broker it did not start.
# Each checkout gets its own pair of ports, from a checksum of its path (client port even, in
# 19100-19998; controller port +1), so the test brokers of two checkouts never meet.
TEST_PORT_SEED := $(shell printf '%s' '$(CURDIR)' | cksum | cut -d' ' -f1)
KAFKA_TEST_PORT ?= $(shell echo $$((19100 + $(TEST_PORT_SEED) % 450 * 2)))
KAFKA_TEST_CONTROLLER_PORT ?= $(shell echo $$(($(KAFKA_TEST_PORT) + 1)))
KAFKA_TEST_DIR ?= $(CURDIR)/.local/kafka-test
TEST_BROKER_ENV = KAFKA_PORT=$(KAFKA_TEST_PORT) KAFKA_CONTROLLER_PORT=$(KAFKA_TEST_CONTROLLER_PORT) \
	KAFKA_LOCAL_DIR=$(KAFKA_TEST_DIR) KAFKA_LOCAL_REUSE_FOREIGN=0 \
	KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$(KAFKA_TEST_PORT)

# `make test-cluster`'s three-broker cluster (scripts/kafka-local start --brokers 3): state in
# KAFKA_TEST_DIR/cluster; node N on KAFKA_TEST_CLUSTER_PORT + 2(N-1) (controller +1). Its own
# range, 20000-22699, six ports per checkout from the same checksum: never a test broker's port
# (19100-19999), nor another checkout's cluster. KAFKA_TEST_CLUSTER_KEEP=1 leaves it running.
KAFKA_TEST_CLUSTER_PORT ?= $(shell echo $$((20000 + $(TEST_PORT_SEED) % 450 * 6)))
KAFKA_TEST_CLUSTER_SERVERS = $(shell p=$(KAFKA_TEST_CLUSTER_PORT); \
	echo 127.0.0.1:$$p,127.0.0.1:$$((p + 2)),127.0.0.1:$$((p + 4)))
CLUSTER_BROKER_ENV = KAFKA_LOCAL_DIR=$(KAFKA_TEST_DIR) KAFKA_CLUSTER_PORT=$(KAFKA_TEST_CLUSTER_PORT) \
	KAFKA_PORT=$(KAFKA_TEST_PORT) KAFKA_CONTROLLER_PORT=$(KAFKA_TEST_CONTROLLER_PORT) \
	KAFKA_CLUSTER_BOOTSTRAP_SERVERS=$(KAFKA_TEST_CLUSTER_SERVERS) \
	KAFKA_BOOTSTRAP_SERVERS=$(KAFKA_TEST_CLUSTER_SERVERS) KAFKA_REPLICATION_FACTOR=3

# The tests of everything make run's SQLite touches: recording, ingest (both paths, the pixel),
# reads, dashboard, and the as-is/to-be parity through the real broker. The consumer's failure
# tests (kill -9, PostgreSQL restarts) stay PostgreSQL-only.
SQLITE_TESTS ?= tests/impressions tests/stats/test_pipeline.py tests/stats/test_recording.py \
	tests/stats/test_rollups.py tests/stats/test_read_side.py tests/stats/test_dashboard.py \
	tests/stats/test_read_queries.py tests/stats/test_bucketing.py tests/stats/test_dead_letters.py \
	tests/stats/test_breaker.py tests/stats/test_series_edges.py tests/stats/test_completeness.py \
	tests/stats/test_completeness_kafka.py tests/stats/test_consumer_core.py \
	tests/stats/test_consumer_holes.py tests/stats/test_rebuild.py tests/stats/test_retention.py \
	tests/stats/test_semantics_lab.py \
	tests/stats/test_migration_demo.py \
	tests/stats/test_placement.py \
	tests/stats/test_replication_view.py \
	tests/stats/test_session_replaced.py

# The whole suite against the test broker and a real PostgreSQL (both installed/started if
# missing); pytest-django creates and drops the database test_<PG_DB>.
test: venv lint postgres browser nginx
	@$(TEST_BROKER_ENV) scripts/kafka-local start || { echo "make test: could not start its own \
	broker on 127.0.0.1:$(KAFKA_TEST_PORT); if the port is taken by something else, choose free \
	ones: make test KAFKA_TEST_PORT=29092 KAFKA_TEST_CONTROLLER_PORT=29093" >&2; \
	exit 1; }
	set -a && eval "$$(scripts/browser-local paths)" && set +a && \
	$(TEST_BROKER_ENV) SE_OFFLINE=true DATABASE_URL="$$(scripts/postgres-local url)" \
	$(PY) -m pytest $(PYTEST_ARGS)
	@echo "make test: second pass on SQLite, make run's default database engine (test file .local/test-db.sqlite3)"
	$(TEST_BROKER_ENV) DATABASE_URL= $(PY) -m pytest $(SQLITE_TESTS) $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-cluster

# The replication tests (tests/cluster, marker `cluster`) on a three-broker cluster and PostgreSQL:
# SIGKILL a partition's leader while ingesting, two of three brokers down = 503. About 1-2 min
# with the cluster's start; the cluster is stopped afterwards (KAFKA_TEST_CLUSTER_KEEP=1: kept).
# PYTEST_ARGS apply here too; when they select none of these tests (pytest's exit 5), that passes.
test-cluster: venv postgres
	@$(CLUSTER_BROKER_ENV) scripts/kafka-local start --brokers 3 || { echo "make test-cluster: \
	could not start the three-broker cluster on 127.0.0.1:$(KAFKA_TEST_CLUSTER_PORT)-$$(( \
	$(KAFKA_TEST_CLUSTER_PORT) + 5)); choose free ports: make test-cluster KAFKA_TEST_CLUSTER_PORT=23000" >&2; \
	exit 1; }
	@rc=0; $(CLUSTER_BROKER_ENV) DATABASE_URL="$$(scripts/postgres-local url)" \
	$(PY) -m pytest -m cluster tests/cluster $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc = 5 ]; then rc=0; fi; \
	if [ "$(KAFKA_TEST_CLUSTER_KEEP)" != 1 ]; then $(CLUSTER_BROKER_ENV) scripts/kafka-local stop --brokers 3; fi; \
	exit $$rc

# SQLite + local broker + web server + one consumer; Ctrl+C stops what it started.
run: venv
	@scripts/run-local

# Every ratio of issue 13 in one run (P1-P6, key skew, scale-out, growth; ~10-15 min), web
# paths under gunicorn; writes docs/benchmarks.md and docs/benchmarks.json. BENCH_ARGS=--help.
bench: venv broker postgres
	DATABASE_URL="$$(scripts/postgres-local url)_bench" $(PY) scripts/bench_pipeline.py $(BENCH_ARGS)

# Stats API p50/p95 over HTTP at ten million events (fills <PG_DB>_bench_read once, ~15 min).
bench-read: venv postgres
	DATABASE_URL="$$(scripts/postgres-local url)_bench_read" $(PY) scripts/bench_read.py $(BENCH_ARGS)

# The unique-user sets three ways (today's rows, integer rows, roaring bitmaps): bytes per event
# and write rate on the same events, in <PG_DB>_bench's schema user_sets (docs/benchmarks.md).
bench-user-sets: venv postgres
	DATABASE_URL="$$(scripts/postgres-local url)_bench" $(PY) scripts/bench_user_sets.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
