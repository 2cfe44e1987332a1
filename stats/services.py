"""Writes: the one recording function that both ingest paths and the consumer call."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from impressions.contract import AdImpressionEvent
from impressions.models import Impression
from stats import bulk_sql as sql
from stats import recording, retention
from stats.models import PartitionOffset

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OffsetUpdate:
    """The next offset to read for one partition, stored in the same transaction as its rows."""

    consumer_group: str
    topic: str
    partition: int
    next_offset: int


def record_impressions(
    *, events: Sequence[AdImpressionEvent], offsets: Sequence[OffsetUpdate] = ()
) -> int:
    """Store each event once and count it, in one transaction; return how many were new.

    Idempotent on `event_id`: an event already stored (or repeated within `events`, where the
    first copy wins) changes nothing. The minute, hour and day counters and the exact user
    sets are fed only from the rows this call actually inserted, so a resent event never
    counts twice. `offsets` move the consumer's ledger forward in the same transaction (never
    backwards). Set-based: a fixed number of statements per batch, the same SQL on PostgreSQL
    and SQLite (stats.recording).
    """
    unique = list({event.event_id: event for event in reversed(events)}.values())
    unique.reverse()
    with transaction.atomic():
        recorded = recording.record_new(unique, recorded_at=timezone.now())
        _advance_offsets(offsets)
    return recorded


def _advance_offsets(offsets: Sequence[OffsetUpdate]) -> None:
    now = sql.db_datetime(timezone.now())
    name = sql.table(PartitionOffset)
    nxt = sql.columns("next_offset")
    sql.insert_values(
        f"INSERT INTO {name} "
        f"({sql.columns('consumer_group', 'topic', 'partition', 'next_offset', 'updated_at')})",
        [(o.consumer_group, o.topic, o.partition, o.next_offset, now) for o in offsets],
        tail=f"ON CONFLICT ({sql.columns('consumer_group', 'topic', 'partition')}) DO UPDATE SET "
        f"{nxt} = CASE WHEN excluded.{nxt} > {name}.{nxt} "
        f"THEN excluded.{nxt} ELSE {name}.{nxt} END, "
        f"{sql.columns('updated_at')} = excluded.{sql.columns('updated_at')}",
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
    rows = Impression.objects.filter(recorded_at__lt=older_than)
    with transaction.atomic():
        if limit is not None:
            oldest = rows.order_by("recorded_at").values_list("pk", flat=True)[:limit]
            rows = Impression.objects.filter(pk__in=list(oldest))
        deleted, _ = rows.delete()
    return deleted
