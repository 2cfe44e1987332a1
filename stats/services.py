"""Writes: the one recording function that both ingest paths and the consumer call."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from impressions.contract import AdImpressionEvent
from impressions.models import Impression
from stats import bulk_sql as sql
from stats import completeness, raw_partitions, recording, retention
from stats.models import PartitionOffset
from stats.offset_update import OffsetUpdate

logger = logging.getLogger(__name__)


def record_impressions(
    *, events: Sequence[AdImpressionEvent], offsets: Sequence[OffsetUpdate] = ()
) -> int:
    """Store each event once and count it, in one transaction; return how many were new.

    Idempotent on `event_id`: an event already stored (or repeated within `events`, where the
    first copy wins) changes nothing. On PostgreSQL, whose raw table is partitioned by day, an
    id stored under an event time more than the duplicate window away is another event
    (stats.recording.copy_rounds, docs/architecture.md). The minute, hour and day counters and
    the exact user sets are fed only from the rows this call actually inserted, so a resent
    event never counts twice. `offsets` move the consumer's ledger forward in the same
    transaction (never backwards), with the progress in time, lag samples and completeness they
    carry (stats.completeness). New events whose event time lies before the stored
    `complete_through` are counted as usual and also counted as late. Set-based: a fixed number
    of statements per batch, the same SQL on PostgreSQL and SQLite (stats.recording).
    """
    now = timezone.now()
    stream = (
        (offsets[0].consumer_group, offsets[0].topic)
        if offsets
        else (settings.STATS_CONSUMER_GROUP, settings.IMPRESSIONS_TOPIC)
    )  # whose watermark decides which new events are late
    with transaction.atomic():
        recorded = sum(
            recording.record_new(copies, recorded_at=now)
            for copies in recording.copy_rounds(events)
        )
        _advance_offsets(offsets, now=now)
        completeness.advance(offsets, now=now, late_in=stream if recorded else None)
    return recorded


def _advance_offsets(offsets: Sequence[OffsetUpdate], *, now: datetime) -> None:
    """Upsert each partition's next offset, never backwards; `updated_at` says when it last
    moved (the consumer's progress marks repeat an offset every few seconds)."""
    name = sql.table(PartitionOffset)
    names = ("next_offset", "topic_identity", "expired_unrecorded", "updated_at")
    nxt, ident, expired, updated = (sql.columns(column) for column in names)
    key = sql.columns("consumer_group", "topic", "partition")
    moved = f"excluded.{nxt} > {name}.{nxt}"
    sql.insert_values(
        f"INSERT INTO {name} ({key}, {nxt}, {ident}, {expired}, {updated})",
        [
            (
                o.consumer_group,
                o.topic,
                o.partition,
                o.next_offset,
                o.topic_identity,
                o.expired_unrecorded,
                sql.db_datetime(now),
            )
            # in key order, like every other write, so concurrent writers cannot deadlock
            for o in sorted(offsets, key=lambda o: (o.consumer_group, o.topic, o.partition))
        ],  # fmt: skip
        # expired_unrecorded reads the row's old next_offset: SET sees the values before it.
        tail=f"ON CONFLICT ({key}) DO UPDATE SET "
        f"{expired} = {name}.{expired} + CASE WHEN {moved} THEN excluded.{expired} ELSE 0 END, "
        f"{nxt} = CASE WHEN {moved} THEN excluded.{nxt} ELSE {name}.{nxt} END, "
        f"{ident} = COALESCE({name}.{ident}, excluded.{ident}), "
        f"{updated} = CASE WHEN {moved} THEN excluded.{updated} ELSE {name}.{updated} END",
    )


def impressions_prune(
    *, older_than: datetime, limit: int | None = None, now: datetime | None = None
) -> int:
    """Delete raw impressions recorded before `older_than` (at most `limit`, oldest first, in
    one short transaction); return how many. Aggregates stay.

    By recording time, not event time: a late event's row must outlive its clients' retries,
    since the row is what makes a retried event_id count once. Raises
    retention.RetentionRefused when `older_than` is younger than RAW_IMPRESSION_RETENTION_DAYS
    before `now` (see stats.retention for why the retention has a floor).
    """
    retention.check_prune_cutoff(older_than, now=now or timezone.now())
    # On PostgreSQL whole day partitions go first (one DROP each, not counted in `limit`);
    # rows of the DEFAULT partition and of partitions not yet wholly old are deleted below.
    dropped = raw_partitions.drop_below(older_than) if connection.vendor == "postgresql" else 0
    rows = Impression.objects.filter(recorded_at__lt=older_than)
    with transaction.atomic():
        if limit is not None:
            oldest = rows.order_by("recorded_at").values_list("pk", flat=True)[:limit]
            rows = Impression.objects.filter(pk__in=list(oldest), recorded_at__lt=older_than)
        deleted, _ = rows.delete()
    return dropped + deleted
