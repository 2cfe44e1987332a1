"""The consumer refuses to lose events silently: database refusals and a ledger ahead of Kafka."""

from __future__ import annotations

import json
import logging
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError
from django.utils import timezone
from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from rest_framework.test import APIClient

from impressions.contract import AdImpressionEvent, encode_event, event_key
from impressions.models import Impression
from stats.kafka_admin import dead_letter_topic
from stats.models import PartitionOffset
from tests.conftest import read_topic
from tests.stats.test_consumer_contract import recreate_topic
from tests.stats.topic_data import (
    T0,
    counted_per_ad,
    database_refuses,
    processed,
    produce_events,
    wait_for,
)
from tests.web_server import fetch, free_port, sample

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REFUSED = "refused-by-db"


@pytest.fixture
def database_refuses_a_user() -> Iterator[None]:
    with database_refuses(Impression._meta.db_table, "user_id", REFUSED):
        yield


def test_a_record_the_database_refuses_is_dead_lettered_and_the_rest_counted(
    raw_producer: KafkaProducer,
    topic: str,
    run_consumer: Callable[..., None],
    kafka_servers: list[str],
    database_refuses_a_user: None,
) -> None:
    expected = produce_events(raw_producer, topic, 200)
    refused = AdImpressionEvent(
        1, uuid.uuid4(), "ad-0", REFUSED, datetime(2026, 11, 25, 8, tzinfo=UTC)
    )
    raw_producer.send(topic, key=event_key(refused), value=encode_event(refused))
    expected.update(produce_events(raw_producer, topic, 100))

    run_consumer()

    assert counted_per_ad() == dict(expected)
    dead = read_topic(kafka_servers, dead_letter_topic(topic), expect=2, timeout_s=3)
    assert [r.value for r in dead] == [encode_event(refused)]  # that one, once
    assert dict(dead[0].headers)["dlq.reason"].startswith(b"database refused")
    assert processed() == 301


def test_a_refusal_that_is_not_the_events_fault_dead_letters_nothing(
    raw_producer: KafkaProducer,
    topic: str,
    consumer_process: Callable[..., subprocess.Popen[bytes]],
    kafka_servers: list[str],
    tmp_path: Path,
) -> None:
    poison = [f"{{poison {p}".encode() for p in range(3)]  # the control: these must go, once
    for partition, value in enumerate(poison):
        raw_producer.send(topic, key=b"ad-0", value=value, partition=partition)
    expected = produce_events(raw_producer, topic, 500)
    dlq, log = dead_letter_topic(topic), tmp_path / "consumer.log"

    with database_refuses(PartitionOffset._meta.db_table, "topic", topic):  # the ledger refuses
        consumer = consumer_process("--exit-when-idle", "3", log=log)
        wait_for(
            lambda: log.read_text().count("recording a batch failed (IntegrityError") >= 2,
            "two attempts the ledger refused",
            proc=consumer,
        )
        assert counted_per_ad() == {}
        during = read_topic(kafka_servers, dlq, expect=len(poison), timeout_s=3)
        assert {r.value for r in during} <= set(poison)  # no valid event among them
    # The rule is gone: the same consumer now records everything.
    assert consumer.wait(timeout=120) == 0
    assert counted_per_ad() == dict(expected)
    after = read_topic(kafka_servers, dlq, expect=len(poison) + 1, timeout_s=3)
    assert sorted(r.value for r in after) == poison  # each once, however often it was retried


def test_a_huge_poison_record_is_dead_lettered_truncated(
    raw_producer: KafkaProducer,
    topic: str,
    run_consumer: Callable[..., None],
    kafka_servers: list[str],
) -> None:
    huge = json.dumps({"x" * 600_000: 1}).encode()  # an unknown field named by 600,000 x's
    raw_producer.send(topic, key=b"ad-0", value=huge, partition=0)
    expected = produce_events(raw_producer, topic, 50)

    run_consumer()

    assert counted_per_ad() == dict(expected)
    [dead] = read_topic(kafka_servers, dead_letter_topic(topic), expect=1)
    headers = dict(dead.headers)
    assert headers["dlq.truncated"] == str(len(huge)).encode()
    assert huge.startswith(dead.value) and len(dead.value) < len(huge)
    assert len(headers["dlq.reason"]) <= 1000


def test_a_ledger_ahead_of_the_topic_stops_the_consumer_with_a_clear_error(
    topic: str, group: str, run_consumer: Callable[..., None]
) -> None:
    PartitionOffset.objects.create(
        consumer_group=group, topic=topic, partition=0, next_offset=50, updated_at=timezone.now()
    )
    with pytest.raises(CommandError, match="recreated") as caught:
        run_consumer()
    assert caught.value.returncode == 2
    assert PartitionOffset.objects.get(partition=0).next_offset == 50  # nothing was moved


def test_offsets_expired_before_they_were_recorded_are_reported_and_skipped(
    raw_producer: KafkaProducer,
    topic: str,
    run_consumer: Callable[..., None],
    kafka_servers: list[str],
    caplog: pytest.LogCaptureFixture,
    stats_client: APIClient,
) -> None:
    def one_partition(n: int) -> list[AdImpressionEvent]:
        events = [
            AdImpressionEvent(
                1, uuid.uuid4(), "ad-0", f"u{i}", datetime(2026, 11, 25, 8, tzinfo=UTC)
            )
            for i in range(n)
        ]
        for event in events:
            raw_producer.send(topic, key=event_key(event), value=encode_event(event), partition=0)
        raw_producer.flush()
        return events

    one_partition(10)
    run_consumer()  # the ledger says 10 for partition 0
    one_partition(40)  # offsets 10..49, never consumed...
    admin = KafkaAdminClient(bootstrap_servers=kafka_servers)
    admin.delete_records({TopicPartition(topic, 0): 30})  # ...and 10..29 expire (as retention does)
    admin.close()

    with caplog.at_level(logging.ERROR, logger="stats.consumer.positions"):
        run_consumer()

    assert "offsets 10..29 expired" in caplog.text
    assert counted_per_ad() == {"ad-0": 10 + 20}
    assert PartitionOffset.objects.get(partition=0).next_offset == 50
    assert PartitionOffset.objects.get(partition=0).expired_unrecorded == 20
    pipeline = stats_client.get("/api/stats/pipeline/").json()  # group and topic: settings
    assert {p["partition"]: p["expired_unrecorded"] for p in pipeline["partitions"]}[0] == 20


def test_a_topic_recreated_before_a_restart_is_refused_and_nothing_of_it_recorded(
    raw_producer: KafkaProducer,
    topic: str,
    consumer_process: Callable[..., subprocess.Popen[bytes]],
    kafka_servers: list[str],
    tmp_path: Path,
) -> None:
    expected = produce_events(raw_producer, topic, 60)
    assert consumer_process("--exit-when-idle", "2").wait(timeout=120) == 0
    ledger = dict(PartitionOffset.objects.values_list("partition", "next_offset"))
    identities = set(PartitionOffset.objects.values_list("topic_identity", flat=True))
    assert len(identities) == 1 and None not in identities  # the topic id, with every row

    raw_producer.close()  # its metadata refresh could auto-create the deleted topic
    recreate_topic(kafka_servers, topic, 3)  # deleted and recreated while no consumer ran...
    producer = KafkaProducer(bootstrap_servers=kafka_servers)
    for partition, stored in ledger.items():  # ...and more records than the old ledger's offset
        for i in range(stored + 5):
            value = encode_event(AdImpressionEvent(1, uuid.uuid4(), "ad-new", f"u{i}", T0))
            producer.send(topic, key=b"ad-new", value=value, partition=partition)
    producer.close()

    log = tmp_path / "consumer.log"
    assert consumer_process("--exit-when-idle", "2", log=log).wait(timeout=120) == 2
    assert "is not the partition the ledger describes" in log.read_text()
    assert "new --group" in log.read_text()  # what to do next
    assert counted_per_ad() == dict(expected)  # nothing of the new topic
    assert dict(PartitionOffset.objects.values_list("partition", "next_offset")) == ledger


def test_records_that_expire_while_the_database_refuses_are_reported_not_skipped_silently(
    raw_producer: KafkaProducer,
    topic: str,
    consumer_process: Callable[..., subprocess.Popen[bytes]],
    kafka_servers: list[str],
    tmp_path: Path,
    stats_client: APIClient,
) -> None:
    def to_partition_0(n: int) -> None:
        for i in range(n):
            event = AdImpressionEvent(1, uuid.uuid4(), "ad-0", f"u{i}", T0)
            raw_producer.send(topic, key=b"ad-0", value=encode_event(event), partition=0)
        raw_producer.flush()

    to_partition_0(10)
    log = tmp_path / "consumer.log"
    port = free_port()
    consumer = consumer_process("--exit-when-idle", "6", "--metrics-port", str(port), log=log)
    wait_for(lambda: processed() >= 10, "the first 10 records", proc=consumer)

    def failures() -> int:
        return log.read_text().count("recording a batch failed (IntegrityError")

    with database_refuses(PartitionOffset._meta.db_table, "topic", topic):  # an outage...
        to_partition_0(40)  # ...while offsets 10..49 arrive...
        wait_for(lambda: failures() >= 1, "a refused attempt", proc=consumer)
        admin = KafkaAdminClient(bootstrap_servers=kafka_servers)
        admin.delete_records({TopicPartition(topic, 0): 30})  # ...and 10..29 expire
        admin.close()
        seen = failures()  # two more attempts: the rewound fetch now starts past the ledger
        wait_for(lambda: failures() >= seen + 2, "attempts after the expiry", proc=consumer)

    def expired_metric() -> float:
        text = fetch(port, "GET", "/metrics").body.decode()
        return sample(text, "stats_consumer_expired_unrecorded_total")

    wait_for(lambda: expired_metric() == 20, "the expired-records metric", proc=consumer)
    assert consumer.wait(timeout=120) == 0

    assert "offsets 10..29 expired (retention) before they were recorded" in log.read_text()
    assert counted_per_ad() == {"ad-0": 10 + 20}
    row = PartitionOffset.objects.get(partition=0)
    assert (row.next_offset, row.expired_unrecorded) == (50, 20)
    pipeline = stats_client.get("/api/stats/pipeline/").json()
    assert {p["partition"]: p["expired_unrecorded"] for p in pipeline["partitions"]}[0] == 20
