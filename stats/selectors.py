"""Reads over the aggregate tables and the offset ledger; the API and the dashboard call these."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Trunc

from stats import kafka_topics
from stats.bucketing import Interval, days_touched, zero_filled
from stats.models import AdDailyUser, AdMinuteCount, PartitionOffset

ORDERINGS = {
    "impressions": ("-impressions", "ad_id"),
    "-impressions": ("-impressions", "ad_id"),
    "unique_users": ("-unique_users", "ad_id"),
    "-unique_users": ("-unique_users", "ad_id"),
    "ad_id": ("ad_id",),
    "-ad_id": ("-ad_id",),
}
"""Accepted `ordering` values. Counts sort largest first whichever sign is given."""


def _minutes_in(start: datetime | None, end: datetime | None) -> QuerySet[AdMinuteCount]:
    rows = AdMinuteCount.objects.all()
    if start is not None:
        rows = rows.filter(minute__gte=start)
    if end is not None:
        rows = rows.filter(minute__lt=end)
    return rows


def _users_in(start: datetime | None, end: datetime | None) -> QuerySet[AdDailyUser]:
    first, last = days_touched(start, end)
    rows = AdDailyUser.objects.all()
    if first is not None:
        rows = rows.filter(day__gte=first)
    if last is not None:
        rows = rows.filter(day__lte=last)
    return rows


def ad_totals_list(
    *, start: datetime | None = None, end: datetime | None = None, ordering: str = "-impressions"
) -> QuerySet[Any, Any]:
    """Per-ad `ad_id`, `impressions` (minutes in [start, end)) and `unique_users`.

    Unique users are exact and counted over the whole UTC days that the range touches.
    """
    unique_users = (
        _users_in(start, end)
        .filter(ad_id=OuterRef("ad_id"))
        .order_by()
        .values("ad_id")
        .annotate(n=Count("user_id", distinct=True))
        .values("n")
    )
    return (
        _minutes_in(start, end)
        .order_by()
        .values("ad_id")
        .annotate(
            impressions=Sum("impressions"),
            unique_users=Coalesce(Subquery(unique_users, output_field=IntegerField()), Value(0)),
        )
        .order_by(*ORDERINGS[ordering])
    )


def ad_totals_get(
    *, ad_id: str, start: datetime | None = None, end: datetime | None = None
) -> dict[str, Any]:
    """One ad's totals over the range (zeros for an ad never seen)."""
    impressions = _minutes_in(start, end).filter(ad_id=ad_id).aggregate(n=Sum("impressions"))["n"]
    users = _users_in(start, end).filter(ad_id=ad_id).values("user_id").distinct().count()
    return {"ad_id": ad_id, "impressions": impressions or 0, "unique_users": users}


def ad_series(
    *, ad_id: str, interval: Interval, start: datetime, end: datetime
) -> list[dict[str, object]]:
    """Impressions of one ad per bucket of `interval` over [start, end), zero-filled."""
    rows = (
        _minutes_in(start, end)
        .filter(ad_id=ad_id)
        .annotate(bucket=Trunc("minute", interval, tzinfo=UTC))
        .order_by()
        .values("bucket")
        .annotate(n=Sum("impressions"))
    )
    return zero_filled({row["bucket"]: row["n"] for row in rows}, start, end, interval)


def overall_totals(*, start: datetime | None = None, end: datetime | None = None) -> dict[str, int]:
    """All impressions and the number of distinct ads over the range."""
    totals = _minutes_in(start, end).aggregate(
        impressions=Sum("impressions"), ads=Count("ad_id", distinct=True)
    )
    return {"impressions": totals["impressions"] or 0, "ads": totals["ads"]}


def stored_offsets(*, consumer_group: str, topic: str) -> dict[int, int]:
    """The ledger: partition -> next offset to read, as committed with the statistics."""
    rows = PartitionOffset.objects.filter(consumer_group=consumer_group, topic=topic)
    return dict(rows.values_list("partition", "next_offset"))


@dataclass
class PipelineState:
    """Per-partition progress of one consumer group on one topic."""

    consumer_group: str
    topic: str
    broker_available: bool
    partitions: list[dict[str, int | None]] = field(default_factory=list)
    error: str | None = None

    @property
    def total_lag(self) -> int | None:
        lags = [p["lag"] for p in self.partitions]
        return None if any(lag is None for lag in lags) else sum(lag or 0 for lag in lags)


def pipeline_state(*, consumer_group: str, topic: str) -> PipelineState:
    """End offset (from the broker), processed offset (from the ledger) and lag per partition.

    When the broker cannot be reached the ledger is still shown, with end offsets and lag None.
    """
    processed = stored_offsets(consumer_group=consumer_group, topic=topic)
    try:
        ends = kafka_topics.end_offsets(topic)
        state = PipelineState(consumer_group, topic, broker_available=True)
    except kafka_topics.BrokerUnavailable as exc:
        ends = {}
        state = PipelineState(consumer_group, topic, broker_available=False, error=str(exc))
    for partition in sorted(set(ends) | set(processed)):
        end = ends.get(partition)
        done = processed.get(partition, 0)
        lag = None if end is None else max(end - done, 0)
        state.partitions.append(
            {"partition": partition, "end_offset": end, "processed_offset": done, "lag": lag}
        )
    return state
