"""Shared by the consumer tests: load a topic with events and read what the database counted."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from django.db.models import Sum
from kafka import KafkaProducer

from impressions.contract import AdImpressionEvent, encode_event, event_key
from impressions.models import Impression
from stats.models import AdMinuteCount, PartitionOffset

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def produce_events(producer: KafkaProducer, topic: str, n: int, *, ads: int = 10) -> Counter[str]:
    """Write n valid events straight to the topic; return the expected count per ad."""
    expected: Counter[str] = Counter()
    for i in range(n):
        event = AdImpressionEvent(
            1, uuid.uuid4(), f"ad-{i % ads}", f"u-{i % 97}", T0 + timedelta(seconds=i % 3600)
        )
        producer.send(topic, key=event_key(event), value=encode_event(event))
        expected[event.ad_id] += 1
    producer.flush()
    return expected


def counted_per_ad() -> dict[str, int]:
    rows = AdMinuteCount.objects.values("ad_id").annotate(n=Sum("impressions"))
    return {row["ad_id"]: row["n"] for row in rows}


def processed() -> int:
    return PartitionOffset.objects.aggregate(n=Sum("next_offset"))["n"] or 0


def wait_for_progress(proc: subprocess.Popen[bytes], at_least: int, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = processed()
        if done >= at_least:
            return done
        assert proc.poll() is None, "the consumer exited early"
        time.sleep(0.05)
    raise AssertionError(f"the consumer recorded fewer than {at_least} events in {timeout_s}s")


def assert_counted_exactly(expected: Counter[str], total: int) -> None:
    """Every event counted once: per-ad totals, one raw row each, the ledger at the end."""
    assert counted_per_ad() == dict(expected)
    assert Impression.objects.count() == total
    assert processed() == total
