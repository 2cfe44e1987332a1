"""Running totals and the progress log: rate, totals and lag while events flow, rarely when idle."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

logger = logging.getLogger(__name__)

IDLE_REPORT_INTERVAL = 300.0  # seconds between "idle" lines once the consumer has caught up


@dataclass
class ConsumerTotals:
    """Running totals, reported in the progress log and read by the benchmark."""

    consumed: int = 0
    recorded: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    expired_unrecorded: int = 0  # left the log (retention) before being recorded: a loss
    batches: int = 0
    first_batch_at: float | None = None  # the loop's clock, when the first batch arrived
    last_batch_at: float | None = None  # the loop's clock, end of the last batch's commit
    last_batch_time: datetime | None = None  # wall clock, for the idle line

    def add(
        self, *, consumed: int, recorded: int, duplicates: int, dead_lettered: int, now: float
    ) -> None:
        self.consumed += consumed
        self.recorded += recorded
        self.duplicates += duplicates
        self.dead_lettered += dead_lettered
        self.batches += 1
        self.last_batch_at = now
        self.last_batch_time = datetime.now(UTC)

    def busy_rate(self) -> float:
        """Events per second from the first batch's arrival to the last batch's commit."""
        if self.first_batch_at is None or self.last_batch_at is None:
            return 0.0
        return self.consumed / max(self.last_batch_at - self.first_batch_at, 1e-9)


class ProgressLog:
    """One line every `interval` seconds while records arrive or lag remains. Once nothing
    arrives and the lag is 0, one "idle" line, then one every `idle_interval` seconds."""

    def __init__(
        self,
        totals: ConsumerTotals,
        *,
        interval: float,
        now: float,
        idle_interval: float = IDLE_REPORT_INTERVAL,
    ) -> None:
        self.totals = totals
        self.interval = interval
        self.idle_interval = idle_interval
        self._last_report = now
        self._reported = 0  # totals.consumed at the last report
        self._idle_reported_at: float | None = None

    def tick(self, now: float, lag: Callable[[], int]) -> None:
        """Report if an interval has passed since the last report."""
        if now - self._last_report < self.interval:
            return
        consumed, lag_now = self.totals.consumed - self._reported, lag()
        if consumed or lag_now:
            self._progress(consumed, now - self._last_report, lag_now)
            self._idle_reported_at = None
        elif self._idle_reported_at is None or now - self._idle_reported_at >= self.idle_interval:
            self._idle(lag_now)
            self._idle_reported_at = now
        self._last_report, self._reported = now, self.totals.consumed

    def final(self, now: float, lag: Callable[[], int]) -> None:
        self._progress(self.totals.consumed - self._reported, now - self._last_report, lag())

    def _progress(self, consumed: int, seconds: float, lag: int) -> None:
        t = self.totals
        logger.info(
            "%d events in %.1fs (%.0f/s); totals: %d consumed, %d new, %d duplicates, "
            "%d dead-lettered; lag %d",
            consumed, seconds, consumed / max(seconds, 1e-9),
            t.consumed, t.recorded, t.duplicates, t.dead_lettered, lag,
        )  # fmt: skip

    def _idle(self, lag: int) -> None:
        t = self.totals
        since = "start"
        if t.last_batch_time is not None:
            since = f"{t.last_batch_time:%Y-%m-%d %H:%M:%S} UTC"
        logger.info(
            "idle: no records since %s, lag %d; totals: %d consumed, %d new, %d duplicates, "
            "%d dead-lettered",
            since, lag, t.consumed, t.recorded, t.duplicates, t.dead_lettered,
        )  # fmt: skip
