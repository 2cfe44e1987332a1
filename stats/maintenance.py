"""Scheduled raw-row pruning without a cron: the consumer calls `RawRowPruner` between polls.

Every `interval` seconds a pruning run starts; each call then deletes at most `batch_rows` of
the oldest raw impressions recorded before the retention cutoff (stats.retention), in its own
short transaction, until a call finds fewer: the loop polls between two batches, so recording
never waits long. On PostgreSQL a run first creates the day partitions ahead and drops whole
day partitions below the cutoff (stats.raw_partitions). A run's total is logged. A database
failure skips the rest of the run (the next run takes over) and never stops the consumer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, connection
from django.utils import timezone

from stats import raw_partitions
from stats.retention import prune_cutoff
from stats.services import impressions_prune

logger = logging.getLogger(__name__)


class RawRowPruner:
    """Call it as often as you like (`()`); it does at most one batch per call, and only when
    a run is due or in progress. `interval` <= 0 turns it off."""

    def __init__(
        self,
        *,
        interval: float,
        batch_rows: int,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = timezone.now,
    ) -> None:
        self.interval, self.batch_rows = interval, batch_rows
        self._clock, self._now = clock, now
        self._due = clock()  # the first run starts at once
        self._cutoff: datetime | None = None  # set while a run is in progress
        self._pruned = 0
        self.runs = 0  # finished runs, for tests and logs

    @classmethod
    def from_settings(cls) -> RawRowPruner:
        return cls(
            interval=settings.RAW_PRUNE_INTERVAL_SECONDS,
            batch_rows=settings.RAW_PRUNE_BATCH_ROWS,
        )

    def __call__(self) -> None:
        if self.interval <= 0:
            return
        if self._cutoff is None:
            if self._clock() < self._due:
                return
            self._cutoff, self._pruned = prune_cutoff(now=self._now()), 0
        try:
            if self._pruned == 0 and connection.vendor == "postgresql":
                raw_partitions.ensure_window(now=self._now())  # the day partitions ahead
            deleted = impressions_prune(
                older_than=self._cutoff, limit=self.batch_rows, now=self._now()
            )
        except (DataError, IntegrityError):
            raise  # not a passing failure: a bug
        except DatabaseError as exc:
            logger.warning(
                "pruning raw impressions failed (%s); next run in %gs", exc, self.interval
            )
            if not connection.in_atomic_block:
                connection.close()  # a broken connection is replaced on the next query
            self._finish()
            return
        self._pruned += deleted
        if deleted < self.batch_rows:
            logger.info(
                "pruned %d raw impressions recorded before %s; next run in %gs",
                self._pruned, f"{self._cutoff:%Y-%m-%d %H:%M} UTC", self.interval,
            )  # fmt: skip
            self._finish()

    def _finish(self) -> None:
        self._cutoff = None
        self._due = self._clock() + self.interval
        self.runs += 1
