"""The stats-service consumer loop: poll → decode → dead-letter → record with offsets → commit.

Exactly-once effect in the database: each batch's rows, counters and per-partition next offsets
are written in ONE transaction (`record_impressions`), and on assignment the consumer seeks to
the offsets stored there, so a crash at any point replays exactly what was not committed.
Offsets are committed to Kafka only afterwards, for lag tools; the database stays the source of
truth. One of the three modules that import `kafka`.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import Error as DatabaseFailure
from django.db import connection
from django.utils import timezone
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, OffsetAndMetadata
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from impressions.contract import AdImpressionEvent, ContractError, decode_event
from stats.kafka_topics import dead_letter_topic
from stats.selectors import stored_offsets
from stats.services import OffsetUpdate, record_impressions

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsumerConfig:
    """What one consumer process reads, as which group, and how it paces itself."""

    bootstrap_servers: list[str]
    topic: str
    group: str
    batch_size: int = 5000
    poll_timeout_ms: int = 500
    progress_interval: float = 10.0
    exit_when_idle: float | None = None
    max_wait_for_assignment: float = 60.0


@dataclass
class ConsumerTotals:
    """Running totals, reported in the progress log and returned by `run`."""

    consumed: int = 0
    recorded: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    batches: int = 0
    first_batch_at: float | None = None  # monotonic clock, when the first batch arrived
    last_batch_at: float | None = None  # end of the last batch's database commit

    def busy_rate(self) -> float:
        """Events per second from the first batch's arrival to the last batch's commit."""
        if self.first_batch_at is None or self.last_batch_at is None:
            return 0.0
        return self.consumed / max(self.last_batch_at - self.first_batch_at, 1e-9)


class _AssignmentTracker(ConsumerRebalanceListener):
    """Notes rebalances; the loop acts on them in its own thread (listeners run on the I/O loop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._assigned: set[TopicPartition] = set()
        self._revoked: set[TopicPartition] = set()

    def on_partitions_revoked(self, revoked: Any) -> None:
        with self._lock:
            self._revoked |= set(revoked)
            self._assigned -= set(revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        with self._lock:
            self._assigned |= set(assigned)
            self._revoked -= set(assigned)

    def on_partitions_lost(self, lost: Any) -> None:
        self.on_partitions_revoked(lost)

    def take(self) -> tuple[set[TopicPartition], set[TopicPartition]]:
        with self._lock:
            changes = (self._assigned, self._revoked)
            self._assigned, self._revoked = set(), set()
            return changes


class ImpressionConsumer:
    """One member of the consumer group. `run()` loops until `stop()` or, if set, idle time."""

    def __init__(self, config: ConsumerConfig) -> None:
        self.config = config
        self.totals = ConsumerTotals()
        self._stopping = threading.Event()
        self._tracker = _AssignmentTracker()
        self._next: dict[TopicPartition, int] = {}  # next offset to record, per owned partition
        self._dlq: KafkaProducer | None = None
        self._consumer: KafkaConsumer | None = None

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand and leave the group."""
        self._stopping.set()

    def run(self) -> int:
        """Consume until stopped; return the process exit code (0, or 1 if never assigned)."""
        cfg = self.config
        self._consumer = KafkaConsumer(
            bootstrap_servers=cfg.bootstrap_servers,
            group_id=cfg.group,
            client_id=f"{cfg.group}-{socket.gethostname()}-{os.getpid()}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=cfg.batch_size,
        )
        self._consumer.subscribe([cfg.topic], listener=self._tracker)
        logger.info("joined group %s on topic %s", cfg.group, cfg.topic)
        try:
            return self._loop(self._consumer)
        finally:
            self._close()

    def _loop(self, consumer: KafkaConsumer) -> int:
        cfg = self.config
        last_activity = last_report = time.monotonic()
        reported = 0
        while not self._stopping.is_set():
            polled = consumer.poll(timeout_ms=cfg.poll_timeout_ms)
            reseeked = self._apply_rebalance(consumer)
            if reseeked:
                last_activity = time.monotonic()
            batch = self._fresh_records(polled, skip=reseeked)
            if batch:
                if self.totals.first_batch_at is None:
                    self.totals.first_batch_at = time.monotonic()
                self._process(consumer, batch)
                last_activity = self.totals.last_batch_at = time.monotonic()
            now = time.monotonic()
            if now - last_report >= cfg.progress_interval:
                self._report(consumer, self.totals.consumed - reported, now - last_report)
                last_report, reported = now, self.totals.consumed
            if cfg.exit_when_idle is not None and now - last_activity >= cfg.exit_when_idle:
                if consumer.assignment():
                    logger.info(
                        "idle for %.1fs with nothing left to read; exiting", now - last_activity
                    )
                    break
                if now - last_activity >= cfg.exit_when_idle + cfg.max_wait_for_assignment:
                    logger.error("no partitions were assigned; is another member holding them?")
                    return 1
        self._report(consumer, self.totals.consumed - reported, time.monotonic() - last_report)
        return 0

    def _apply_rebalance(self, consumer: KafkaConsumer) -> set[TopicPartition]:
        """Seek newly assigned partitions to the offsets stored with the statistics."""
        assigned, revoked = self._tracker.take()
        for tp in revoked:
            self._next.pop(tp, None)
        if not assigned:
            return set()
        try:
            stored = stored_offsets(consumer_group=self.config.group, topic=self.config.topic)
        except DatabaseFailure as exc:
            # Their records are dropped (not in self._next) until the seek succeeds.
            self._tracker.on_partitions_assigned(assigned)
            self._pause_after_failure(exc, "reading the offset ledger")
            return set()
        for tp in sorted(assigned):
            if tp.partition in stored:
                consumer.seek(tp, stored[tp.partition])
                self._next[tp] = stored[tp.partition]
            else:
                consumer.seek_to_beginning(tp)
                self._next[tp] = 0
        logger.info(
            "assigned partitions %s; resuming at %s",
            sorted(tp.partition for tp in assigned),
            {tp.partition: self._next[tp] for tp in sorted(assigned)},
        )
        return assigned

    def _fresh_records(
        self, polled: dict[Any, list[Any]], *, skip: set[TopicPartition]
    ) -> dict[Any, list[Any]]:
        """Drop records fetched before a seek and any already recorded (below the ledger)."""
        batch = {}
        for tp, records in polled.items():
            if tp in skip or tp not in self._next:
                continue
            fresh = [r for r in records if r.offset >= self._next[tp]]
            if fresh:
                batch[tp] = fresh
        return batch

    def _process(self, consumer: KafkaConsumer, batch: dict[Any, list[Any]]) -> None:
        events, dead = self._decode(batch)
        offsets = [
            OffsetUpdate(self.config.group, tp.topic, tp.partition, records[-1].offset + 1)
            for tp, records in batch.items()
        ]
        try:
            if dead:
                self._dead_letter(dead)
            recorded = record_impressions(events=events, offsets=offsets)
        except (DatabaseFailure, KafkaError) as exc:
            self._retry_later(consumer, batch, exc)
            return
        consumed = sum(len(records) for records in batch.values())
        self.totals.consumed += consumed
        self.totals.recorded += recorded
        self.totals.duplicates += len(events) - recorded
        self.totals.dead_lettered += len(dead)
        self.totals.batches += 1
        commit = {}
        for tp, records in batch.items():
            self._next[tp] = records[-1].offset + 1
            commit[tp] = OffsetAndMetadata(self._next[tp], "", -1)
        try:
            consumer.commit(commit)
        except KafkaError as exc:
            # Harmless for correctness: the database holds the offsets; only lag tools lag.
            logger.warning("committing offsets to Kafka failed (%s); the database has them", exc)

    def _decode(
        self, batch: dict[Any, list[Any]]
    ) -> tuple[list[AdImpressionEvent], list[tuple[Any, str]]]:
        now = timezone.now()
        events, dead = [], []
        for records in batch.values():
            for record in records:
                try:
                    events.append(decode_event(record.value, now=now))
                except ContractError as exc:
                    reason = f"{exc.field}: {exc.message}" if exc.field else exc.message
                    dead.append((record, reason))
        return events, dead

    def _dead_letter(self, dead: list[tuple[Any, str]]) -> None:
        """Copy each unusable record to `<topic>.dlq` with the reason; wait for the acks."""
        if self._dlq is None:
            self._dlq = KafkaProducer(
                bootstrap_servers=self.config.bootstrap_servers, enable_idempotence=True, acks="all"
            )
        target = dead_letter_topic(self.config.topic)
        futures = []
        for record, reason in dead:
            headers = [
                ("dlq.reason", reason.encode()),
                ("dlq.source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
            ]
            futures.append(
                self._dlq.send(target, key=record.key, value=record.value, headers=headers)
            )
            logger.warning(
                "dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason
            )
        for future in futures:
            future.get(timeout=30)

    def _retry_later(
        self, consumer: KafkaConsumer, batch: dict[Any, list[Any]], exc: Exception
    ) -> None:
        """Nothing of the batch was committed: rewind to its start and wait before trying again."""
        for tp, records in batch.items():
            consumer.seek(tp, records[0].offset)
        self._pause_after_failure(exc, "recording a batch")

    def _pause_after_failure(self, exc: Exception, doing: str) -> None:
        logger.error("%s failed (%s: %s); retrying in 2s", doing, exc.__class__.__name__, exc)
        connection.close()  # a broken connection is replaced on next use
        self._stopping.wait(2.0)

    def _report(self, consumer: KafkaConsumer, consumed: int, seconds: float) -> None:
        lag = 0
        for tp, position in self._next.items():
            high = consumer.highwater(tp)
            lag += max(high - position, 0) if high is not None else 0
        logger.info(
            "%d events in %.1fs (%.0f/s); totals: %d consumed, %d new, %d duplicates, "
            "%d dead-lettered; lag %d",
            consumed,
            seconds,
            consumed / max(seconds, 1e-9),
            self.totals.consumed,
            self.totals.recorded,
            self.totals.duplicates,
            self.totals.dead_lettered,
            lag,
        )

    def _close(self) -> None:
        if self._dlq is not None:
            self._dlq.close(timeout=10)
        if self._consumer is not None:
            self._consumer.close(autocommit=False)  # leaves the group at once
        logger.info("consumer closed")


@contextmanager
def stop_on_signals(consumer: ImpressionConsumer) -> Iterator[None]:
    """SIGTERM/SIGINT stop the loop after the batch in hand; a second one forces exit."""
    received: list[int] = []

    def handle(signum: int, frame: Any) -> None:
        if received:
            raise SystemExit(128 + signum)  # an open transaction rolls back; nothing is half-done
        received.append(signum)
        logger.info("signal %d received; finishing the batch in hand (again to force)", signum)
        consumer.stop()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
