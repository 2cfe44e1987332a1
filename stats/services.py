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
from stats import recording
from stats.models import PartitionOffset

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OffsetUpdate:
    """The next offset to read for one partition, stored in the same transaction as its rows.

    `topic_identity` is adopted by a ledger row that has none (and never replaces one);
    `expired_unrecorded` is added to the row's count when this update moves it forward.
    """

    consumer_group: str
    topic: str
    partition: int
    next_offset: int
    topic_identity: str | None = None
    expired_unrecorded: int = 0


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
    names = ("next_offset", "topic_identity", "expired_unrecorded", "updated_at")
    nxt, ident, expired, updated = (sql.columns(name) for name in names)
    key = sql.columns("consumer_group", "topic", "partition")
    forward = f"excluded.{nxt} > {name}.{nxt}"
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
                now,
            )
            for o in offsets
        ],  # fmt: skip
        # expired_unrecorded reads the row's old next_offset: SET sees the values before it.
        tail=f"ON CONFLICT ({key}) DO UPDATE SET "
        f"{expired} = {name}.{expired} + CASE WHEN {forward} THEN excluded.{expired} ELSE 0 END, "
        f"{nxt} = CASE WHEN {forward} THEN excluded.{nxt} ELSE {name}.{nxt} END, "
        f"{ident} = COALESCE({name}.{ident}, excluded.{ident}), "
        f"{updated} = excluded.{updated}",
    )


def impressions_prune(*, older_than: datetime) -> int:
    """Delete raw impressions recorded before `older_than`; aggregates stay.

    By recording time, not event time: a late event's row must outlive its clients' retries,
    since the row is what makes a retried event_id count once.
    """
    deleted, _ = Impression.objects.filter(recorded_at__lt=older_than).delete()
    return deleted
