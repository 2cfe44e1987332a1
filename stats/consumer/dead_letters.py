"""Kafka adapter for `<topic>.dlq`: unusable records, copied with the reason in headers.

Each copy carries our own `dlq.reason` and `dlq.source` (topic/partition/offset, text) and the
headers Spring Kafka's DeadLetterPublishingRecoverer writes, with Spring's encodings, so that
Kafka tools that read those understand our dead letters too: `kafka_dlt-original-topic`,
`-original-consumer-group`, `-original-timestamp-type` and `kafka_dlt-exception-message` as
UTF-8 text; `kafka_dlt-original-partition` as a 4-byte and `-original-offset` and
`-original-timestamp` (milliseconds, -1 when the record had none) as 8-byte big-endian signed
integers. A replayed record's `dlq.replay-count` is carried over, so a replay that fails again
shows how often it was tried.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from kafka import KafkaProducer
from kafka.errors import KafkaError

from stats.consumer.records import LOG_APPEND_TIME, BrokerFailure, DeadLetter
from stats.kafka_admin import dead_letter_topic

MAX_REASON_CHARS = 1000
# Records bigger than this are dead-lettered as a prefix with a `dlq.truncated` header: the copy
# plus headers must fit the producer's and the broker's 1 MiB limits, or the partition would stall.
MAX_COPY_BYTES = 512 * 1024
REPLAY_COUNT_HEADER = "dlq.replay-count"


class KafkaDeadLetterSink:
    """Writes each record's key and value with the headers above (the module's docstring),
    through an idempotent `acks="all"` producer. `group` is the consumer group that gave up on
    the records (`kafka_dlt-original-consumer-group`)."""

    def __init__(self, *, bootstrap_servers: Sequence[str], topic: str, group: str = "") -> None:
        self._servers = list(bootstrap_servers)
        self.target = dead_letter_topic(topic)
        self._group = group
        self._producer: KafkaProducer | None = None

    def send(self, letters: Sequence[DeadLetter]) -> None:
        """Write every letter and wait for the broker's acks (BrokerFailure if it can't)."""
        try:
            producer = self._connect()
            futures = [
                producer.send(self.target, key=letter.record.key, value=value, headers=headers)
                for letter in letters
                for value, headers in [dead_letter_copy(letter, group=self._group)]
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


def dead_letter_copy(
    letter: DeadLetter, *, group: str
) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    """The value to write to `.dlq` and its headers (pure)."""
    record = letter.record
    reason = letter.reason[:MAX_REASON_CHARS].encode()
    timestamp = record.timestamp if record.timestamp is not None else -1
    stamp_type = "LOG_APPEND_TIME" if record.timestamp_type == LOG_APPEND_TIME else "CREATE_TIME"
    headers = [
        ("dlq.reason", reason),
        ("dlq.source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
        ("kafka_dlt-original-topic", record.topic.encode()),
        ("kafka_dlt-original-partition", struct.pack(">i", record.partition)),
        ("kafka_dlt-original-offset", struct.pack(">q", record.offset)),
        ("kafka_dlt-original-timestamp", struct.pack(">q", timestamp)),
        ("kafka_dlt-original-timestamp-type", stamp_type.encode()),
        ("kafka_dlt-original-consumer-group", group.encode()),
        ("kafka_dlt-exception-message", reason),
    ]
    replays = record.header(REPLAY_COUNT_HEADER)
    if replays is not None:
        headers.append((REPLAY_COUNT_HEADER, replays))
    # Kafka needs a key or a value; a record with neither is kept as an empty value.
    value = record.value if record.value is not None or record.key is not None else b""
    if value is not None and len(value) > MAX_COPY_BYTES:
        headers.append(("dlq.truncated", str(len(value)).encode()))
        value = value[:MAX_COPY_BYTES]
    return value, headers
