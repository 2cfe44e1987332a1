"""One member of the stats-service group: the poll loop, seeking, writing, committing.

Exactly-once effect in the database: each batch's rows, counters and per-partition next offsets
are written in ONE transaction (`record_impressions`), and on assignment the consumer seeks to
the offsets stored there, so a crash at any point replays exactly what was not committed.
Offsets are committed to Kafka only afterwards, for lag tools; the database stays the source of
truth.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import Error as DatabaseFailure
from django.db import connection
from kafka import KafkaConsumer, OffsetAndMetadata
from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.structs import TopicPartition

from stats.consumer.assignment import AssignmentTracker
from stats.consumer.dead_letters import DeadLetterWriter
from stats.consumer.positions import LedgerAheadOfTopic, resume_offset
from stats.consumer.writer import BatchWriter, WriteResult
from stats.selectors import stored_offsets
from stats.services import OffsetUpdate

logger = logging.getLogger(__name__)

Batch = dict[TopicPartition, list[Any]]


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
    """Running totals, reported in the progress log and read by the benchmark."""

    consumed: int = 0
    recorded: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    batches: int = 0
    first_batch_at: float | None = None  # monotonic clock, when the first batch arrived
    last_batch_at: float | None = None  # end of the last batch's database commit

    def add(self, result: WriteResult) -> None:
        self.consumed += result.consumed
        self.recorded += result.recorded
        self.duplicates += result.duplicates
        self.dead_lettered += result.dead_lettered
        self.batches += 1

    def busy_rate(self) -> float:
        """Events per second from the first batch's arrival to the last batch's commit."""
        if self.first_batch_at is None or self.last_batch_at is None:
            return 0.0
        return self.consumed / max(self.last_batch_at - self.first_batch_at, 1e-9)


class ImpressionConsumer:
    """`run()` loops until `stop()` or, with `exit_when_idle`, until nothing arrives for a while."""

    def __init__(self, config: ConsumerConfig) -> None:
        self.config = config
        self.totals = ConsumerTotals()
        self._stopping = threading.Event()
        self._tracker = AssignmentTracker()
        self._next: dict[TopicPartition, int] = {}  # next offset to record, per owned partition
        self._dead_letters = DeadLetterWriter(
            bootstrap_servers=config.bootstrap_servers, topic=config.topic
        )
        self._writer = BatchWriter(group=config.group, dead_letters=self._dead_letters)

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand and leave the group."""
        self._stopping.set()

    def run(self) -> int:
        """Consume until stopped. Returns 0, or 1 when never assigned a partition.

        Raises positions.LedgerAheadOfTopic when the stored offsets lie beyond the topic's end.
        """
        cfg = self.config
        consumer = KafkaConsumer(
            bootstrap_servers=cfg.bootstrap_servers,
            group_id=cfg.group,
            client_id=f"{cfg.group}-{socket.gethostname()}-{os.getpid()}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=cfg.batch_size,
            reconnect_backoff_max_ms=2000,  # back within seconds of a broker restart, not 30 s
        )
        consumer.subscribe([cfg.topic], listener=self._tracker)
        logger.info("joined group %s on topic %s", cfg.group, cfg.topic)
        try:
            return self._loop(consumer)
        finally:
            self._dead_letters.close()
            consumer.close(autocommit=False)  # leaves the group at once
            logger.info("consumer closed")

    def _loop(self, consumer: KafkaConsumer) -> int:
        cfg = self.config
        last_activity = last_report = time.monotonic()
        reported = 0
        while not self._stopping.is_set():
            try:
                polled = consumer.poll(timeout_ms=cfg.poll_timeout_ms)
            except KafkaError as exc:  # e.g. the broker is restarting: wait, then poll again
                self._pause_after_failure(exc, "polling the broker")
                continue
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
                    behind = self._records_behind(consumer)
                    if behind == 0:
                        logger.info("idle for %.1fs and caught up; exiting", now - last_activity)
                        break
                    logger.info("idle, but not caught up (%s records behind); waiting", behind)
                    last_activity = now
                elif now - last_activity >= cfg.exit_when_idle + cfg.max_wait_for_assignment:
                    logger.error("no partitions were assigned; is another member holding them?")
                    return 1
        self._report(consumer, self.totals.consumed - reported, time.monotonic() - last_report)
        return 0

    def _records_behind(self, consumer: KafkaConsumer) -> int | None:
        """Records between the ledger and the end of every owned partition; None if unknown."""
        owned = consumer.assignment()
        if not owned or not owned <= set(self._next):
            return None  # a partition is still waiting for its seek
        try:
            ends = _offsets(consumer.end_offsets, sorted(owned))
        except KafkaError:
            return None  # the broker is away: we cannot know we drained it
        return sum(max(ends[tp] - self._next[tp], 0) for tp in owned)

    def _apply_rebalance(self, consumer: KafkaConsumer) -> set[TopicPartition]:
        """Seek newly assigned partitions to the offsets stored with the statistics."""
        assigned, revoked = self._tracker.take()
        if revoked or assigned:
            self._writer.forget()
        for tp in revoked | assigned:
            self._next.pop(tp, None)  # an assigned partition is unusable until it is seeked
        if not assigned:
            return set()
        partitions = sorted(assigned)
        try:
            stored = stored_offsets(consumer_group=self.config.group, topic=self.config.topic)
            first = _offsets(consumer.beginning_offsets, partitions)
            end = _offsets(consumer.end_offsets, partitions)
        except (DatabaseFailure, KafkaError) as exc:
            # Their records are dropped (not in self._next) until the seek succeeds.
            self._tracker.requeue(assigned)
            self._pause_after_failure(exc, "reading offsets for new partitions")
            return set()
        for tp in partitions:
            resume = resume_offset(
                topic=tp.topic,
                partition=tp.partition,
                stored=stored.get(tp.partition),
                first=first[tp],
                end=end[tp],
            )
            consumer.seek(tp, resume)
            self._next[tp] = resume
        logger.info(
            "assigned partitions %s; resuming at %s",
            [tp.partition for tp in partitions],
            {tp.partition: self._next[tp] for tp in partitions},
        )
        return assigned

    def _fresh_records(self, polled: Batch, *, skip: set[TopicPartition]) -> Batch:
        """Drop records fetched before a seek and any already recorded (below the ledger)."""
        batch = {}
        for tp, records in polled.items():
            if tp in skip or tp not in self._next:
                continue
            if records[0].offset < self._next[tp]:
                # Only a truncated or recreated log resets the position below the ledger, and
                # what is below it now are events never recorded: stop rather than skip them.
                raise LedgerAheadOfTopic(
                    f"{tp.topic}[{tp.partition}] jumped back to offset {records[0].offset} below"
                    f" the ledger's {self._next[tp]}: the topic was truncated or recreated while"
                    " this consumer ran. Rebuild into an empty database, or, if the topic was"
                    " deliberately recreated, consume it with a new --group."
                )
            fresh = [r for r in records if r.offset >= self._next[tp]]
            if fresh:
                batch[tp] = fresh
        return batch

    def _process(self, consumer: KafkaConsumer, batch: Batch) -> None:
        next_offsets = [
            OffsetUpdate(self.config.group, tp.topic, tp.partition, records[-1].offset + 1)
            for tp, records in batch.items()
        ]
        try:
            result = self._writer.write(
                (r for records in batch.values() for r in records), next_offsets
            )
        except (DatabaseFailure, KafkaError) as exc:
            self._retry_later(consumer, batch, exc)
            return
        self.totals.add(result)
        commit = {}
        for tp, records in batch.items():
            self._next[tp] = records[-1].offset + 1
            commit[tp] = OffsetAndMetadata(self._next[tp], "", -1)
        try:
            consumer.commit(commit)
        except KafkaError as exc:
            # Harmless for correctness: the database holds the offsets; only lag tools lag.
            logger.warning("committing offsets to Kafka failed (%s); the database has them", exc)

    def _retry_later(self, consumer: KafkaConsumer, batch: Batch, exc: Exception) -> None:
        """The batch's transaction did not commit: rewind to its start and try again later."""
        for tp, records in batch.items():
            consumer.seek(tp, records[0].offset)
        self._pause_after_failure(exc, "recording a batch")

    def _pause_after_failure(self, exc: Exception, doing: str) -> None:
        logger.error("%s failed (%s: %s); retrying in 2s", doing, exc.__class__.__name__, exc)
        if isinstance(exc, DatabaseFailure):
            connection.close()  # a broken connection is replaced on next use
        self._stopping.wait(2.0)

    def _report(self, consumer: KafkaConsumer, consumed: int, seconds: float) -> None:
        lag = 0
        for tp, position in self._next.items():
            high = consumer.highwater(tp)
            lag += max(high - position, 0) if high is not None else 0
        t = self.totals
        logger.info(
            "%d events in %.1fs (%.0f/s); totals: %d consumed, %d new, %d duplicates, "
            "%d dead-lettered; lag %d",
            consumed, seconds, consumed / max(seconds, 1e-9),
            t.consumed, t.recorded, t.duplicates, t.dead_lettered, lag,
        )  # fmt: skip


def _offsets(
    lookup: Callable[..., dict[TopicPartition, int]], partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """`consumer.beginning_offsets` or `end_offsets` for every partition. Raises KafkaError when
    any is unknown (kafka-python leaves out partitions without a leader instead of raising)."""
    try:
        found = lookup(partitions, timeout_ms=5000)
        return {tp: found[tp] for tp in partitions}
    except KeyError as missing:
        raise KafkaTimeoutError(f"no leader known for {missing}") from None
