"""The dead-letter breaker: when too many of a partition's recent records are invalid, stop
dead-lettering that partition and hold it instead, as arroyo's `DlqLimit` does.

A bad deploy (a producer writing a new format, a decoder that rejects everything) would
otherwise move the whole topic into `.dlq`. With the breaker, the batch in which a partition
crosses the limit is neither dead-lettered nor recorded: the core rewinds it, pauses the
partition (its ledger stays before those records, so they stay in the topic for after the
fix), logs what to do, and reports the state (`BreakerReporter`, the database in production,
read by `stats.selectors.open_breakers` for readiness).

Rules (per partition, like arroyo's): a sliding window of the last `window` records decoded;
the breaker opens when more than `share × window` of them are invalid. A few bad records
therefore never open it, however few records came before them (arroyo's ratio would). The
window starts empty when the partition is assigned (arroyo resets on assignment too), so a
restart or rebalance forgets it: up to `share × window` more records may be dead-lettered
before it opens again, and they can be replayed. `share` 1 turns it off.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from stats.consumer.records import Batch, DeadLetter, Partition

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BreakerLimit:
    """Open when more than `share` of a partition's last `window` records are invalid."""

    share: float = 0.5
    window: int = 1000

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1 or self.window < 1:
            raise ValueError("the breaker needs 0 < share <= 1 and a window of at least 1")


class BreakerReporter(Protocol):
    """Where open breakers are shown (the database, for /readyz). Must not raise."""

    def opened(self, partition: Partition, held_at: int, reason: str) -> None: ...

    def cleared(self, partitions: Sequence[Partition]) -> None: ...


class NoReporter:
    def opened(self, partition: Partition, held_at: int, reason: str) -> None:
        pass

    def cleared(self, partitions: Sequence[Partition]) -> None:
        pass


@dataclass(frozen=True)
class Verdict:
    """A batch judged: each partition's outcomes (True = invalid) in offset order, and the
    partitions it would open, with why."""

    outcomes: Mapping[Partition, Sequence[bool]] = field(default_factory=dict)
    tripped: Mapping[Partition, str] = field(default_factory=dict)


def crossing(
    history: Iterable[bool], outcomes: Sequence[bool], limit: BreakerLimit
) -> tuple[int, int] | None:
    """(index in `outcomes`, invalid count) of the first record at which more than
    `share × window` of the last `window` records were invalid; None if none (pure)."""
    window = deque(history, maxlen=limit.window)
    invalid = sum(window)
    for i, bad in enumerate(outcomes):
        if len(window) == limit.window:
            invalid -= window[0]
        window.append(bad)
        invalid += bad
        if invalid > limit.share * limit.window:
            return i, invalid
    return None


class DeadLetterBreaker:
    """Per-partition windows of recent outcomes and the partitions held open.

    `judge` is pure (a batch may be retried); `accept` moves the windows on once the batch
    committed; `hold` opens the breakers a verdict tripped; `forget` drops partitions whose
    owner changed, `close` clears what this process held.
    """

    def __init__(self, limit: BreakerLimit | None = None, reporter: BreakerReporter | None = None):
        self.limit = limit or BreakerLimit()
        self._reporter = reporter or NoReporter()
        self._windows: dict[Partition, deque[bool]] = {}
        self.open: dict[Partition, str] = {}

    def judge(self, batch: Batch, dead: Sequence[DeadLetter]) -> Verdict:
        invalid = {(d.record.source, d.record.offset): d.reason for d in dead}
        outcomes, tripped = {}, {}
        for partition, records in batch.by_partition.items():
            flags = [(partition, r.offset) in invalid for r in records]
            outcomes[partition] = flags
            if partition in self.open:
                tripped[partition] = self.open[partition]
                continue
            crossed = crossing(self._windows.get(partition, ()), flags, self.limit)
            if crossed is not None:
                at, count = crossed
                latest = invalid[(partition, records[at].offset)]
                tripped[partition] = (
                    f"{count} of the last {self.limit.window} records were invalid (the limit is"
                    f" more than {self.limit.share:.0%}); the latest at offset"
                    f" {records[at].offset}: {latest[:300]}"
                )
        return Verdict(outcomes, tripped)

    def accept(self, verdict: Verdict) -> None:
        for partition, flags in verdict.outcomes.items():
            window = self._windows.setdefault(partition, deque(maxlen=self.limit.window))
            window.extend(flags)

    def hold(self, verdict: Verdict, held_at: Mapping[Partition, int]) -> None:
        """Open the tripped partitions' breakers (held at their ledger offsets): log and report."""
        for partition, reason in verdict.tripped.items():
            if partition in self.open:
                continue
            self.open[partition] = reason
            offset = held_at.get(partition, -1)
            logger.error(
                "dead-letter breaker OPEN for %s: %s. Nothing of this batch was dead-lettered or"
                " recorded; the partition is paused at offset %d and its records stay in the"
                " topic. Find the cause (a producer or consumer deploy?), fix it and restart the"
                " consumer. If the records really are bad, restart it with"
                " DEAD_LETTER_BREAKER_SHARE=1 to dead-letter them, then set it back and replay"
                " or discard them on the admin's dead-letter page.",
                partition, reason, offset,
            )  # fmt: skip
            self._reporter.opened(partition, offset, reason)

    def forget(self, partitions: Iterable[Partition]) -> None:
        partitions = sorted(set(partitions))
        if not partitions:
            return
        for partition in partitions:
            self._windows.pop(partition, None)
            self.open.pop(partition, None)
        self._reporter.cleared(partitions)

    def close(self) -> None:
        if self.open:
            self._reporter.cleared(sorted(self.open))
            self.open.clear()
