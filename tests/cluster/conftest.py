"""Fixtures of the replication tests: the three-broker cluster of `make test-cluster`
(scripts/kafka-local start --brokers 3), a fresh topic with three replicas on it, a way to kill
and restart one node, and the runconsumer process."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from impressions.publisher import close_publisher
from stats.kafka_admin import ensure_topics
from tests.conftest import ROOT, database_url

KAFKA_LOCAL = str(ROOT / "scripts" / "kafka-local")


@pytest.fixture(scope="session")
def cluster_servers() -> list[str]:
    """The cluster's bootstrap servers (KAFKA_CLUSTER_BOOTSTRAP_SERVERS, set by `make
    test-cluster`). Missing = a failed test, with what to do."""
    servers = [s for s in os.environ.get("KAFKA_CLUSTER_BOOTSTRAP_SERVERS", "").split(",") if s]
    if len(servers) != 3:
        pytest.fail(
            "KAFKA_CLUSTER_BOOTSTRAP_SERVERS must name the three nodes of the cluster: run "
            "`make test-cluster` (it starts `scripts/kafka-local start --brokers 3`)",
            pytrace=False,
        )
    return servers


def node_control(action: str, node: int) -> None:
    """`scripts/kafka-local kill-node|start-node N` on the cluster of this environment."""
    subprocess.run([KAFKA_LOCAL, f"{action}-node", str(node)], check=True, cwd=ROOT)


def start_node_in_background(node: int) -> subprocess.Popen[bytes]:
    """`scripts/kafka-local start-node N`, returning at once (it takes ~10 s)."""
    return subprocess.Popen([KAFKA_LOCAL, "start-node", str(node)], cwd=ROOT)


@pytest.fixture
def all_nodes_up(cluster_servers: list[str]) -> Iterator[None]:
    """Every node runs before the test and after it, whatever the test killed."""
    for node in (1, 2, 3):
        node_control("start", node)
    yield
    for node in (1, 2, 3):
        node_control("start", node)


@pytest.fixture
def cluster_topic(cluster_servers: list[str], settings: Any, all_nodes_up: None) -> Iterator[str]:
    """A fresh 3-partition topic with three replicas (and its .dlq); the app uses the cluster."""
    settings.KAFKA_BOOTSTRAP_SERVERS = cluster_servers
    settings.KAFKA_REPLICATION_FACTOR = 3
    name = f"test-replicated-{uuid.uuid4().hex[:10]}"
    ensure_topics(topic=name, partitions=3, replication_factor=3)
    settings.IMPRESSIONS_TOPIC = name
    yield name
    close_publisher(timeout=10)


def min_insync_replicas(servers: list[str], topic: str) -> str:
    """The topic's effective min.insync.replicas (the cluster's default unless set on it)."""
    admin = KafkaAdminClient(bootstrap_servers=servers)
    try:
        found = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {"min.insync.replicas": None})],
            config_filter="all",
        ).get("topic", {})
    finally:
        admin.close()
    return str(found[topic]["min.insync.replicas"]["value"])


@pytest.fixture
def cluster_consumer(
    cluster_topic: str, cluster_servers: list[str], tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `manage.py runconsumer` on the cluster topic and the test database."""
    started: list[subprocess.Popen[bytes]] = []
    group = f"test-replicated-{uuid.uuid4().hex[:10]}"

    def start(*args: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "KAFKA_BOOTSTRAP_SERVERS": ",".join(cluster_servers),
            "KAFKA_REPLICATION_FACTOR": "3",
        }
        command = [sys.executable, "manage.py", "runconsumer", "--topic", cluster_topic]
        with open(tmp_path / "consumer.log", "ab") as log:
            proc = subprocess.Popen(
                [*command, "--group", group, *args], cwd=ROOT, env=env, stderr=log
            )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
