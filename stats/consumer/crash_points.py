"""The delivery-semantics lab's crash-point hook: the consumer process SIGKILLs itself at a
named point of a numbered batch, so that the lab (and its tests) crash each semantics exactly
where it is weakest. Inert unless STATS_LAB_CRASH_POINT is set; `runconsumer` then builds the
consumer through `semantics.build_semantics_consumer`, never through the default path.

Points (STATS_LAB_CRASH_POINT), in batch STATS_LAB_CRASH_BATCH (the N-th batch with events this
process records, from 1):

- `after-kafka-commit`: the batch's offsets were just committed to Kafka. At-most-once commits
  before recording (the batch is then lost); the other modes commit after the database.
- `after-db-commit`: the batch's database transaction just committed, before the Kafka commit
  (at-least-once then counts the batch again; exactly-once resumes from its ledger).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from impressions.contract import AdImpressionEvent
from stats.consumer.kafka_client import KafkaConsumerClient
from stats.consumer.ports import Recorder
from stats.consumer.records import Partition
from stats.offset_update import OffsetUpdate

logger = logging.getLogger(__name__)

AFTER_KAFKA_COMMIT = "after-kafka-commit"
AFTER_DB_COMMIT = "after-db-commit"
CRASH_POINTS = (AFTER_KAFKA_COMMIT, AFTER_DB_COMMIT)


def _sigkill() -> None:
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class CrashPoint:
    """Kills the process the first time `point` is reached during batch number `batch`."""

    point: str
    batch: int = 1
    kill: Callable[[], None] = _sigkill
    batches: int = 0  # batches with events begun in this process

    def __post_init__(self) -> None:
        if self.point not in CRASH_POINTS:
            raise ValueError(f"crash point must be one of {', '.join(CRASH_POINTS)}")
        if self.batch < 1:
            raise ValueError("the crash batch must be 1 or more")

    def batch_begun(self) -> None:
        self.batches += 1

    def reached(self, point: str) -> None:
        if point == self.point and self.batches == self.batch:
            logger.warning("lab crash point %s of batch %d reached: SIGKILL", point, self.batch)
            self.kill()


class CrashingKafkaClient(KafkaConsumerClient):
    """The Kafka client, reaching `after-kafka-commit` after every successful commit."""

    def __init__(self, crash: CrashPoint, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._crash = crash

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        super().commit(offsets)
        self._crash.reached(AFTER_KAFKA_COMMIT)


class CrashingRecorder:
    """A `ports.Recorder` that counts batches with events and reaches `after-db-commit` once
    the inner recorder's transaction committed."""

    def __init__(self, inner: Recorder, crash: CrashPoint) -> None:
        self._inner, self._crash = inner, crash

    def record(
        self, *, events: Sequence[AdImpressionEvent], offsets: Sequence[OffsetUpdate] = ()
    ) -> int:
        if events:
            self._crash.batch_begun()
        recorded = self._inner.record(events=events, offsets=offsets)
        if events:
            self._crash.reached(AFTER_DB_COMMIT)
        return recorded

    def offsets_alone_accepted(self, offsets: Sequence[OffsetUpdate]) -> bool:
        return self._inner.offsets_alone_accepted(offsets)


def kafka_client(crash: CrashPoint | None, **kwargs: Any) -> KafkaConsumerClient:
    """The plain Kafka client without a crash point; the crashing one with it."""
    return KafkaConsumerClient(**kwargs) if crash is None else CrashingKafkaClient(crash, **kwargs)


def crashing(recorder: Recorder, crash: CrashPoint | None) -> Recorder:
    """`recorder` itself without a crash point; wrapped with it."""
    return recorder if crash is None else CrashingRecorder(recorder, crash)
