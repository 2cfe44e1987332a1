"""Kafka adapter for `<topic>.dlq`: unusable records, copied with the reason in a header."""

from __future__ import annotations

from collections.abc import Sequence

from kafka import KafkaProducer
from kafka.errors import KafkaError

from stats.consumer.records import BrokerFailure, DeadLetter
from stats.kafka_admin import dead_letter_topic

MAX_REASON_CHARS = 1000
# Records bigger than this are dead-lettered as a prefix with a `dlq.truncated` header: the copy
# plus headers must fit the producer's and the broker's 1 MiB limits, or the partition would stall.
MAX_COPY_BYTES = 512 * 1024


class KafkaDeadLetterSink:
    """Writes each record's key and value with `dlq.reason` and `dlq.source`
    (topic/partition/offset) headers, through an idempotent `acks="all"` producer."""

    def __init__(self, *, bootstrap_servers: Sequence[str], topic: str) -> None:
        self._servers = list(bootstrap_servers)
        self.target = dead_letter_topic(topic)
        self._producer: KafkaProducer | None = None

    def send(self, letters: Sequence[DeadLetter]) -> None:
        """Write every letter and wait for the broker's acks (BrokerFailure if it can't)."""
        try:
            producer = self._connect()
            futures = [
                producer.send(self.target, key=letter.record.key, value=value, headers=headers)
                for letter in letters
                for value, headers in [_copy(letter)]
            ]
            for future in futures:
                future.get(timeout=30)
        except KafkaError as exc:
            raise BrokerFailure(f"{exc.__class__.__name__}: {exc}") from exc

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=10)

    def _connect(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self._servers,
                enable_idempotence=True,
                acks="all",
                max_block_ms=10_000,
            )
        return self._producer


def _copy(letter: DeadLetter) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    """The value to write and its headers."""
    record = letter.record
    headers = [
        ("dlq.reason", letter.reason[:MAX_REASON_CHARS].encode()),
        ("dlq.source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
    ]
    # Kafka needs a key or a value; a record with neither is kept as an empty value.
    value = record.value if record.value is not None or record.key is not None else b""
    if value is not None and len(value) > MAX_COPY_BYTES:
        headers.append(("dlq.truncated", str(len(value)).encode()))
        value = value[:MAX_COPY_BYTES]
    return value, headers
