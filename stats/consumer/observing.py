"""What the consumer loop reports as it goes, for metrics and readiness (`metrics.py`).

The loop calls an observer at two places: after each step (with the lag of every partition it
owns and has seeked), and after each batch it recorded. The default observer does nothing, so
the core needs no metrics library and its in-memory tests run without one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from stats.consumer.progress import ConsumerTotals
from stats.consumer.records import Partition


@dataclass(frozen=True)
class BatchTimes:
    """Seconds spent on one recorded batch, by the loop's clock."""

    total: float  # from the batch in hand to its offsets committed to the broker
    database: float  # the one transaction: rows, counters and ledger
    broker_commit: float  # committing the offsets to the broker, for lag tools
    broker_commit_ok: bool


class LoopObserver(Protocol):
    """Receives the loop's reports on the loop's thread; must return quickly and not raise."""

    def stepped(
        self, *, lag: Mapping[Partition, int], totals: ConsumerTotals | None = None
    ) -> None:
        """After each poll: records behind the end offset last seen, per owned seeked partition,
        and the running totals (records found expired are counted at a seek, not in a batch)."""
        ...

    def batch_recorded(self, *, totals: ConsumerTotals, times: BatchTimes) -> None:
        """After a batch was committed to the database; `totals` are the running totals."""
        ...


class NoObserver:
    """The default: reports go nowhere."""

    def stepped(
        self, *, lag: Mapping[Partition, int], totals: ConsumerTotals | None = None
    ) -> None:
        pass

    def batch_recorded(self, *, totals: ConsumerTotals, times: BatchTimes) -> None:
        pass
