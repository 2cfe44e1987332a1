"""The consumer under failure: kill -9, SIGTERM, rebalance, database and broker outages, poison."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from kafka import KafkaProducer
from rest_framework.test import APIClient

from impressions.models import Impression
from stats.kafka_admin import dead_letter_topic
from stats.models import PartitionOffset
from tests.conftest import ROOT, read_topic
from tests.stats.topic_data import (
    assert_counted_exactly,
    counted_per_ad,
    processed,
    produce_events,
    wait_for,
    wait_for_progress,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_kill_9_mid_run_then_restart_loses_and_doubles_nothing(
    raw_producer: KafkaProducer,
    topic: str,
    consumer_process: Callable[..., subprocess.Popen[bytes]],
) -> None:
    total = 40_000
    expected = produce_events(raw_producer, topic, total)

    first = consumer_process("--batch-size", "500", "--progress-interval", "60")
    done_at_kill = wait_for_progress(first, at_least=5_000)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert done_at_kill < total, "killed too late to prove anything; raise the event count"

    second = consumer_process("--exit-when-idle", "3", "--progress-interval", "60")
    assert second.wait(timeout=300) == 0
    assert_counted_exactly(expected, total)


def test_sigterm_stops_cleanly_and_a_restart_finishes(
    raw_producer: KafkaProducer,
    topic: str,
    consumer_process: Callable[..., subprocess.Popen[bytes]],
) -> None:
    total = 20_000
    expected = produce_events(raw_producer, topic, total)
    first = consumer_process("--batch-size", "500")
    wait_for_progress(first, at_least=2_000)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 0  # finished its batch, closed, left the group
    stopped_at = processed()
    assert stopped_at < total, "it stopped after the work was done: that proves nothing"
    # Nothing half-done: the ledger covers exactly the rows and the counts that were committed.
    assert Impression.objects.count() == stopped_at
    assert sum(counted_per_ad().values()) == stopped_at

    second = consumer_process("--exit-when-idle", "3")
    assert second.wait(timeout=300) == 0
    assert_counted_exactly(expected, total)


def test_poison_records_go_to_the_dead_letter_topic(
    raw_producer: KafkaProducer,
    topic: str,
    run_consumer: Callable[..., None],
    kafka_servers: list[str],
) -> None:
    good = {
        "schema_version": 1,
        "ad_id": "ad-p",
        "user_id": "u",
        "timestamp": "2026-11-25T08:00:00Z",
    }
    values = [
        json.dumps({**good, "event_id": str(uuid.uuid4())}).encode(),
        b"{this is not json",
        json.dumps(
            {k: v for k, v in good.items() if k != "user_id"} | {"event_id": str(uuid.uuid4())}
        ).encode(),
        json.dumps({**good, "event_id": str(uuid.uuid4()), "user_id": 12345}).encode(),
        b"\xff\xfe binary",
        json.dumps({**good, "event_id": str(uuid.uuid4()), "user_id": "nul\u0000"}).encode(),
        json.dumps(
            {**good, "event_id": str(uuid.uuid4()), "timestamp": "0001-01-01T00:30:00+01:00"}
        ).encode(),
        None,  # a tombstone: a key and no value
        json.dumps({**good, "event_id": str(uuid.uuid4())}).encode(),
    ]
    for value in values:  # one partition, so this order
        raw_producer.send(topic, key=b"ad-p", value=value, partition=0)
    raw_producer.flush()

    run_consumer()

    assert counted_per_ad() == {"ad-p": 2}
    dead = read_topic(kafka_servers, dead_letter_topic(topic), expect=7)
    assert [record.value for record in dead] == values[1:8]
    reasons = [dict(record.headers)["dlq.reason"].decode() for record in dead]
    assert "JSON" in reasons[0]
    assert [r.split(":")[0] for r in reasons[1:7]] == [
        "user_id", "user_id", "not valid JSON", "user_id", "timestamp", "record has no value"
    ]  # fmt: skip
    assert all(dict(r.headers)["dlq.source"].startswith(f"{topic}/0/".encode()) for r in dead)
    assert processed() == len(values)  # the poison records are behind us, not retried forever


def test_a_second_member_joining_mid_run_rebalances_without_loss_or_double_count(
    raw_producer: KafkaProducer,
    topic: str,
    consumer_process: Callable[..., subprocess.Popen[bytes]],
    stats_client: APIClient,
) -> None:
    # Events keep arriving for ~10 s, on every partition, while the second member joins.
    chunks, chunk, batch = 40, 1_000, 200
    expected: Counter[str] = Counter()

    def keep_producing() -> None:
        for _ in range(chunks):
            expected.update(produce_events(raw_producer, topic, chunk, ads=30))
            time.sleep(0.25)

    producing = threading.Thread(target=keep_producing)
    producing.start()
    first = consumer_process("--batch-size", str(batch), "--exit-when-idle", "4")
    wait_for_progress(first, at_least=2_000)
    second = consumer_process("--batch-size", str(batch), "--exit-when-idle", "4", "--slot", "1")
    at_rebalance: dict[str, Any] = {}

    def second_member_owns_partitions() -> bool:
        """The pipeline API lists both members, the second (by its pid) owning partitions."""
        body = stats_client.get("/api/stats/pipeline/").json()
        owned = [
            member["partitions"]
            for member in body["members"]
            if member["client_id"].endswith(f"-{second.pid}")
        ]
        if len(body["members"]) != 2 or not owned or not owned[0]:
            return False
        at_rebalance["owned"] = owned[0]
        at_rebalance["ledger"] = {p["partition"]: p["processed_offset"] for p in body["partitions"]}
        at_rebalance["producing"] = producing.is_alive()
        return True

    wait_for(second_member_owns_partitions, "the second member's partitions", proc=second)
    producing.join()
    assert first.wait(timeout=300) == 0
    assert second.wait(timeout=300) == 0

    assert at_rebalance["producing"], "the rebalance came after the work: it proves nothing"
    ledger = dict(PartitionOffset.objects.values_list("partition", "next_offset"))
    moved_since = sum(ledger[p] - at_rebalance["ledger"].get(p, 0) for p in at_rebalance["owned"])
    # The first member can finish at most one batch on them after losing them.
    assert moved_since > batch, "the second member recorded nothing of its own"
    assert_counted_exactly(expected, chunks * chunk)


def test_database_connections_killed_mid_run_lose_and_double_nothing(
    raw_producer: KafkaProducer,
    topic: str,
    consumer_process: Callable[..., subprocess.Popen[bytes]],
) -> None:
    if connection.vendor != "postgresql":
        pytest.fail("this test needs PostgreSQL (make test provides it)")
    total = 30_000
    expected = produce_events(raw_producer, topic, total)
    consumer = consumer_process("--batch-size", "200", "--exit-when-idle", "6")
    wait_for_progress(consumer, at_least=2_000)
    killed = 0
    for _ in range(3):  # the server drops the consumer's connection, mid-batch or between
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            killed += cursor.fetchone()[0]
        time.sleep(0.3)
    done_after_outages = processed()
    assert consumer.wait(timeout=300) == 0
    assert killed >= 1
    assert done_after_outages < total, "the work was over before the outages: proves nothing"
    assert_counted_exactly(expected, total)


PRODUCT_KAFKA_PORT = "9092"  # make run's broker: this module never stops or restarts it


def _kafka_local_for_the_test_broker(servers: list[str]) -> tuple[list[str], dict[str, str]]:
    """scripts/kafka-local and the environment that act on the test broker, and on nothing else.

    `make test` starts its own broker with KAFKA_PORT / KAFKA_LOCAL_DIR and points
    KAFKA_BOOTSTRAP_SERVERS at it. Anything else (a direct pytest run against make run's broker,
    settings that disagree, a broker that scripts/kafka-local did not start) fails the test
    before any broker is touched.
    """
    host, _, port = servers[0].rpartition(":")
    state_dir = os.environ.get("KAFKA_LOCAL_DIR", "")
    how = "run it with `make test`, which starts its own broker for this"
    if port == PRODUCT_KAFKA_PORT or os.environ.get("KAFKA_PORT", "9092") == PRODUCT_KAFKA_PORT:
        pytest.fail(
            f"this test restarts the broker; it refuses to touch 127.0.0.1:{PRODUCT_KAFKA_PORT}, "
            f"the product's (make run) broker: {how}",
            pytrace=False,
        )
    if len(servers) != 1 or host not in ("127.0.0.1", "localhost"):
        pytest.fail(f"this test restarts one local broker, not {servers}: {how}", pytrace=False)
    if os.environ.get("KAFKA_PORT") != port or not state_dir:
        pytest.fail(
            f"KAFKA_PORT and KAFKA_LOCAL_DIR must name the broker at {servers[0]}: {how}",
            pytrace=False,
        )
    if Path(state_dir).resolve() == (ROOT / ".local" / "kafka").resolve():
        pytest.fail(f"{state_dir} is the product broker's state folder: {how}", pytrace=False)
    env = {**os.environ, "KAFKA_LOCAL_REUSE_FOREIGN": "0"}  # `start` never adopts another broker
    kafka_local = [str(ROOT / "scripts" / "kafka-local")]
    status = subprocess.run(
        [*kafka_local, "status"], env=env, capture_output=True, text=True, check=False
    )
    if status.returncode != 0:
        pytest.fail(
            f"scripts/kafka-local (KAFKA_LOCAL_DIR={state_dir}) did not start the broker at "
            f"{servers[0]} ({status.stdout.strip()}), so this test will not restart it: {how}",
            pytrace=False,
        )
    return kafka_local, env


def test_broker_restart_mid_run_loses_nothing_and_the_api_answers_503_meanwhile(
    api_client: APIClient,
    kafka_servers: list[str],
    raw_producer: KafkaProducer,
    topic: str,
    consumer_process: Callable[..., subprocess.Popen[bytes]],
    settings: Any,
) -> None:
    kafka_local, env = _kafka_local_for_the_test_broker(kafka_servers)
    total = 50_000
    expected = produce_events(raw_producer, topic, total)
    consumer = consumer_process("--batch-size", "100", "--exit-when-idle", "8")
    wait_for_progress(consumer, at_least=2_000)
    subprocess.run([*kafka_local, "stop"], env=env, check=True)
    done_while_stopped = processed()
    try:
        settings.KAFKA_PUBLISH_TIMEOUT_SECONDS = 2.0
        during = api_client.post(
            "/api/impressions/", {"ad_id": "ad-0", "user_id": "late"}, format="json"
        )
    finally:
        subprocess.run([*kafka_local, "start"], env=env, check=True)
    assert during.status_code == 503
    after = api_client.post(
        "/api/impressions/",
        {"event_id": during.json()["event_ids"][0], "ad_id": "ad-0", "user_id": "late"},
        format="json",
    )
    assert after.status_code == 202
    expected["ad-0"] += 1  # the retried event, counted once whether or not the first try landed

    assert consumer.wait(timeout=300) == 0
    assert done_while_stopped < total, "the work was over before the broker stopped"
    assert counted_per_ad() == dict(expected)
    assert Impression.objects.count() == total + 1
