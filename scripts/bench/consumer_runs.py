"""The consumer side, timed on the same topic: a bare kafka-python read (poll only), a naive
consumer (one ORM save and one offset commit per message), the real consumer in this process,
and N real consumer processes (`manage.py runconsumer`) sharing the topic."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.environment import ROOT, ledger_moved


@dataclass(frozen=True)
class ConsumerRun:
    busy_rate: float  # events/s, first batch's arrival to last batch's commit
    start_up: float  # seconds from building the consumer to its first batch
    caught_up: float  # seconds from building the consumer to its last commit
    events: int


def bare_read(servers: Sequence[str], topic: str, n: int) -> float:
    """Records/s of a group-less kafka-python consumer polling the topic from the start (from
    the poll that returned the first records to the n-th record), decoding nothing."""
    from kafka import KafkaConsumer, TopicPartition

    reader = KafkaConsumer(bootstrap_servers=list(servers), group_id=None, max_poll_records=5000)
    partitions = [TopicPartition(topic, p) for p in reader.partitions_for_topic(topic)]
    reader.assign(partitions)
    reader.seek_to_beginning(*partitions)
    seen, first_poll = 0, 0.0
    deadline = time.monotonic() + 600
    while seen < n and time.monotonic() < deadline:
        polled_at = time.monotonic()
        got = sum(len(records) for records in reader.poll(timeout_ms=500).values())
        if got and not seen:
            first_poll = polled_at  # like the consumer's busy rate: from the first records' poll
        seen += got
    done = time.monotonic()
    reader.close()
    if seen < n:
        raise RuntimeError(f"the bare read saw {seen} of {n} records")
    return n / max(done - first_poll, 1e-9)


def real_consumer(
    servers: Sequence[str],
    topic: str,
    *,
    batch_size: int,
    group: str | None = None,
    idle: float = 2.0,
) -> ConsumerRun:
    """The production consumer (build_consumer) in this process, as `group` (default: a fresh
    one), until idle and caught up."""
    from stats.consumer import ConsumerConfig, build_consumer

    started = time.monotonic()
    consumer = build_consumer(
        ConsumerConfig(
            topic=topic,
            group=group or f"bench-{uuid.uuid4().hex[:8]}",
            batch_size=batch_size,
            progress_interval=30.0,
            exit_when_idle=idle,
        ),
        bootstrap_servers=list(servers),
    )
    consumer.run()
    totals = consumer.totals
    first, last = totals.first_batch_at or started, totals.last_batch_at or started
    return ConsumerRun(totals.busy_rate(), first - started, last - started, totals.consumed)


def naive_consumer(servers: Sequence[str], topic: str, n: int) -> float:
    """Events/s of the classic listener shape: per message, save the raw row and bump the
    minute counter with the ORM in one transaction, then commit that message's offset."""
    from django.db import transaction
    from django.db.models import F
    from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition

    from impressions.contract import decode_event
    from impressions.models import Impression
    from stats.models import AdMinuteCount

    reader = KafkaConsumer(
        topic,
        bootstrap_servers=list(servers),
        group_id=f"bench-naive-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    done, first = 0, 0.0
    for message in reader:
        if not done:
            first = time.monotonic()
        event = decode_event(message.value, now=datetime.now(UTC))
        with transaction.atomic():
            Impression.objects.create(
                event_id=event.event_id,
                ad_id=event.ad_id,
                user_id=event.user_id,
                occurred_at=event.timestamp,
                recorded_at=datetime.now(UTC),
            )
            minute = event.timestamp.replace(second=0, microsecond=0)
            row, made = AdMinuteCount.objects.get_or_create(
                ad_id=event.ad_id, minute=minute, defaults={"impressions": 1}
            )
            if not made:
                AdMinuteCount.objects.filter(pk=row.pk).update(impressions=F("impressions") + 1)
        tp = TopicPartition(message.topic, message.partition)
        reader.commit({tp: OffsetAndMetadata(message.offset + 1, "", -1)})
        done += 1
        if done >= n:
            break
    elapsed = time.monotonic() - first
    reader.close()
    return n / max(elapsed, 1e-9)


def consumer_processes(topic: str, n: int, *, processes: int, logs: Path) -> float:
    """Events/s of `processes` runconsumer processes in one fresh group, from the ledger passing
    a tenth of the n events to all of them recorded (so the processes' start-up and the group's
    first rebalance are left out, as P1's busy rate leaves out the consumer's start-up)."""
    group = f"bench-{uuid.uuid4().hex[:8]}"
    procs = [start_consumer(topic, group, logs) for _ in range(processes)]
    try:
        start: tuple[float, int] | None = None  # when the ledger first passed a tenth of n
        moved, deadline = 0, time.monotonic() + 900
        while moved < n:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"consumer processes stopped at {moved} of {n} (logs: {logs})")
            moved = ledger_moved(group)
            if start is None and moved >= n // 10:
                start = (time.monotonic(), moved)
            time.sleep(0.05)
        began, already = start or (time.monotonic(), 0)
        return (n - already) / max(time.monotonic() - began, 1e-9)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)


def start_consumer(
    topic: str, group: str, logs: Path, *, wait_assigned: bool = False
) -> subprocess.Popen[bytes]:
    """`manage.py runconsumer` as a dynamic member of `group`, its log in `logs`; with
    `wait_assigned`, returns once it logged its partitions (60 s at most)."""
    env = {**os.environ, "CONSUMER_STATIC_MEMBERSHIP": "0"}
    command = [sys.executable, "manage.py", "runconsumer", "--topic", topic, "--group", group]
    path = logs / f"consumer-{group}-{uuid.uuid4().hex[:4]}.log"
    with open(path, "wb") as log:
        proc = subprocess.Popen(
            [*command, "--progress-interval", "60"], cwd=ROOT, env=env, stderr=log
        )
    deadline = time.monotonic() + 60
    while wait_assigned and "assigned partitions" not in path.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the consumer was not given partitions in 60 s; see {path}")
        time.sleep(0.1)
    return proc
