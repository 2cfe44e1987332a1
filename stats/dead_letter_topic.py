"""Kafka adapter for dead-letter triage: read a `.dlq` topic from given offsets, bounded in
time and count (no consumer group: `assign()`), and publish replayed records to their source
topic. Everything else sees the plain values below; errors become BrokerUnavailable."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from stats.kafka_admin import BrokerUnavailable

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class TopicRecord:
    """One record read from a topic."""

    partition: int
    offset: int
    timestamp: int | None  # milliseconds since the epoch
    key: bytes | None
    value: bytes | None
    headers: Headers


@dataclass(frozen=True)
class OutgoingRecord:
    """A record to publish; `partition` None (or one the topic lacks) lets the key decide."""

    topic: str
    partition: int | None
    key: bytes | None
    value: bytes | None
    headers: Headers


def _timeout_ms() -> int:
    return int(settings.KAFKA_ADMIN_TIMEOUT_SECONDS * 1000)


def _unavailable(exc: Exception) -> BrokerUnavailable:
    servers = ",".join(settings.KAFKA_BOOTSTRAP_SERVERS)
    return BrokerUnavailable(f"Kafka at {servers} did not answer ({exc.__class__.__name__}: {exc})")


def read_records(
    topic: str, *, start: Mapping[int, int], max_records: int, max_seconds: float
) -> tuple[list[TopicRecord], bool]:
    """The records of `topic` from `start[partition]` (or the first retained offset) up to the
    end offsets seen when called, at most `max_records`, within about `max_seconds`.

    Returns them (each partition's in offset order) and whether every partition was read to
    that end. A missing topic gives ([], True). Raises BrokerUnavailable.
    """
    try:
        reader = KafkaConsumer(
            bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
            group_id=None,
            enable_auto_commit=False,
            client_id="stats-dead-letter-reader",
            bootstrap_timeout_ms=_timeout_ms(),
            request_timeout_ms=_timeout_ms(),
        )
    except KafkaError as exc:
        raise _unavailable(exc) from exc
    try:
        return _read(reader, topic, start, max_records, time.monotonic() + max_seconds)
    except KafkaError as exc:
        raise _unavailable(exc) from exc
    finally:
        reader.close()


def _read(
    reader: KafkaConsumer, topic: str, start: Mapping[int, int], limit: int, deadline: float
) -> tuple[list[TopicRecord], bool]:
    wanted = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or ())]
    if not wanted:
        return [], True
    first = reader.beginning_offsets(wanted, timeout_ms=_timeout_ms())
    end = reader.end_offsets(wanted, timeout_ms=_timeout_ms())
    begin = {tp: max(start.get(tp.partition, 0), first[tp]) for tp in wanted}
    pending = {tp: end[tp] for tp in wanted if begin[tp] < end[tp]}
    reader.assign(list(pending))
    for tp in pending:
        reader.seek(tp, begin[tp])
    found: list[TopicRecord] = []
    while pending and len(found) < limit and (left := deadline - time.monotonic()) > 0:
        polled = reader.poll(timeout_ms=int(min(left, 0.5) * 1000), max_records=limit - len(found))
        for tp, records in polled.items():
            found += [
                TopicRecord(
                    r.partition,
                    r.offset,
                    r.timestamp,
                    r.key,
                    r.value,
                    tuple((name, value or b"") for name, value in r.headers or ()),
                )  # fmt: skip
                for r in records
                if r.offset < pending.get(tp, -1)
            ]
        for tp in list(pending):
            if reader.position(tp, timeout_ms=_timeout_ms()) >= pending[tp]:
                del pending[tp]
    return found, not pending


def publish(records: Sequence[OutgoingRecord]) -> None:
    """Publish every record and wait for the broker's acknowledgements (acks=all, idempotent).

    Raises BrokerUnavailable when any is not acknowledged; some may have been written then.
    """
    if not records:
        return
    try:
        producer = KafkaProducer(
            bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
            client_id="stats-dead-letter-replay",
            enable_idempotence=True,
            acks="all",
            bootstrap_timeout_ms=_timeout_ms(),
            max_block_ms=_timeout_ms() * 3,
        )
    except KafkaError as exc:
        raise _unavailable(exc) from exc
    try:
        futures = []
        for record in records:
            partitions = producer.partitions_for(record.topic) or set()
            futures.append(
                producer.send(
                    record.topic,
                    key=record.key,
                    value=record.value,
                    headers=list(record.headers),
                    partition=record.partition if record.partition in partitions else None,
                )
            )
        for future in futures:
            future.get(timeout=settings.KAFKA_ADMIN_TIMEOUT_SECONDS * 10)
    except KafkaError as exc:
        raise _unavailable(exc) from exc
    finally:
        producer.close(timeout=5)
