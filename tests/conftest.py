"""Shared fixtures: a real broker (fail, never skip, when it is missing), fresh topics, clients."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from hypothesis import settings as hypothesis_settings
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from impressions.publisher import close_publisher
from stats.kafka_admin import ensure_topics

ROOT = Path(__file__).resolve().parent.parent

# Property-based tests (Hypothesis, schemathesis) explore new inputs on every local run; in CI
# (CI=true) they replay the same derandomized examples, so a run's verdict does not depend on
# the draw. A failure found locally is kept in .hypothesis/ and replayed first.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `cluster` need the three-broker cluster of `make test-cluster` (which runs
    them with `-m cluster`): they are left out unless the -m expression names `cluster`."""
    if "cluster" in (config.getoption("markexpr") or ""):
        return
    chosen = [item for item in items if item.get_closest_marker("cluster") is None]
    if len(chosen) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in chosen])
        items[:] = chosen


def _broker_answers(servers: list[str]) -> str | None:
    host, _, port = servers[0].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        KafkaAdminClient(bootstrap_servers=servers, bootstrap_timeout_ms=5000).close()
    except Exception as exc:  # noqa: BLE001 - any failure means "no usable broker"
        return f"{exc.__class__.__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def kafka_servers() -> list[str]:
    """The real broker (KAFKA_BOOTSTRAP_SERVERS). Missing = a failed test, with what to do.

    `make test` points it at its own broker (a port of the checkout's, `make test-port`), never at
    make run's.
    """
    servers = list(django_settings.KAFKA_BOOTSTRAP_SERVERS)
    problem = _broker_answers(servers)
    if problem:
        pytest.fail(
            f"no Kafka broker answers at {','.join(servers)} ({problem}). "
            "Run `make test` (it starts its own broker on `make test-port`), or start a broker "
            "with scripts/kafka-local and set KAFKA_BOOTSTRAP_SERVERS to it.",
            pytrace=False,
        )
    return servers


@pytest.fixture
def topic(kafka_servers: list[str], settings: Any) -> Iterator[str]:
    """A fresh 3-partition topic (and its .dlq) that the to-be API publishes to in this test."""
    name = f"test-impressions-{uuid.uuid4().hex[:10]}"
    ensure_topics(topic=name, partitions=3, replication_factor=1)
    settings.IMPRESSIONS_TOPIC = name
    yield name
    close_publisher()


@pytest.fixture
def group(settings: Any) -> str:
    name = f"test-stats-{uuid.uuid4().hex[:10]}"
    settings.STATS_CONSUMER_GROUP = name
    return name


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def staff_user(db: Any) -> Any:
    return get_user_model().objects.create_user(
        "staff", password="staff-password", is_staff=True, is_superuser=True
    )


@pytest.fixture
def stats_client(staff_user: Any) -> APIClient:
    """A client that authenticates with a DRF token, as an API user would."""
    client = APIClient()
    token = Token.objects.create(user=staff_user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def run_consumer(topic: str, group: str) -> Callable[..., None]:
    """Run `manage.py runconsumer --exit-when-idle` in this process until the topic is drained."""

    def run(**options: Any) -> None:
        options.setdefault("exit_when_idle", 2.0)
        options.setdefault("progress_interval", 60.0)
        call_command("runconsumer", topic=topic, group=group, **options)

    return run


def database_url() -> str:
    """A DATABASE_URL for the database this test process uses (the test database)."""
    cfg = connection.settings_dict
    if cfg["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{cfg['NAME']}"
    return f"postgres://{cfg['USER']}:{cfg['PASSWORD']}@{cfg['HOST']}:{cfg['PORT']}/{cfg['NAME']}"


@pytest.fixture
def consumer_process(
    topic: str, group: str, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `python manage.py runconsumer` as a separate process on the test database.

    Its log goes to the terminal, or to `log` when given (to be read by the test).
    """
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "KAFKA_BOOTSTRAP_SERVERS": ",".join(django_settings.KAFKA_BOOTSTRAP_SERVERS),
        }
        command = [sys.executable, "manage.py", "runconsumer", "--topic", topic, "--group", group]
        if log is None:
            proc = subprocess.Popen([*command, *args], cwd=ROOT, env=env)
        else:
            with open(log, "wb") as output:  # the child keeps its own copy of the descriptor
                proc = subprocess.Popen([*command, *args], cwd=ROOT, env=env, stderr=output)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def raw_producer(kafka_servers: list[str]) -> Iterator[KafkaProducer]:
    """A plain producer for writing bytes straight to a topic (poison records, bulk loads)."""
    producer = KafkaProducer(bootstrap_servers=kafka_servers, linger_ms=5)
    yield producer
    producer.close()


def read_topic(servers: list[str], topic: str, *, expect: int, timeout_s: float = 20) -> list[Any]:
    """Read records from the start of `topic` until `expect` arrived or the timeout passed."""
    reader = KafkaConsumer(
        topic,
        bootstrap_servers=servers,
        group_id=None,
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(timeout_s * 1000),
    )
    records = []
    for record in reader:
        records.append(record)
        if len(records) >= expect:
            break
    reader.close()
    return records
