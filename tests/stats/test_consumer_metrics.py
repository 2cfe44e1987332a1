"""`runconsumer --metrics-port`: the consumer's own /metrics and /readyz.

The main case produces valid, duplicate and poison records to the real broker, runs the
consumer as a process, and reads its /metrics while it idles: records by outcome match what
was consumed, lag is 0 on every partition, and the commit time and durations are there.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from kafka import KafkaProducer

from impressions.contract import AdImpressionEvent, encode_event, event_key
from stats.consumer.metrics import ConsumerMetrics
from stats.consumer.metrics_server import MetricsServer
from stats.consumer.observing import BatchTimes
from stats.consumer.progress import ConsumerTotals
from stats.consumer.records import Partition
from stats.kafka_admin import ensure_topics
from stats.progress_selectors import completeness_get
from tests.stats.topic_data import counted_per_ad, processed, wait_for
from tests.web_server import fetch, free_port, sample, samples

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
POISON = [b"not json", b"{}", b'{"v": 1, "ad_id": "a"}']


def _event(i: int) -> AdImpressionEvent:
    return AdImpressionEvent(1, uuid.uuid4(), f"ad-m{i % 4}", f"u-{i}", T0 + timedelta(seconds=i))


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_metrics_port_serves_records_by_outcome_lag_and_commit_time(
    raw_producer: KafkaProducer,
    topic: str,
    group: str,
    consumer_process: Callable[..., subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    events = [_event(i) for i in range(30)]
    for event in [*events, *events[:5]]:  # 5 resent: duplicates
        raw_producer.send(topic, key=event_key(event), value=encode_event(event))
    for value in POISON:
        raw_producer.send(topic, key=b"poison", value=value)
    raw_producer.flush()
    total = len(events) + 5 + len(POISON)

    port = free_port()
    started = time.time()
    proc = consumer_process("--metrics-port", str(port), log=tmp_path / "consumer.log")
    wait_for(lambda: processed() >= total, f"{total} records", proc=proc)
    time.sleep(1.0)  # a few idle polls: the lag is read from fetches after the last batch

    text = fetch(port, "GET", "/metrics").body.decode()
    print(text)
    assert sample(text, "stats_consumer_records_total", outcome="recorded") == 30
    assert sample(text, "stats_consumer_records_total", outcome="duplicate") == 5
    assert sample(text, "stats_consumer_records_total", outcome="dead_lettered") == 3
    for index in range(3):
        lag = ("stats_consumer_lag", (("partition", str(index)), ("topic", topic)))
        assert lag in _all(text), f"no lag for partition {index}"
        assert sample(text, "stats_consumer_lag", topic=topic, partition=str(index)) == 0
    assert sample(text, "stats_consumer_owned_partitions") == 3
    last_commit = sample(text, "stats_consumer_last_commit_timestamp_seconds")
    assert started <= last_commit <= time.time()
    assert sample(text, "stats_consumer_batch_duration_seconds_count") >= 1
    commit = "stats_consumer_commit_duration_seconds_count"
    assert sample(text, commit, target="database") == sample(
        text, "stats_consumer_batch_duration_seconds_count"
    )
    assert counted_per_ad() == {f"ad-m{k}": 30 // 4 + (k < 30 % 4) for k in range(4)}

    ready = fetch(port, "GET", "/readyz")
    assert ready.status == 200, ready.body
    assert fetch(port, "GET", "/elsewhere").status == 404

    # Caught up on every partition: the consumer marks them, the watermark is stored, and the
    # gauge shows the stored value (refreshed on the loop's thread every few seconds).
    gauge = "stats_complete_through_timestamp_seconds"

    def watermark_shown() -> bool:
        stored = completeness_get(consumer_group=group, topic=topic).complete_through
        text = fetch(port, "GET", "/metrics").body.decode()
        return stored is not None and gauge in text and sample(text, gauge) == stored.timestamp()

    wait_for(watermark_shown, "the watermark gauge to equal the stored watermark", proc=proc)
    assert started - 120 <= sample(fetch(port, "GET", "/metrics").body.decode(), gauge)
    proc.terminate()
    assert proc.wait(timeout=30) == 0


def _all(text: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return set(samples(text))


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_standby_without_partitions_is_ready(
    kafka_servers: list[str],
    consumer_process: Callable[..., subprocess.Popen[bytes]],
    topic: str,
    tmp_path: Path,
) -> None:
    """Two members of one group over a 1-partition topic: one owns it, the other is told it
    has none; both are ready (the second is a hot standby)."""
    single = f"test-single-{uuid.uuid4().hex[:10]}"
    ensure_topics(topic=single, partitions=1, replication_factor=1)
    ports = [free_port(), free_port()]
    procs = []
    for i, port in enumerate(ports):
        procs.append(
            consumer_process(
                "--topic",
                single,
                "--metrics-port",
                str(port),
                "--slot",
                str(i),
                log=tmp_path / f"c{i}.log",
            )  # fmt: skip
        )
        wait_for(lambda p=port: _ready(p), f"member {i} to be ready", proc=procs[-1])  # type: ignore[misc]
    time.sleep(2.0)  # the rebalance that the second join caused has settled
    owned = []
    for port in ports:
        text = fetch(port, "GET", "/metrics").body.decode()
        owned.append(sample(text, "stats_consumer_owned_partitions"))
        assert _ready(port)
    assert sorted(owned) == [0, 1]
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


def _ready(port: int) -> bool:
    try:
        return fetch(port, "GET", "/readyz").status == 200
    except OSError:
        return False  # not listening yet


@pytest.fixture
def served() -> Iterator[tuple[ConsumerMetrics, int]]:
    metrics = ConsumerMetrics()
    server = MetricsServer(metrics, address="127.0.0.1", port=0)
    yield metrics, server.port
    server.close()


def test_not_ready_until_it_owns_partitions_nor_while_paused(
    served: tuple[ConsumerMetrics, int],
) -> None:
    metrics, port = served
    waiting = fetch(port, "GET", "/readyz")
    assert waiting.status == 503
    assert b'"failed": ["partitions"]' in waiting.body

    metrics.stepped(lag={Partition("t", 0): 7, Partition("t", 1): 0})
    assert fetch(port, "GET", "/readyz").status == 200
    text = fetch(port, "GET", "/metrics").body.decode()
    assert sample(text, "stats_consumer_lag", topic="t", partition="0") == 7

    metrics.set_paused("dead-letter breaker open on t[1]")  # the breaker's hook
    paused = fetch(port, "GET", "/readyz")
    assert paused.status == 503
    assert b"paused: dead-letter breaker open on t[1]" in paused.body
    metrics.set_paused(None)
    assert fetch(port, "GET", "/readyz").status == 200

    metrics.stepped(lag={Partition("t", 1): 0})  # partition 0 went to another member
    text = fetch(port, "GET", "/metrics").body.decode()
    assert ("stats_consumer_lag", (("partition", "0"), ("topic", "t"))) not in _all(text)


def test_the_watermark_gauge_appears_once_set(served: tuple[ConsumerMetrics, int]) -> None:
    metrics, port = served
    name = "stats_complete_through_timestamp_seconds"
    assert name not in fetch(port, "GET", "/metrics").body.decode()
    metrics.set_complete_through(1_764_000_000.0)
    assert sample(fetch(port, "GET", "/metrics").body.decode(), name) == 1_764_000_000.0


def test_a_metrics_port_in_use_is_refused_with_what_to_do() -> None:
    metrics = ConsumerMetrics()
    server = MetricsServer(metrics, address="127.0.0.1", port=0)
    try:
        with pytest.raises(CommandError, match="cannot serve metrics on 127.0.0.1:"):
            call_command("runconsumer", metrics_port=server.port)
    finally:
        server.close()
    with pytest.raises(CommandError, match="--metrics-port must be a TCP port"):
        call_command("runconsumer", metrics_port=70000)


def test_expired_records_are_counted_once_from_the_running_totals(
    served: tuple[ConsumerMetrics, int],
) -> None:
    """Found at a seek (reported by a step) or before a batch (reported with it): each record
    that left the topic unrecorded is counted once."""
    metrics, port = served
    name = "stats_consumer_expired_unrecorded_total"
    totals = ConsumerTotals()
    metrics.stepped(lag={}, totals=totals)
    assert sample(fetch(port, "GET", "/metrics").body.decode(), name) == 0
    totals.expired_unrecorded = 20  # a seek found offsets 10..29 gone
    metrics.stepped(lag={}, totals=totals)
    metrics.stepped(lag={}, totals=totals)
    totals.expired_unrecorded = 25  # five more, found before a batch
    metrics.batch_recorded(totals=totals, times=BatchTimes(0.1, 0.05, 0.01, True))
    metrics.stepped(lag={}, totals=totals)
    assert sample(fetch(port, "GET", "/metrics").body.decode(), name) == 25
