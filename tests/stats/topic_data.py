"""Shared by the consumer tests: load a topic with events, make the database refuse rows, and
read back what the database counted."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from django.db import connection
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


@contextmanager
def database_refuses(table: str, column: str, value: str) -> Iterator[None]:
    """A rule the database enforces and the contract does not: rows with `column = value` fail."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT test_refuse CHECK ({column} <> %s) NOT VALID",
                [value],
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER test_refuse BEFORE INSERT ON {table} WHEN NEW.{column} = "
                f"'{value}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT test_refuse")
            else:
                cursor.execute("DROP TRIGGER test_refuse")


def counted_per_ad() -> dict[str, int]:
    rows = AdMinuteCount.objects.values("ad_id").annotate(n=Sum("impressions"))
    return {row["ad_id"]: row["n"] for row in rows}


def processed() -> int:
    return PartitionOffset.objects.aggregate(n=Sum("next_offset"))["n"] or 0


def wait_for_progress(proc: subprocess.Popen[bytes], at_least: int, timeout_s: float = 60) -> int:
    """Wait until the ledger has moved `at_least` records; return how far it has moved."""
    done = 0

    def moved() -> bool:
        nonlocal done
        done = processed()
        return done >= at_least

    wait_for(moved, f"the consumer to record {at_least} events", proc=proc, timeout_s=timeout_s)
    return done


def wait_for(
    evidence: Callable[[], bool],
    what: str,
    *,
    proc: subprocess.Popen[bytes] | None = None,
    timeout_s: float = 60,
) -> None:
    """Poll for `evidence` (a row, a counter, a log line); fail if `proc` exits meanwhile."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if evidence():
            return
        assert proc is None or proc.poll() is None, f"the consumer exited while waiting for {what}"
        time.sleep(0.05)
    raise AssertionError(f"gave up after {timeout_s}s waiting for {what}")


def assert_counted_exactly(expected: Counter[str], total: int) -> None:
    """Every event counted once: per-ad totals, one raw row each, the ledger at the end."""
    assert counted_per_ad() == dict(expected)
    assert Impression.objects.count() == total
    assert processed() == total
