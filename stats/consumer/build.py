"""Assembles the production consumer: the core wired to Kafka and to the database."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from django.db import DataError, IntegrityError, connection, transaction
from django.db import Error as DatabaseFailure

from impressions.contract import AdImpressionEvent
from stats.consumer.dead_letters import KafkaDeadLetterSink
from stats.consumer.kafka_client import KafkaConsumerClient
from stats.consumer.loop import ConsumerConfig, ImpressionConsumer
from stats.consumer.records import LedgerEntry
from stats.selectors import ledger_rows
from stats.services import OffsetUpdate, record_impressions

T = TypeVar("T")


def build_consumer(
    config: ConsumerConfig, *, bootstrap_servers: Sequence[str]
) -> ImpressionConsumer:
    """A consumer of `config.topic` as a member of `config.group`, recording into the database.

    Joins the group at once. Raises records.BrokerFailure when the broker cannot be reached.
    """

    def ledger() -> Mapping[int, LedgerEntry]:
        return _replacing_a_broken_connection(
            lambda: database_ledger(consumer_group=config.group, topic=config.topic)
        )

    return ImpressionConsumer(
        config,
        client=KafkaConsumerClient(
            bootstrap_servers=bootstrap_servers,
            topic=config.topic,
            group=config.group,
            max_records=config.batch_size,
        ),
        recorder=DatabaseRecorder(),
        ledger=ledger,
        dead_letters=KafkaDeadLetterSink(bootstrap_servers=bootstrap_servers, topic=config.topic),
    )


class DatabaseRecorder:
    """`ports.Recorder` on the database: `record_impressions`, and its probe."""

    def record(
        self, *, events: Sequence[AdImpressionEvent], offsets: Sequence[OffsetUpdate] = ()
    ) -> int:
        return _replacing_a_broken_connection(
            lambda: record_impressions(events=events, offsets=offsets)
        )

    def offsets_alone_accepted(self, offsets: Sequence[OffsetUpdate]) -> bool:
        """Write only the offsets, in a transaction that is rolled back whatever happens."""
        try:
            with transaction.atomic():
                record_impressions(events=[], offsets=offsets)
                transaction.set_rollback(True)
        except (DataError, IntegrityError):
            return False
        return True


def database_ledger(*, consumer_group: str, topic: str) -> dict[int, LedgerEntry]:
    """`ports.LedgerReader` on the database: the ledger rows of this group and topic."""
    return {
        partition: LedgerEntry(next_offset, identity, expired)
        for partition, next_offset, identity, expired in ledger_rows(
            consumer_group=consumer_group, topic=topic
        )
    }


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
