"""Prometheus metrics and readiness of one consumer process (`runconsumer --metrics-port`).

`ConsumerMetrics` is the loop's observer (`observing.LoopObserver`): it keeps its samples in a
registry of its own (one process, no multiprocess files) that `metrics_server` exposes:

- stats_consumer_records_total{outcome}: recorded, duplicate, dead_lettered;
- stats_consumer_expired_unrecorded_total: records that left the topic (retention) before they
  were recorded, a loss (also logged as an error and kept per partition in the ledger);
- stats_consumer_batch_duration_seconds, stats_consumer_commit_duration_seconds{target}
  (database: the one transaction of rows, counters and ledger; broker: the offset commit);
- stats_consumer_lag{topic,partition}: end offset last seen while fetching minus the next offset
  to record, for each partition this process owns (as the progress log's lag);
- stats_consumer_last_commit_timestamp_seconds: wall-clock time of the last database commit;
- stats_consumer_owned_partitions;
- stats_complete_through_timestamp_seconds: the completeness watermark (stats.watermark), read
  through `watermark_source` at most every WATERMARK_REFRESH_SECONDS, on the loop's thread (a
  scrape never queries the database); absent until a consumer has reported one.

Readiness (`readiness()`) is a list of named checks like the web's /readyz: the process owns
partitions, or the group told it it has none; and it is not paused (`set_paused`, the hook for
the dead-letter breaker). `readiness_checks.append((name, check))` adds one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from stats.consumer.observing import BatchTimes
from stats.consumer.progress import ConsumerTotals
from stats.consumer.records import Partition

logger = logging.getLogger(__name__)

# A check returns None when all is well, else the reason it is not.
ReadinessCheck = Callable[[], str | None]

WATERMARK_REFRESH_SECONDS = 5.0

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ConsumerMetrics:
    """The loop's observer; thread-safe to read from the metrics server's threads."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._records = Counter(
            "stats_consumer_records", "Records consumed, by outcome.", ["outcome"], registry=r
        )
        for outcome in ("recorded", "duplicate", "dead_lettered"):
            self._records.labels(outcome)  # present at 0 from the start
        self._expired = Counter(
            "stats_consumer_expired_unrecorded",
            "Records that left the topic (retention) before they were recorded: a loss.",
            registry=r,
        )
        self._expired_seen = 0
        self._batch = Histogram(
            "stats_consumer_batch_duration_seconds",
            "From a batch in hand to its offsets committed.",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self._commit = Histogram(
            "stats_consumer_commit_duration_seconds",
            "Committing a batch: target=database (rows, counters, ledger), broker (offsets).",
            ["target"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self._lag = Gauge(
            "stats_consumer_lag",
            "Records behind the partition's end offset (last seen while fetching).",
            ["topic", "partition"],
            registry=r,
        )
        self._last_commit = Gauge(
            "stats_consumer_last_commit_timestamp_seconds",
            "Unix time of the last batch committed to the database.",
            registry=r,
        )
        self._owned = Gauge(
            "stats_consumer_owned_partitions", "Partitions this process owns.", registry=r
        )
        self._complete_through: Gauge | None = None
        self._seen = (0, 0, 0)  # recorded, duplicates, dead-lettered already counted
        self._lagging: set[Partition] = set()
        self._owned_count = 0
        self._paused: str | None = None
        self._lock = threading.Lock()
        # The group has assigned this member its partitions, and they are none (an idle
        # standby): set by build_consumer, which knows the client.
        self.told_it_has_none: Callable[[], bool] = lambda: False
        # The stored watermark as Unix seconds (None before any): set by build_consumer.
        self.watermark_source: Callable[[], float | None] | None = None
        self._watermark_due = 0.0
        self.readiness_checks: list[tuple[str, ReadinessCheck]] = [
            ("partitions", self._owns_partitions),
            ("not_paused", self._not_paused),
        ]

    # --- the loop's observer -------------------------------------------------------------------

    def stepped(
        self, *, lag: Mapping[Partition, int], totals: ConsumerTotals | None = None
    ) -> None:
        if totals is not None:
            self._count_expired(totals)
        with self._lock:
            for gone in self._lagging - set(lag):
                self._lag.remove(gone.topic, str(gone.index))
            for partition, behind in lag.items():
                self._lag.labels(partition.topic, str(partition.index)).set(behind)
            self._lagging = set(lag)
            self._owned_count = len(lag)
        self._owned.set(len(lag))
        self._refresh_watermark()

    def _count_expired(self, totals: ConsumerTotals) -> None:
        if totals.expired_unrecorded > self._expired_seen:
            self._expired.inc(totals.expired_unrecorded - self._expired_seen)
            self._expired_seen = totals.expired_unrecorded

    def _refresh_watermark(self) -> None:
        now = time.monotonic()
        if self.watermark_source is None or now < self._watermark_due:
            return
        self._watermark_due = now + WATERMARK_REFRESH_SECONDS
        try:
            through = self.watermark_source()
        except Exception as exc:  # noqa: BLE001 - a metric must never stop the loop
            logger.warning("reading the completeness watermark failed: %s", exc)
            return
        if through is not None:
            self.set_complete_through(through)

    def batch_recorded(self, *, totals: ConsumerTotals, times: BatchTimes) -> None:
        self._count_expired(totals)
        seen, self._seen = self._seen, (totals.recorded, totals.duplicates, totals.dead_lettered)
        for outcome, before, now in zip(
            ("recorded", "duplicate", "dead_lettered"), seen, self._seen, strict=True
        ):
            if now > before:
                self._records.labels(outcome).inc(now - before)
        self._batch.observe(times.total)
        self._commit.labels("database").observe(times.database)
        if times.broker_commit_ok:
            self._commit.labels("broker").observe(times.broker_commit)
        self._last_commit.set(time.time())

    # --- hooks for other parts ------------------------------------------------------------------

    def set_complete_through(self, timestamp: float) -> None:
        """The completeness watermark (Unix seconds): statistics before it are final."""
        if self._complete_through is None:
            self._complete_through = Gauge(
                "stats_complete_through_timestamp_seconds",
                "Statistics are complete (final) for event times before this Unix time.",
                registry=self.registry,
            )
        self._complete_through.set(timestamp)

    def set_paused(self, reason: str | None) -> None:
        """Not ready while paused (e.g. by the dead-letter breaker); None when resumed."""
        self._paused = reason

    # --- readiness ------------------------------------------------------------------------------

    def readiness(self) -> dict[str, str]:
        """Each check's verdict: "ok" or the reason it fails."""
        verdicts = {}
        for name, check in self.readiness_checks:
            try:
                reason = check()
            except Exception as exc:  # noqa: BLE001 - a failing check is a verdict, not a crash
                reason = f"{exc.__class__.__name__}: {exc}"
            verdicts[name] = "ok" if reason is None else reason
        return verdicts

    def _owns_partitions(self) -> str | None:
        if self._owned_count or self.told_it_has_none():
            return None
        return "no partitions yet: waiting for the group to assign them"

    def _not_paused(self) -> str | None:
        return None if self._paused is None else f"paused: {self._paused}"
