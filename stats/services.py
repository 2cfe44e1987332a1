"""Writes: the one recording function that both ingest paths and the consumer call."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from impressions.contract import AdImpressionEvent
from impressions.models import Impression
from stats import bulk_postgres
from stats import bulk_sql as sql
from stats.bucketing import count_by_ad_minute, day_of
from stats.models import AdDailyUser, AdMinuteCount, PartitionOffset

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

    Idempotent on `event_id`: an event already stored (or repeated within `events`) changes
    nothing. The aggregates are fed only from the rows this call actually inserted, so a resent
    event never counts twice. `offsets` move the consumer's ledger forward in the same
    transaction (never backwards). Set-based: a few statements per batch, not one per event;
    on PostgreSQL the batch is COPYed in and recorded by one statement (stats.bulk_postgres).
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            recorded = bulk_postgres.record_new_impressions(events)
        else:
            new_events = _insert_new_impressions(events)
            _add_minute_counts(new_events)
            _add_daily_users(new_events)
            recorded = len(new_events)
        _advance_offsets(offsets)
    return recorded


def _insert_new_impressions(events: Sequence[AdImpressionEvent]) -> list[AdImpressionEvent]:
    by_id = {event.event_id: event for event in reversed(events)}  # the first of duplicates wins
    now = sql.db_datetime(timezone.now())
    rows = [
        (sql.db_uuid(e.event_id), e.ad_id, e.user_id, sql.db_datetime(e.timestamp), now)
        for e in sorted(by_id.values(), key=lambda e: e.event_id)
    ]
    inserted = sql.insert_values(
        f"INSERT INTO {sql.table(Impression)} "
        f"({sql.columns('event_id', 'ad_id', 'user_id', 'occurred_at', 'recorded_at')})",
        rows,
        tail=f"ON CONFLICT ({sql.columns('event_id')}) DO NOTHING "
        f"RETURNING {sql.columns('event_id')}",
        returning=True,
    )
    return [by_id[sql.as_uuid(row[0])] for row in inserted]


def _add_minute_counts(events: Sequence[AdImpressionEvent]) -> None:
    counts = count_by_ad_minute((e.ad_id, e.timestamp) for e in events)
    rows = [(ad_id, sql.db_datetime(minute), n) for (ad_id, minute), n in sorted(counts.items())]
    name = sql.table(AdMinuteCount)
    impressions = sql.columns("impressions")
    sql.insert_values(
        f"INSERT INTO {name} ({sql.columns('ad_id', 'minute', 'impressions')})",
        rows,
        tail=f"ON CONFLICT ({sql.columns('ad_id', 'minute')}) "
        f"DO UPDATE SET {impressions} = {name}.{impressions} + excluded.{impressions}",
    )


def _add_daily_users(events: Sequence[AdImpressionEvent]) -> None:
    keys = sorted({(e.ad_id, day_of(e.timestamp), e.user_id) for e in events})
    sql.insert_values(
        f"INSERT INTO {sql.table(AdDailyUser)} ({sql.columns('ad_id', 'day', 'user_id')})",
        [(ad_id, sql.db_date(day), user_id) for ad_id, day, user_id in keys],
        tail=f"ON CONFLICT ({sql.columns('ad_id', 'day', 'user_id')}) DO NOTHING",
    )


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


def impressions_prune(*, older_than: datetime) -> int:
    """Delete raw impressions recorded before `older_than`; aggregates stay.

    By recording time, not event time: a late event's row must outlive its clients' retries,
    since the row is what makes a retried event_id count once.
    """
    deleted, _ = Impression.objects.filter(recorded_at__lt=older_than).delete()
    return deleted
