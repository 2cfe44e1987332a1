"""Kafka adapter for topic administration and offsets: create topics, read end offsets.

Only the Kafka adapters import `kafka`: this one, impressions.publisher and stats.consumer.
"""

from __future__ import annotations

import logging
import os
import threading

from django.conf import settings
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

logger = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """The broker did not answer within the configured bound."""


def dead_letter_topic(topic: str) -> str:
    """Where records of `topic` that break the contract go."""
    return f"{topic}.dlq"


def _timeout_ms() -> int:
    return int(settings.KAFKA_ADMIN_TIMEOUT_SECONDS * 1000)


def ensure_topics(
    *, topic: str, partitions: int, replication_factor: int, create: bool = True
) -> list[str]:
    """Create `topic` and its dead-letter topic when missing; return the names missing before.

    With `create=False` only report them. An existing topic is left as it is (its partition
    count is not changed).
    Raises BrokerUnavailable when the broker does not answer.
    """
    wanted = [topic, dead_letter_topic(topic)]
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
            client_id="stats-topic-admin",
            bootstrap_timeout_ms=_timeout_ms(),
            request_timeout_ms=_timeout_ms() * 3,
        )
    except KafkaError as exc:
        raise BrokerUnavailable(_unreachable(exc)) from exc
    try:
        missing = [name for name in wanted if name not in set(admin.list_topics())]
        if not create:
            return missing
        created = []
        for name in missing:
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            name, num_partitions=partitions, replication_factor=replication_factor
                        )
                    ]
                )
                created.append(name)
                logger.info("created topic %s with %d partitions", name, partitions)
            except TopicAlreadyExistsError:
                pass  # another process created it between our list and our create
        return created
    except KafkaError as exc:
        raise BrokerUnavailable(_unreachable(exc)) from exc
    finally:
        admin.close()


class _OffsetReader:
    """One process-wide consumer (no group) for end offsets, kept between requests: building
    one per request cost about 100 ms of connecting. Rebuilt after an error or a fork."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.consumer: KafkaConsumer | None = None
        self.key: tuple[int, tuple[str, ...]] = (0, ())

    def get(self) -> KafkaConsumer:
        key = (os.getpid(), tuple(settings.KAFKA_BOOTSTRAP_SERVERS))
        if self.consumer is None or self.key != key:
            self.drop()
            self.consumer = KafkaConsumer(
                bootstrap_servers=list(key[1]),
                group_id=None,
                enable_auto_commit=False,
                client_id="stats-offset-reader",
                bootstrap_timeout_ms=_timeout_ms(),
                request_timeout_ms=_timeout_ms(),
            )
            self.key = key
        return self.consumer

    def drop(self) -> None:
        if self.consumer is not None and self.key[0] == os.getpid():
            self.consumer.close()
        self.consumer = None


_reader = _OffsetReader()


def end_offsets(topic: str) -> dict[int, int]:
    """Partition -> end offset (the next record's offset); {} when the topic is absent.

    Raises BrokerUnavailable when the broker does not answer within KAFKA_ADMIN_TIMEOUT_SECONDS.
    """
    with _reader.lock:
        try:
            reader = _reader.get()
            partitions = reader.partitions_for_topic(topic) or set()
            if not partitions:
                return {}
            wanted = [TopicPartition(topic, p) for p in partitions]
            offsets = reader.end_offsets(wanted, timeout_ms=_timeout_ms())
            return {tp.partition: offsets[tp] for tp in wanted}
        except KafkaError as exc:
            _reader.drop()
            raise BrokerUnavailable(_unreachable(exc)) from exc
        except KeyError as missing:  # kafka-python leaves out partitions that have no leader
            raise BrokerUnavailable(f"no leader known for {missing} of {topic}") from None


def _unreachable(exc: Exception) -> str:
    servers = ",".join(settings.KAFKA_BOOTSTRAP_SERVERS)
    return (
        f"Kafka at {servers} did not answer ({exc.__class__.__name__}: {exc}); start it with "
        f"`scripts/kafka-local start` or set KAFKA_BOOTSTRAP_SERVERS"
    )
