"""Assembles the production consumer: the core wired to Kafka and to the database."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from django.db import DataError, IntegrityError, connection
from django.db import Error as DatabaseFailure

from impressions.contract import AdImpressionEvent
from stats.consumer.dead_letters import KafkaDeadLetterSink
from stats.consumer.kafka_client import KafkaConsumerClient
from stats.consumer.loop import ConsumerConfig, ImpressionConsumer
from stats.selectors import stored_offsets
from stats.services import OffsetUpdate, record_impressions

T = TypeVar("T")


def build_consumer(
    config: ConsumerConfig, *, bootstrap_servers: Sequence[str]
) -> ImpressionConsumer:
    """A consumer of `config.topic` as a member of `config.group`, recording into the database.

    Joins the group at once, as `config.membership` says. Raises records.BrokerFailure when the
    broker cannot be reached.
    """

    def record(*, events: Sequence[AdImpressionEvent], offsets: Sequence[OffsetUpdate] = ()) -> int:
        return _replacing_a_broken_connection(
            lambda: record_impressions(events=events, offsets=offsets)
        )

    def ledger() -> Mapping[int, int]:
        return _replacing_a_broken_connection(
            lambda: stored_offsets(consumer_group=config.group, topic=config.topic)
        )

    return ImpressionConsumer(
        config,
        client=KafkaConsumerClient(
            bootstrap_servers=bootstrap_servers,
            topic=config.topic,
            group=config.group,
            max_records=config.batch_size,
            membership=config.membership,
        ),
        recorder=record,
        ledger=ledger,
        dead_letters=KafkaDeadLetterSink(bootstrap_servers=bootstrap_servers, topic=config.topic),
    )


def _replacing_a_broken_connection(query: Callable[[], T]) -> T:
    """A command has no request cycle to replace a connection the server dropped: close it
    after a failure (a refusal leaves it usable), so the retry opens a new one."""
    try:
        return query()
    except (DataError, IntegrityError):
        raise
    except DatabaseFailure:
        connection.close()
        raise
