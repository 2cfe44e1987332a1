"""Reads of progress in time: completeness (stats.watermark) and the ledger with each
partition's read-through time and lag samples (stats.lag_verdict). One statement each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from stats import bulk_sql as sql
from stats.lag_verdict import LagSample
from stats.models import PartitionLagSample, PartitionOffset, PartitionProgress, TopicCompleteness
from stats.read_sql import as_utc, fetch_all


@dataclass
class Completeness:
    """Up to which instant a group's statistics of a topic are final (stats.watermark)."""

    complete_through: datetime | None = None
    late_events: int = 0
    partitions: int = 0


def completeness_get(
    *, consumer_group: str | None = None, topic: str | None = None
) -> Completeness:
    """The stored watermark of a group and topic (default: the configured ones). One
    statement; an empty Completeness before any consumer has reported."""
    row = (
        TopicCompleteness.objects.filter(
            consumer_group=consumer_group or settings.STATS_CONSUMER_GROUP,
            topic=topic or settings.IMPRESSIONS_TOPIC,
        )
        .values_list("complete_through", "late_events", "partitions")
        .first()
    )
    return Completeness(*row) if row else Completeness()


@dataclass(frozen=True)
class LedgerRow:
    """One partition's ledger row with its progress in time."""

    next_offset: int
    updated_at: datetime
    read_through: datetime | None
    expired_unrecorded: int  # records that left the topic before they were recorded


def ledger_with_progress(
    *, consumer_group: str, topic: str
) -> tuple[dict[int, LedgerRow], dict[int, list[LagSample]]]:
    """partition -> its ledger row with progress, and partition -> lag samples, in one
    statement (the ledger joined with progress and the ring of samples)."""
    c = sql.columns

    def same_partition(alias: str) -> str:
        names = ("consumer_group", "topic", "partition")
        return " AND ".join(f"{alias}.{c(name)} = l.{c(name)}" for name in names)

    rows = fetch_all(
        f"SELECT l.{c('partition')}, l.{c('next_offset')}, l.{c('updated_at')},"
        f" l.{c('expired_unrecorded')},"
        f" p.{c('read_through')}, s.{c('taken_at')}, s.{c('next_offset')}, s.{c('end_offset')}"
        f" FROM {sql.table(PartitionOffset)} l"
        f" LEFT JOIN {sql.table(PartitionProgress)} p ON {same_partition('p')}"
        f" LEFT JOIN {sql.table(PartitionLagSample)} s ON {same_partition('s')}"
        f" WHERE l.{c('consumer_group')} = %s AND l.{c('topic')} = %s",
        [consumer_group, topic],
    )
    ledger: dict[int, LedgerRow] = {}
    samples: dict[int, list[LagSample]] = {}
    for partition, offset, updated, expired, read_through, taken, at_offset, end in rows:
        ledger[partition] = LedgerRow(
            int(offset),
            as_utc(updated),
            None if read_through is None else as_utc(read_through),
            int(expired),
        )
        if taken is not None:
            sample = LagSample(as_utc(taken), int(at_offset), max(int(end) - int(at_offset), 0))
            samples.setdefault(partition, []).append(sample)
    return ledger, samples
