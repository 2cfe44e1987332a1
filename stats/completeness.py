"""The statements that keep progress in time, lag samples and completeness, run by
`record_impressions` inside its transaction (so they commit with the ledger, or not at all).

- `PartitionProgress`: each partition's read-through time, never backwards;
- `PartitionLagSample`: a ring of SAMPLE_SLOTS samples per partition (the ledger's offset and
  the end offset the consumer saw), one slot per STATS_PROGRESS_INTERVAL_SECONDS;
- `TopicCompleteness`: the partition count, `complete_through` (stats.watermark decides it; the
  upsert keeps the larger of the stored and the new value) and the late events (new events whose
  time lies before `complete_through` as it stood when they were recorded).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import groupby
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection

from stats import bulk_sql as sql
from stats import watermark
from stats.lag_verdict import SAMPLE_SLOTS
from stats.models import PartitionLagSample, PartitionOffset, PartitionProgress, TopicCompleteness
from stats.recording import STAGING

if TYPE_CHECKING:
    from stats.offset_update import OffsetUpdate

KEY = ("consumer_group", "topic", "partition")


def count_late(*, consumer_group: str, topic: str) -> int:
    """Add this transaction's newly recorded events (the staging table's new rows) whose event
    time lies before the stored `complete_through` to `late_events`; return how many."""
    table, c = sql.table(TopicCompleteness), sql.columns
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM {STAGING} s JOIN {table} w ON w.{c('consumer_group')} = %s"
            f" AND w.{c('topic')} = %s WHERE s.is_new = 1"
            f" AND s.occurred_at < w.{c('complete_through')}",
            [consumer_group, topic],
        )
        late = int(cursor.fetchone()[0])
        if late:  # the row is locked only when there is something to add
            cursor.execute(
                f"UPDATE {table} SET {c('late_events')} = {c('late_events')} + %s"
                f" WHERE {c('consumer_group')} = %s AND {c('topic')} = %s",
                [late, consumer_group, topic],
            )
    return late


def advance(
    offsets: Sequence[OffsetUpdate], *, now: datetime, late_in: tuple[str, str] | None
) -> None:
    """Store the progress, samples and partition counts `offsets` carry; with `late_in`
    (group, topic), count this transaction's new events that are late against that watermark
    as it stood; then move `complete_through` of each group and topic `offsets` name.

    The completeness rows are touched last, after the ledger and progress rows (in key order),
    so concurrent writers always lock in the same order and cannot deadlock.
    """
    carrying = [
        o
        for o in offsets
        if o.read_through is not None or o.end_offset is not None or o.topic_partitions
    ]
    carrying.sort(key=lambda o: (o.consumer_group, o.topic, o.partition))
    streams: dict[tuple[str, str], int] = {}
    for (group, topic), updates in groupby(carrying, key=lambda o: (o.consumer_group, o.topic)):
        batch = list(updates)
        _read_through(batch, now=now)
        _samples(group, topic, [o for o in batch if o.end_offset is not None], now=now)
        streams[group, topic] = max(o.topic_partitions or 0 for o in batch)
    if late_in is not None:
        count_late(consumer_group=late_in[0], topic=late_in[1])
    for (group, topic), reported in streams.items():
        _complete_through(group, topic, reported_partitions=reported, now=now)


def _read_through(updates: list[OffsetUpdate], *, now: datetime) -> None:
    name, c = sql.table(PartitionProgress), sql.columns
    rt = c("read_through")
    sql.insert_values(
        f"INSERT INTO {name} ({c(*KEY, 'read_through', 'updated_at')})",
        [
            (
                o.consumer_group,
                o.topic,
                o.partition,
                sql.db_datetime(o.read_through),
                sql.db_datetime(now),
            )
            for o in updates
            if o.read_through is not None
        ],  # fmt: skip
        tail=f"ON CONFLICT ({c(*KEY)}) DO UPDATE SET"
        f" {rt} = CASE WHEN excluded.{rt} > {name}.{rt} THEN excluded.{rt} ELSE {name}.{rt} END,"
        f" {c('updated_at')} = excluded.{c('updated_at')}",
    )


def _samples(group: str, topic: str, updates: list[OffsetUpdate], *, now: datetime) -> None:
    """One sample per partition in the slot of `now`, with the ledger's offset (just written)."""
    if not updates:
        return
    interval = settings.STATS_PROGRESS_INTERVAL_SECONDS
    slot = int(now.timestamp() // interval) % SAMPLE_SLOTS
    samples, ledger, c = sql.table(PartitionLagSample), sql.table(PartitionOffset), sql.columns
    values = ", ".join(["(%s, %s)"] * len(updates))
    params: list[Any] = [p for o in updates for p in (o.partition, o.end_offset)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {samples} ({c(*KEY, 'slot', 'taken_at', 'next_offset', 'end_offset')})"
            f" SELECT l.{c('consumer_group')}, l.{c('topic')}, l.{c('partition')}, %s, %s,"
            f" l.{c('next_offset')}, v.column2 FROM (VALUES {values}) v"
            f" JOIN {ledger} l ON l.{c('partition')} = v.column1"
            f" WHERE l.{c('consumer_group')} = %s AND l.{c('topic')} = %s"
            f" ON CONFLICT ({c(*KEY, 'slot')}) DO UPDATE SET"
            f" {c('taken_at')} = excluded.{c('taken_at')},"
            f" {c('next_offset')} = excluded.{c('next_offset')},"
            f" {c('end_offset')} = excluded.{c('end_offset')}",
            [slot, sql.db_datetime(now), *params, group, topic],
        )


def _complete_through(group: str, topic: str, *, reported_partitions: int, now: datetime) -> None:
    progress = PartitionProgress.objects.filter(consumer_group=group, topic=topic)
    read_through = dict(progress.values_list("partition", "read_through"))
    stored = TopicCompleteness.objects.filter(consumer_group=group, topic=topic)
    partitions = max(reported_partitions, stored.values_list("partitions", flat=True).first() or 0)
    through = watermark.complete_through(
        read_through=read_through,
        partitions=partitions,
        allowed_lateness=timedelta(seconds=settings.STATS_ALLOWED_LATENESS_SECONDS),
    )
    name, c = sql.table(TopicCompleteness), sql.columns
    ct, n = c("complete_through"), c("partitions")
    sql.insert_values(
        f"INSERT INTO {name} ({c('consumer_group', 'topic', 'partitions', 'complete_through')},"
        f" {c('late_events', 'updated_at')})",
        [(group, topic, partitions, through and sql.db_datetime(through), 0, sql.db_datetime(now))],
        tail=f"ON CONFLICT ({c('consumer_group', 'topic')}) DO UPDATE SET"
        f" {n} = CASE WHEN excluded.{n} > {name}.{n} THEN excluded.{n} ELSE {name}.{n} END,"
        f" {ct} = CASE WHEN {name}.{ct} IS NULL OR excluded.{ct} > {name}.{ct}"
        f" THEN excluded.{ct} ELSE {name}.{ct} END,"
        f" {c('updated_at')} = excluded.{c('updated_at')}",
    )
