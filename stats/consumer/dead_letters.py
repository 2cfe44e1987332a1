"""Kafka adapter for `<topic>.dlq`: unusable records, copied with the reason in a header."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from kafka import KafkaProducer

from stats.kafka_topics import dead_letter_topic

logger = logging.getLogger(__name__)


MAX_REASON_CHARS = 1000
# Records bigger than this are dead-lettered as a prefix with a `dlq.truncated` header: the copy
# plus headers must fit the producer's and the broker's 1 MiB limits, or the partition would stall.
MAX_COPY_BYTES = 512 * 1024


class DeadLetterWriter:
    """Writes records with `dlq.reason` and `dlq.source` (topic/partition/offset) headers."""

    def __init__(self, *, bootstrap_servers: list[str], topic: str) -> None:
        self._servers = bootstrap_servers
        self.target = dead_letter_topic(topic)
        self._producer: KafkaProducer | None = None

    def send(self, dead: Sequence[tuple[Any, str]]) -> None:
        """Write every record and wait for the broker's acks (raises KafkaError if it can't)."""
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self._servers,
                enable_idempotence=True,
                acks="all",
                max_block_ms=10_000,
            )
        futures = []
        for record, reason in dead:
            reason = reason[:MAX_REASON_CHARS]
            headers = [
                ("dlq.reason", reason.encode()),
                ("dlq.source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
            ]
            # Kafka needs a key or a value; a record with neither is kept as an empty value.
            value = record.value if record.value is not None or record.key is not None else b""
            if value is not None and len(value) > MAX_COPY_BYTES:
                headers.append(("dlq.truncated", str(len(value)).encode()))
                value = value[:MAX_COPY_BYTES]
            futures.append(
                self._producer.send(self.target, key=record.key, value=value, headers=headers)
            )
            logger.warning(
                "dead-lettered %s[%d]@%d: %.200s",
                record.topic, record.partition, record.offset, reason,
            )  # fmt: skip
        for future in futures:
            future.get(timeout=30)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=10)
