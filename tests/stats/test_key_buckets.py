"""Key skew on the real broker: one busy ad fills one partition when the key is the ad id; with
IMPRESSIONS_KEY_BUCKETS its events spread over the partitions, and the consumer still counts
every event exactly once."""

from __future__ import annotations

import subprocess
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from impressions.contract import AdImpressionEvent
from impressions.models import Impression
from impressions.publisher import publish_events
from tests.stats.topic_data import counted_per_ad, processed, wait_for_progress

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)


def skewed_events(n: int, first_id: int) -> list[AdImpressionEvent]:
    """Nine in ten events for `hot`, the rest over four other ads."""
    return [
        AdImpressionEvent(
            1,
            uuid.UUID(int=first_id + i),
            "hot" if i % 10 else f"ad-{i % 4}",
            f"u-{i % 53}",
            T0 + timedelta(seconds=i % 600),
        )
        for i in range(n)
    ]


def per_partition(servers: list[str], topic: str) -> list[int]:
    reader = KafkaConsumer(bootstrap_servers=servers)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic))]
        ends = reader.end_offsets(partitions)
    finally:
        reader.close()
    return [ends[tp] for tp in partitions]


@pytest.mark.parametrize("buckets", [0, 8])
def test_buckets_even_out_the_partitions_and_counts_stay_exact(
    buckets: int,
    settings: Any,
    topic: str,
    kafka_servers: list[str],
    consumer_process: Callable[..., subprocess.Popen[bytes]],
) -> None:
    settings.IMPRESSIONS_KEY_BUCKETS = buckets
    events = skewed_events(600, first_id=buckets * 10_000)
    for start in range(0, len(events), 100):
        publish_events(events[start : start + 100])
    publish_events(events[:50])  # client retries: the same ids, the same keys, counted once

    sizes = per_partition(kafka_servers, topic)
    assert sum(sizes) == 650
    if buckets:
        assert max(sizes) < 0.6 * 650, sizes  # 3 partitions: no longer one hot partition
    else:
        assert max(sizes) >= 540, sizes  # the hot ad's 540 events (+ retries) in one partition

    proc = consumer_process("--exit-when-idle", "3", "--progress-interval", "60")
    wait_for_progress(proc, 650, timeout_s=90)
    assert proc.wait(timeout=90) == 0
    assert counted_per_ad() == dict(Counter(e.ad_id for e in events))
    assert Impression.objects.count() == 600
    assert processed() == 650  # every record read, the 50 resent ones counted once
