"""Writes for dead-letter triage: mirror `<topic>.dlq` into `DeadLetter`, replay, discard; and
the consumer's dead-letter breaker state (`ConsumerBreaker`).

Replaying re-publishes a dead letter's original key and value to its source topic (and
partition), with `dlq.replay-count` one above the copy's. The consumer then records it like any
record: its event id makes a second replay count nothing, and a record that is still invalid
is dead-lettered again, carrying its replay count into the mirror.

Fixing and replaying (`dead_letter_replay_fixed`) publishes an operator's corrected value
instead, once it passes the consumer's own contract; the letter keeps that value
(`fixed_value`), and a later replay of the letter re-publishes the fixed copy, never the
broken original.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from impressions.contract import (
    LATEST_TIMESTAMP,
    AdImpressionEvent,
    decode_event,
    event_key,
    is_ad_id,
)
from stats import dead_letter_topic as topic_io
from stats.kafka_admin import dead_letter_topic
from stats.models import ConsumerBreaker, DeadLetter

REPLAY_COUNT_HEADER = "dlq.replay-count"  # decimal text, as the consumer's sink carries it
EDITED_BY_HEADER = "dlq.edited-by"  # the username of who fixed the value
REPLAY_CHUNK = 500
# Spring Kafka's binary headers: big-endian 4-byte (partition) and 8-byte (offset, time) ints.
_BINARY_HEADERS = {
    "kafka_dlt-original-partition": ">i",
    "kafka_dlt-original-offset": ">q",
    "kafka_dlt-original-timestamp": ">q",
}


@dataclass(frozen=True)
class SyncResult:
    read: int  # records read from the topic this time (already mirrored ones change nothing)
    caught_up: bool  # False when the time or count bound stopped the read first


def dead_letters_sync(*, topic: str, max_records: int, max_seconds: float) -> SyncResult:
    """Mirror the records of `topic`'s dead-letter topic not mirrored yet: each partition from
    one past its highest mirrored offset. Idempotent (the mirror is keyed by the record's own
    partition and offset, and a record already there is left as it is, decisions included).

    Raises kafka_admin.BrokerUnavailable when the broker does not answer.
    """
    dlq = dead_letter_topic(topic)
    highest = (
        DeadLetter.objects.filter(dlq_topic=dlq)
        .values("dlq_partition")
        .annotate(highest=Max("dlq_offset"))
        .values_list("dlq_partition", "highest")
    )
    start = {partition: offset + 1 for partition, offset in highest}
    records, caught_up = topic_io.read_records(
        dlq, start=start, max_records=max_records, max_seconds=max_seconds
    )
    DeadLetter.objects.bulk_create(
        [mirror_row(dlq, record) for record in records], ignore_conflicts=True, batch_size=2000
    )
    return SyncResult(len(records), caught_up)


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="backslashreplace")


def _header_text(name: str, value: bytes) -> str:
    fmt = _BINARY_HEADERS.get(name)
    if fmt is not None and len(value) == struct.calcsize(fmt):
        return str(struct.unpack(fmt, value)[0])
    return _text(value)


def _millis(value: str | None) -> datetime | None:
    if value is None or not value.lstrip("-").isdigit() or int(value) < 0:
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.lstrip("-").isdigit() else None


def mirror_row(dlq: str, record: topic_io.TopicRecord) -> DeadLetter:
    """The mirror's row for one `.dlq` record (pure): its headers decoded, Spring's binary
    ones as numbers. Copies written before the Spring headers fall back to `dlq.source`."""
    headers = [[name, _header_text(name, value)] for name, value in record.headers]
    found = {name: text for name, text in headers}
    source = found.get("dlq.source", "").rsplit("/", 2)
    legacy: list[str | None] = [*source] if len(source) == 3 else ["", None, None]
    reason = found.get("dlq.reason", found.get("kafka_dlt-exception-message", ""))
    return DeadLetter(
        dlq_topic=dlq,
        dlq_partition=record.partition,
        dlq_offset=record.offset,
        dead_lettered_at=_millis(str(record.timestamp)) or timezone.now(),
        source_topic=found.get("kafka_dlt-original-topic", legacy[0] or ""),
        source_partition=_int(found.get("kafka_dlt-original-partition", legacy[1])),
        source_offset=_int(found.get("kafka_dlt-original-offset", legacy[2])),
        source_timestamp=_millis(found.get("kafka_dlt-original-timestamp")),
        consumer_group=found.get("kafka_dlt-original-consumer-group", ""),
        key=record.key,
        value=record.value,
        reason=reason,
        reason_kind=reason.split(":", 1)[0].strip()[:100],
        headers=headers,
        truncated="dlq.truncated" in found,
        replay_count=max(_int(found.get(REPLAY_COUNT_HEADER)) or 0, 0),
    )


@dataclass(frozen=True)
class ReplayResult:
    replayed: int
    skipped_discarded: int
    skipped_truncated: int


def dead_letters_replay(*, letters: QuerySet[DeadLetter], user: Any) -> ReplayResult:
    """Re-publish each letter's original key and value to its source topic and partition, with
    `dlq.replay-count` = its replay count + 1, in chunks; each chunk is marked replayed (who,
    when) once the broker has acknowledged it. A letter fixed before (`fixed_value`) replays
    its fixed copy instead. Discarded letters and truncated copies not fixed are skipped.
    Raises kafka_admin.BrokerUnavailable (chunks acknowledged before stay replayed).
    """
    discarded = letters.filter(status=DeadLetter.Status.DISCARDED).count()
    live = letters.exclude(status=DeadLetter.Status.DISCARDED)
    truncated = live.filter(truncated=True, fixed_value__isnull=True).count()
    wanted = live.exclude(truncated=True, fixed_value__isnull=True)
    ids = list(
        wanted.order_by("dlq_topic", "dlq_partition", "dlq_offset").values_list("pk", flat=True)
    )
    for i in range(0, len(ids), REPLAY_CHUNK):
        chunk = list(DeadLetter.objects.filter(pk__in=ids[i : i + REPLAY_CHUNK]).order_by("pk"))
        topic_io.publish([_replay_of(letter) for letter in chunk])
        DeadLetter.objects.filter(pk__in=[letter.pk for letter in chunk]).update(
            status=DeadLetter.Status.REPLAYED, replayed_at=timezone.now(), replayed_by=user
        )
    return ReplayResult(len(ids), discarded, truncated)


def _replay_of(letter: DeadLetter) -> topic_io.OutgoingRecord:
    if letter.fixed_value is not None:
        fixed = bytes(letter.fixed_value)
        return _fixed_replay_of(letter, fixed, decode_event(fixed, now=LATEST_TIMESTAMP), ())
    return topic_io.OutgoingRecord(
        topic=letter.source_topic,
        partition=letter.source_partition,
        key=None if letter.key is None else bytes(letter.key),
        value=None if letter.value is None else bytes(letter.value),
        headers=_replay_headers(letter),
    )


def _replay_headers(letter: DeadLetter) -> topic_io.Headers:
    return (
        (REPLAY_COUNT_HEADER, str(letter.replay_count + 1).encode()),
        ("dlq.replayed-from", str(letter).encode()),
    )


def judged_at(letter: DeadLetter) -> datetime:
    """The reference for the contract's future-time rule, as the consumer chose it for the
    original record (stats.consumer.decoding.published_at): its timestamp, or none at all
    (only the absolute range) when the dead letter did not carry a usable one."""
    return letter.source_timestamp or LATEST_TIMESTAMP


def usable_key(key: bytes | memoryview | None) -> bytes | None:
    """The key, when it is an ad id (what the API's producer writes); else None."""
    if key is None:
        return None
    try:
        return bytes(key) if is_ad_id(bytes(key).decode("utf-8")) else None
    except UnicodeDecodeError:
        return None


def _fixed_replay_of(
    letter: DeadLetter, value: bytes, event: AdImpressionEvent, extra: topic_io.Headers
) -> topic_io.OutgoingRecord:
    """The original key and partition when the key is a usable ad id; else the key the
    contract derives from the fixed event, and that key chooses the partition."""
    key = usable_key(letter.key)
    return topic_io.OutgoingRecord(
        topic=letter.source_topic,
        partition=letter.source_partition if key is not None else None,
        key=key if key is not None else event_key(event),
        value=value,
        headers=(*_replay_headers(letter), *extra),
    )


class NotReplayable(ValueError):
    """The letter cannot be fixed and replayed (discarded, or no source topic)."""


@transaction.atomic
def dead_letter_replay_fixed(*, letter: DeadLetter, value: bytes, user: Any) -> DeadLetter:
    """Validate `value` with the consumer's contract (decode_event, judged at the original
    record's time: `judged_at`), publish it to the letter's source topic with the original key
    (or the contract's `event_key` when that key is missing or not an ad id) and the headers
    `dlq.replay-count` (+1), `dlq.replayed-from` and `dlq.edited-by` (the username), then mark
    the letter replayed by `user`, now, keeping the fixed value. Returns the updated letter.

    Raises impressions.contract.ContractError (its reason says why; nothing is published),
    NotReplayable for a discarded letter, kafka_admin.BrokerUnavailable (the letter stays as
    it was; the record may or may not have been written, and a resend counts it once).
    """
    locked = DeadLetter.objects.select_for_update().get(pk=letter.pk)
    if locked.status == DeadLetter.Status.DISCARDED:
        raise NotReplayable(f"{locked} was discarded; it is not replayed")
    if not locked.source_topic:
        raise NotReplayable(f"{locked} does not say which topic it came from")
    event = decode_event(value, now=judged_at(locked))
    edited_by = ((EDITED_BY_HEADER, user.get_username().encode()),)
    topic_io.publish([_fixed_replay_of(locked, value, event, edited_by)])
    locked.status = DeadLetter.Status.REPLAYED
    locked.replayed_at = timezone.now()
    locked.replayed_by = user
    locked.fixed_value = value
    locked.save(update_fields=["status", "replayed_at", "replayed_by", "fixed_value"])
    return locked


def dead_letters_discard(*, letters: QuerySet[DeadLetter], user: Any, note: str) -> int:
    """Mark the letters that are still new as discarded by `user`, now, with `note`; return how
    many. Raises ValueError when the note is blank (a discard must say why)."""
    note = note.strip()
    if not note:
        raise ValueError("a note is required to discard dead letters")
    return letters.filter(status=DeadLetter.Status.NEW).update(
        status=DeadLetter.Status.DISCARDED,
        discarded_at=timezone.now(),
        discarded_by=user,
        discard_note=note,
    )


@transaction.atomic
def breaker_open(
    *, consumer_group: str, topic: str, partition: int, held_at: int, reason: str
) -> None:
    """Record that the consumer holds `partition` at offset `held_at` because of `reason`."""
    ConsumerBreaker.objects.update_or_create(
        consumer_group=consumer_group,
        topic=topic,
        partition=partition,
        defaults={"held_at": held_at, "reason": reason, "opened_at": timezone.now()},
    )


def breakers_clear(*, consumer_group: str, topic: str, partitions: Sequence[int]) -> int:
    """Forget the breaker state of these partitions (a new owner decides afresh)."""
    deleted, _ = ConsumerBreaker.objects.filter(
        consumer_group=consumer_group, topic=topic, partition__in=list(partitions)
    ).delete()
    return deleted
