"""The consumer core: poll → seek new partitions to the ledger → decode → dead-letter → record
with offsets → commit. It talks to the broker, the database and the dead-letter topic only
through the contracts in `ports`, so it runs the same on Kafka and in memory.

Exactly-once effect in the database: each batch's rows, counters and per-partition next offsets
are written in ONE transaction (the recorder), and on assignment the loop seeks to the offsets
stored there, so a crash at any point replays exactly what was not committed. Offsets are
committed to the broker only afterwards, for lag tools; the database stays the source of truth.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import Error as DatabaseFailure

from stats.consumer.breaker import DeadLetterBreaker, Verdict
from stats.consumer.dead_lettering import DeadLetterStep
from stats.consumer.decoding import decode_records
from stats.consumer.durability import SessionReplaced
from stats.consumer.idleness import idle_verdict
from stats.consumer.membership import DYNAMIC, Membership
from stats.consumer.observing import BatchTimes, LoopObserver, NoObserver
from stats.consumer.ports import ConsumerClient, DeadLetterSink, LedgerReader, Recorder
from stats.consumer.positions import Positions
from stats.consumer.progress import ConsumerTotals, ProgressLog
from stats.consumer.read_progress import ReadProgress
from stats.consumer.records import Batch, BrokerFailure, Partition
from stats.consumer.resuming import Resumer
from stats.consumer.writing import WriteStep

logger = logging.getLogger(__name__)

RETRYABLE = (DatabaseFailure, BrokerFailure)


@dataclass(frozen=True)
class ConsumerConfig:
    """What one consumer process reads, as which group, and how it paces itself."""

    topic: str
    group: str
    batch_size: int = 5000
    poll_timeout_ms: int = 500
    progress_interval: float = 10.0
    exit_when_idle: float | None = None
    max_wait_for_assignment: float = 60.0
    retry_pause: float = 2.0  # after a failure, before trying again
    membership: Membership = DYNAMIC  # unless given an instance id
    # Mark read-through times and sample lag this often (read_progress); None: batches only.
    mark_interval: float | None = None


class ImpressionConsumer:
    """`run()` loops until `stop()` or, with `exit_when_idle`, until idle and caught up.

    Owns its collaborators once built: `run()` closes the client and the dead-letter sink.
    """

    def __init__(
        self,
        config: ConsumerConfig,
        *,
        client: ConsumerClient,
        recorder: Recorder,
        ledger: LedgerReader,
        dead_letters: DeadLetterSink,
        breaker: DeadLetterBreaker | None = None,
        clock: Callable[[], float] = time.monotonic,
        maintenance: Callable[[], None] | None = None,  # between polls, e.g. raw-row pruning
        observer: LoopObserver | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.observer = observer or NoObserver()  # metrics and readiness (metrics.py)
        self.totals = ConsumerTotals()
        self.positions = Positions()
        self._client, self._sink, self._clock = client, dead_letters, clock
        self._maintenance = maintenance
        self._breaker = breaker or DeadLetterBreaker()
        self._dead_letter = DeadLetterStep(dead_letters, self.positions)
        self._write = WriteStep(
            recorder,
            group=config.group,
            dead_letter=self._dead_letter,
            identities=self.positions.identity,
        )
        self._resume = Resumer(
            client=client,
            ledger=ledger,
            recorder=recorder,
            positions=self.positions,
            totals=self.totals,
            group=config.group,
        )
        self._stopping = threading.Event()
        self._last_activity = clock()
        self._progress = ProgressLog(self.totals, interval=config.progress_interval, now=clock())
        self._read_progress = ReadProgress(
            client, recorder, group=config.group, interval=config.mark_interval or 0,
            wall_clock=wall_clock,
        )  # fmt: skip

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand and leave the group (any thread)."""
        self._stopping.set()

    def run(self) -> int:
        """Consume until stopped. Returns 0, or 1 when never assigned a partition.

        Raises positions.LedgerDoesNotMatchTopic when the ledger describes another log than
        the topic's (it lies beyond the topic's end, or the topic was recreated).
        """
        logger.info(
            "consuming %s as group %s (%s)",
            self.config.topic, self.config.group, self.config.membership.describe(),
        )  # fmt: skip
        try:
            while not self._stopping.is_set():
                code = self.step()
                if code is not None:
                    return code
            return 0
        finally:
            self.close()

    def step(self) -> int | None:
        """One poll and what follows; an exit code when the loop should end."""
        try:
            polled = self._client.poll(self.config.poll_timeout_ms)
        except BrokerFailure as exc:  # e.g. the broker is restarting: wait, then poll again
            self._pause(exc, "polling the broker")
            return None
        self.positions.rebalanced(assigned=polled.assigned, revoked=polled.revoked)
        self._breaker.forget(polled.assigned | polled.revoked)  # a new owner judges afresh
        batch = self.positions.fresh(polled.records)  # before seeking: drops pre-seek records
        if self.positions.unseeked and self._seek_to_ledger():
            self._last_activity = self._clock()
        if batch:
            self._process(batch)
        if self._maintenance is not None:
            self._maintenance()
        self._progress.tick(self._clock(), self._lag)
        self.observer.stepped(lag=self._partition_lag(), totals=self.totals)
        if self.config.mark_interval is not None:
            self._read_progress.tick(self._clock(), self.positions.next)
        return self._idle_exit_code()

    def close(self) -> None:
        self._progress.final(self._clock(), self._lag)
        self._breaker.close()
        self._sink.close()
        self._client.close()
        logger.info("consumer closed")

    def _seek_to_ledger(self) -> bool:
        """Seek newly assigned partitions to the offsets stored with the statistics."""
        try:
            self._resume.seek_new_partitions()
        except SessionReplaced:  # the ledger may have lost commits: seek every partition again
            self.positions.forget_seeks()
            return False
        except RETRYABLE as exc:  # their records are dropped until the seek succeeds
            self._pause(exc, "reading offsets for new partitions")
            return False
        return True

    def _process(self, batch: Batch) -> None:
        """Decode → dead-letter → record; on a failure, rewind so the batch is read again."""
        started = self._clock()
        if self.totals.first_batch_at is None:
            self.totals.first_batch_at = started
        try:
            expired = self._resume.expired_before(batch)
            decoded = decode_records(batch.records())
            verdict = self._breaker.judge(batch, decoded.dead)
            if verdict.tripped:
                return self._hold(batch, verdict)
            self._dead_letter(decoded.dead)
            writing = self._clock()
            marks = self._read_progress.of_batch(batch)
            written = self._write(
                decoded.good, batch.next_offsets(), {p: len(r) for p, r in expired.items()}, marks
            )
        except SessionReplaced:  # nothing written; the next step seeks every partition to
            self.positions.forget_seeks()  # the ledger, replaying what a crash forgot
            return
        except RETRYABLE as exc:
            for partition, offset in self.positions.rewind(batch).items():
                self._client.seek(partition, offset)
            self._pause(exc, "recording a batch")
            return
        self.positions.committed(batch)
        self._breaker.accept(verdict)
        self._resume.report_expired(expired)
        self._last_activity = now = self._clock()
        self.totals.add(
            consumed=len(batch),
            recorded=written.recorded,
            duplicates=len(decoded.good) - written.recorded - written.refused,
            dead_lettered=len(decoded.dead) + written.refused,
            now=now,
        )
        committed = True
        try:
            self._client.commit(batch.next_offsets())
        except BrokerFailure as exc:  # harmless: the ledger has them; only lag tools lag
            logger.warning("committing offsets to the broker failed (%s); the ledger has them", exc)
            committed = False
        done = self._clock()
        times = BatchTimes(done - started, now - writing, done - now, committed)
        self.observer.batch_recorded(totals=self.totals, times=times)

    def _hold(self, batch: Batch, verdict: Verdict) -> None:
        """The dead-letter breaker opened: rewind the whole batch, pause what it tripped."""
        rewind = self.positions.rewind(batch)
        for partition, offset in rewind.items():
            self._client.seek(partition, offset)
        self._client.pause(sorted(verdict.tripped))
        self._breaker.hold(verdict, held_at=rewind)

    def _idle_exit_code(self) -> int | None:
        """0 once idle for `exit_when_idle` and caught up; 1 if never given a partition."""
        verdict = idle_verdict(
            idle_for=self._clock() - self._last_activity,
            limits=self.config,
            client=self._client,
            positions=self.positions,
        )
        if verdict.behind:
            self._last_activity = self._clock()
        return verdict.exit_code

    def _lag(self) -> int:
        """Lag as last seen while fetching (no request to the broker)."""
        return sum(self._partition_lag().values())

    def _partition_lag(self) -> dict[Partition, int]:
        """Per owned seeked partition: its end offset last seen while fetching minus the next
        offset to record (0 while the end is unknown); no request to the broker."""
        lag = {}
        for partition, position in self.positions.next.items():
            high = self._client.highwater(partition)
            lag[partition] = max(high - position, 0) if high is not None else 0
        return lag

    def _pause(self, exc: Exception, doing: str) -> None:
        logger.error(
            "%s failed (%s: %s); retrying in %gs",
            doing, exc.__class__.__name__, exc, self.config.retry_pause,
        )  # fmt: skip
        self._stopping.wait(self.config.retry_pause)
