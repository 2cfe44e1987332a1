"""Reads over the counters, the user reach and the offset ledger; the API and the dashboard
call these. Each runs one SQL statement (two for a page past the last row), whatever the data
size: see stats.read_sql. The statistics reads take an optional `placement` (contract v2):
the same statement over the per-placement tables, so the unfiltered reads are unchanged."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from stats import kafka_admin
from stats.bucketing import Interval, days_touched, floor_to
from stats.lag_verdict import group_verdict, partition_verdict, recent
from stats.models import ALL_ADS, ConsumerBreaker, DeadLetter, PartitionOffset
from stats.progress_selectors import Completeness, completeness_get, ledger_with_progress
from stats.ranges import cover, series_buckets
from stats.read_sql import as_utc, counter_rows, fetch_all, reach_rows

ORDERINGS = {
    "impressions": "impressions DESC, ad_id",
    "-impressions": "impressions DESC, ad_id",
    "unique_users": "unique_users DESC, ad_id",
    "-unique_users": "unique_users DESC, ad_id",
    "ad_id": "ad_id",
    "-ad_id": "ad_id DESC",
}
"""Accepted `ordering` values. Counts sort largest first whichever sign is given."""


@dataclass
class AdTotalsPage:
    """One page of per-ad totals and the number of ads in the whole range."""

    count: int
    rows: list[dict[str, Any]]


def _per_ad(
    start: datetime | None,
    end: datetime | None,
    ads: Sequence[str] | None,
    params: list[Any],
    placement: str | None = None,
) -> str:
    """`ad_id, impressions, unique_users` of every ad (or of `ads`) with impressions in
    [start, end) (in `placement`, if given)."""
    counters = counter_rows(cover(start, end), ad_id=ads, params=params, placement=placement)
    reach = reach_rows(*days_touched(start, end), ad_id=ads, params=params, placement=placement)
    return (
        f"SELECT i.ad_id AS ad_id, i.impressions AS impressions,"
        f" COALESCE(u.users, 0) AS unique_users"
        f" FROM (SELECT ad_id, SUM(impressions) AS impressions FROM ({counters}) c"
        f" GROUP BY ad_id) i"
        f" LEFT JOIN (SELECT ad_id, SUM(users) AS users FROM ({reach}) r GROUP BY ad_id) u"
        f" ON u.ad_id = i.ad_id"
    )


def ad_totals_page(
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    ordering: str = "-impressions",
    limit: int = 50,
    offset: int = 0,
    ads: Sequence[str] | None = None,
    placement: str | None = None,
) -> AdTotalsPage:
    """Per-ad `ad_id`, `impressions` (minutes in [start, end)) and exact `unique_users`
    (distinct users over the whole UTC days the range touches), ordered and paginated.

    Only ads with impressions in the range are listed; with `ads`, only those of them; with
    `placement`, only what was shown in that placement.
    """
    params: list[Any] = []
    per_ad = _per_ad(start, end, ads, params, placement)
    rows = fetch_all(
        f"SELECT ad_id, impressions, unique_users, COUNT(*) OVER () FROM ({per_ad}) t"
        f" ORDER BY {ORDERINGS[ordering]} LIMIT %s OFFSET %s",
        [*params, limit, offset],
    )
    if rows:
        count = int(rows[0][3])
    else:  # past the last row (or no rows at all): the window count is not there to read
        params = []
        per_ad = _per_ad(start, end, ads, params, placement)
        count = int(fetch_all(f"SELECT COUNT(*) FROM ({per_ad}) t", params)[0][0])
    return AdTotalsPage(
        count=count,
        rows=[
            {"ad_id": ad, "impressions": int(n), "unique_users": int(users)}
            for ad, n, users, _ in rows
        ],
    )


def ad_totals_get(
    *,
    ad_id: str,
    start: datetime | None = None,
    end: datetime | None = None,
    placement: str | None = None,
) -> dict[str, Any]:
    """One ad's totals over the range, in `placement` if given (zeros for an ad never seen)."""
    params: list[Any] = []
    counters = counter_rows(cover(start, end), ad_id=ad_id, params=params, placement=placement)
    reach = reach_rows(*days_touched(start, end), ad_id=ad_id, params=params, placement=placement)
    impressions, users = fetch_all(
        f"SELECT (SELECT SUM(impressions) FROM ({counters}) c),"
        f" (SELECT SUM(users) FROM ({reach}) r)",
        params,
    )[0]
    return {"ad_id": ad_id, "impressions": int(impressions or 0), "unique_users": int(users or 0)}


def overall_totals(
    *, start: datetime | None = None, end: datetime | None = None, placement: str | None = None
) -> dict[str, int]:
    """All impressions, the number of ads with impressions, and exact site-wide unique users
    (in `placement`, if given)."""
    params: list[Any] = []  # in the order the statement uses them: reach, then counters
    reach = reach_rows(*days_touched(start, end), ad_id=ALL_ADS, params=params, placement=placement)
    counters = counter_rows(cover(start, end), ad_id=None, params=params, placement=placement)
    impressions, ads, users = fetch_all(
        f"SELECT SUM(impressions), COUNT(DISTINCT ad_id), (SELECT SUM(users) FROM ({reach}) r)"
        f" FROM ({counters}) c",
        params,
    )[0]
    return {
        "impressions": int(impressions or 0),
        "ads": int(ads or 0),
        "unique_users": int(users or 0),
    }


def ad_series(
    *,
    ad_id: str | None,
    interval: Interval,
    start: datetime,
    end: datetime,
    complete_through: datetime | None = None,
    placement: str | None = None,
) -> list[dict[str, Any]]:
    """Impressions per bucket of `interval` over [start, end), zero-filled; `ad_id` None sums
    every ad; `placement` counts only that placement's. Each bucket is `{"start", "end",
    "impressions", "partial", "final"}` as `ranges.series_buckets` decides them. Day buckets
    read day rows, hour buckets hour rows; partial buckets at the end read the finer rows."""
    params: list[Any] = []
    counters = counter_rows(
        cover(start, end, interval), ad_id=ad_id, params=params, placement=placement
    )
    rows = fetch_all(
        f"SELECT day, moment, SUM(impressions) FROM ({counters}) c GROUP BY day, moment", params
    )
    counts: dict[datetime, int] = {}
    for day, moment, n in rows:
        bucket = floor_to(as_utc(day if day is not None else moment), interval)
        counts[bucket] = counts.get(bucket, 0) + int(n)
    return [
        {**bucket.as_dict(), "impressions": counts.get(bucket.start, 0)}
        for bucket in series_buckets(start, end, interval, complete_through=complete_through)
    ]


def daily_unique_users(
    *, ad_id: str, first: date, last: date, placement: str | None = None
) -> list[dict[str, object]]:
    """Exact unique users of `ad_id` (or ALL_ADS) on each UTC day first..last, zero-filled
    (in `placement`, if given)."""
    params: list[Any] = []
    reach = reach_rows(first, last, ad_id=ad_id, params=params, per_day=True, placement=placement)
    rows = fetch_all(f"SELECT day, SUM(users) FROM ({reach}) r GROUP BY day", params)
    found = {as_utc(day).date(): int(n) for day, n in rows}
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [{"day": day, "unique_users": found.get(day, 0)} for day in days]


def stored_offsets(*, consumer_group: str, topic: str) -> dict[int, int]:
    """The ledger: partition -> next offset to read, as committed with the statistics."""
    rows = PartitionOffset.objects.filter(consumer_group=consumer_group, topic=topic)
    return dict(rows.values_list("partition", "next_offset"))


def ledger_rows(*, consumer_group: str, topic: str) -> list[tuple[int, int, str | None, int]]:
    """The ledger with what it knows of each partition's log: (partition, next offset, topic
    identity, records expired unrecorded)."""
    rows = PartitionOffset.objects.filter(consumer_group=consumer_group, topic=topic)
    return list(
        rows.values_list("partition", "next_offset", "topic_identity", "expired_unrecorded")
    )


@dataclass
class PipelineState:
    """Per-partition progress of one consumer group on one topic, and the group's members."""

    consumer_group: str
    topic: str
    broker_available: bool
    partitions: list[dict[str, Any]] = field(default_factory=list)
    members: list[dict[str, Any]] = field(default_factory=list)
    dead_letter_records: int | None = None
    last_recorded_at: datetime | None = None
    error: str | None = None
    completeness: Completeness = field(default_factory=Completeness)
    allowed_lateness_seconds: float = 0.0

    @property
    def verdict(self) -> str | None:
        """The group's lag verdict: its worst partition's (None if one is unknown)."""
        verdicts = [p["verdict"] for p in self.partitions]
        return None if None in verdicts else group_verdict(verdicts)

    @property
    def under_replicated_partitions(self) -> int | None:
        """How many partitions have fewer replicas in sync than assigned (None: unknown)."""
        flags = [p["under_replicated"] for p in self.partitions]
        return None if not flags or None in flags else sum(flags)

    @property
    def total_lag(self) -> int | None:
        lags = [p["lag"] for p in self.partitions]
        return None if any(lag is None for lag in lags) else sum(lag or 0 for lag in lags)


def pipeline_state(*, consumer_group: str, topic: str) -> PipelineState:
    """End offset (from the broker), processed offset (from the ledger), lag, read-through time,
    lag verdict (stats.lag_verdict), the records that expired before they were recorded (a
    loss to look into) and the leader, replicas, in-sync replicas and under-replicated flag
    (from the broker) per partition; the group's members and the dead-letter topic's record
    count (from the broker); the time the ledger last moved; completeness and late events. Two
    SQL statements.

    When the broker cannot be reached the ledger is still shown, with end offsets, lag,
    verdicts, leader and under-replicated flag None.
    """
    ledger, samples = ledger_with_progress(consumer_group=consumer_group, topic=topic)
    processed = {partition: row.next_offset for partition, row in ledger.items()}
    state = PipelineState(consumer_group, topic, broker_available=True)
    state.last_recorded_at = max((row.updated_at for row in ledger.values()), default=None)
    state.completeness = completeness_get(consumer_group=consumer_group, topic=topic)
    state.allowed_lateness_seconds = settings.STATS_ALLOWED_LATENESS_SECONDS
    replication: dict[int, dict[str, Any]] = {}
    try:
        # First and on its own: metadata answers while a dead node still leads partitions (whose
        # end offsets then time out), which is when the ISR matters most.
        replication = kafka_admin.partition_replicas(topic)
        ends = kafka_admin.end_offsets(topic)
        state.members = kafka_admin.group_members(consumer_group, topic)
        state.dead_letter_records = kafka_admin.retained_records(
            kafka_admin.dead_letter_topic(topic)
        )
    except kafka_admin.BrokerUnavailable as exc:
        ends = {}
        state.broker_available, state.error, state.members = False, str(exc), []
    now, interval = timezone.now(), timedelta(seconds=settings.STATS_PROGRESS_INTERVAL_SECONDS)
    for partition in sorted(set(ends) | set(processed) | set(replication)):
        end = ends.get(partition)
        done = processed.get(partition, 0)
        lag = None if end is None else max(end - done, 0)
        window = recent(samples.get(partition, ()), interval=interval)
        state.partitions.append(
            {
                "partition": partition,
                "end_offset": end,
                "processed_offset": done,
                "lag": lag,
                "read_through": ledger[partition].read_through if partition in ledger else None,
                "verdict": None if lag is None else partition_verdict(window, lag_now=lag, now=now),
                "samples": len(window),
                "expired_unrecorded": ledger[partition].expired_unrecorded
                if partition in ledger
                else 0,
                **replication.get(partition, _UNKNOWN_REPLICATION),
            }
        )
    return state


# A partition's replication when the broker cannot be asked (stats.kafka_admin.partition_replicas).
_UNKNOWN_REPLICATION: dict[str, Any] = {
    "leader": None,
    "replicas": [],
    "in_sync_replicas": [],
    "under_replicated": None,
}


def open_breakers(*, consumer_group: str, topic: str) -> list[str]:
    """Why the consumer group holds partitions of `topic` now: one sentence per partition whose
    dead-letter breaker is open (too many invalid records; see stats.consumer.breaker), oldest
    first; empty when none is. A non-empty list means the consumer is not ready. One statement.

    The consumer writes the state when a breaker opens and clears it when the partition changes
    owner (a restart included) or the consumer closes.
    """
    rows = ConsumerBreaker.objects.filter(consumer_group=consumer_group, topic=topic).order_by(
        "opened_at", "partition"
    )
    return [
        f"{topic}[{row.partition}] held at offset {row.held_at} since "
        f"{row.opened_at:%Y-%m-%d %H:%M:%S} UTC: {row.reason}"
        for row in rows
    ]


def dead_letters_as_json(letters: QuerySet[DeadLetter]) -> list[dict[str, Any]]:
    """The letters as JSON-ready dicts (key and value as UTF-8 text when they are text, and
    always as base64), in the mirror's order."""
    return [
        {
            "dlq": {"topic": d.dlq_topic, "partition": d.dlq_partition, "offset": d.dlq_offset},
            "dead_lettered_at": d.dead_lettered_at.isoformat(),
            "source": {
                "topic": d.source_topic,
                "partition": d.source_partition,
                "offset": d.source_offset,
                "timestamp": d.source_timestamp.isoformat() if d.source_timestamp else None,
            },
            "consumer_group": d.consumer_group,
            "reason": d.reason,
            **_bytes_field("key", d.key),
            **_bytes_field("value", d.value),
            "truncated": d.truncated,
            "headers": d.headers,
            "replay_count": d.replay_count,
            "status": d.status,
            "replayed_at": d.replayed_at.isoformat() if d.replayed_at else None,
            "replayed_by": d.replayed_by.get_username() if d.replayed_by else None,
            **_bytes_field("fixed_value", d.fixed_value),
            "discarded_at": d.discarded_at.isoformat() if d.discarded_at else None,
            "discarded_by": d.discarded_by.get_username() if d.discarded_by else None,
            "discard_note": d.discard_note,
        }
        for d in letters.select_related("discarded_by", "replayed_by")
    ]


def _bytes_field(name: str, value: bytes | memoryview | None) -> dict[str, str | None]:
    if value is None:
        return {name: None, f"{name}_base64": None}
    raw = bytes(value)
    try:
        text: str | None = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return {name: text, f"{name}_base64": base64.b64encode(raw).decode()}
