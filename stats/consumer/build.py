"""Assembles the production consumer: the core wired to Kafka and to the database."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.db import Error as DatabaseFailure

from impressions.contract import AdImpressionEvent
from stats.consumer.breaker import BreakerLimit, DeadLetterBreaker
from stats.consumer.crash_points import CrashPoint, crashing, kafka_client
from stats.consumer.dead_letters import KafkaDeadLetterSink
from stats.consumer.durability import SessionGuard, SessionReplaced
from stats.consumer.loop import ConsumerConfig, ImpressionConsumer
from stats.consumer.metrics import ConsumerMetrics
from stats.consumer.records import LedgerEntry, Partition
from stats.dead_letter_services import breaker_open, breakers_clear
from stats.maintenance import RawRowPruner
from stats.offset_update import OffsetUpdate
from stats.progress_selectors import completeness_get
from stats.selectors import ledger_rows
from stats.services import record_impressions

T = TypeVar("T")
logger = logging.getLogger(__name__)


def build_consumer(
    config: ConsumerConfig,
    *,
    bootstrap_servers: Sequence[str],
    metrics: ConsumerMetrics | None = None,
    crash: CrashPoint | None = None,
) -> ImpressionConsumer:
    """A consumer of `config.topic` as a member of `config.group`, recording into the database,
    reporting to `metrics` when given; `crash` (the semantics lab's hook) kills it on purpose.

    Joins the group at once, as `config.membership` says. Raises records.BrokerFailure when the
    broker cannot be reached.
    """

    guard = SessionGuard()  # positions come from the ledger read and the writes it vouches for

    def ledger() -> Mapping[int, LedgerEntry]:
        return _replacing_a_broken_connection(
            lambda: guard.run(
                lambda: database_ledger(consumer_group=config.group, topic=config.topic)
            )
        )

    client = kafka_client(
        crash,
        bootstrap_servers=bootstrap_servers,
        topic=config.topic,
        group=config.group,
        max_records=config.batch_size,
        membership=config.membership,
        fetch_min_bytes=settings.CONSUMER_FETCH_MIN_BYTES,
        fetch_max_wait_ms=settings.CONSUMER_FETCH_MAX_WAIT_MS,
    )
    if metrics is not None:
        metrics.told_it_has_none = client.joined_without_partitions

        def watermark() -> float | None:
            through = _replacing_a_broken_connection(
                lambda: completeness_get(consumer_group=config.group, topic=config.topic)
            ).complete_through
            return None if through is None else through.timestamp()

        metrics.watermark_source = watermark
    consumer = ImpressionConsumer(
        config,
        client=client,
        observer=metrics,
        recorder=crashing(DatabaseRecorder(guard), crash),
        ledger=ledger,
        dead_letters=KafkaDeadLetterSink(
            bootstrap_servers=bootstrap_servers, topic=config.topic, group=config.group
        ),
        breaker=DeadLetterBreaker(
            BreakerLimit(
                share=settings.DEAD_LETTER_BREAKER_SHARE,
                window=settings.DEAD_LETTER_BREAKER_WINDOW,
            ),
            DatabaseBreakerReporter(group=config.group, metrics=metrics),
        ),
        maintenance=RawRowPruner.from_settings(),
    )
    guard.on_replaced = consumer.positions.forget_seeks  # see stats.consumer.durability
    return consumer


class DatabaseBreakerReporter:
    """Keeps the breaker's state in `ConsumerBreaker` rows for `open_breakers` (readiness).
    A database failure here is logged, never raised: the state is advice, the pause is real."""

    def __init__(self, *, group: str, metrics: ConsumerMetrics | None = None) -> None:
        self._group = group
        self._metrics = metrics  # the consumer's own /readyz: not ready while any is held
        self._held: dict[Partition, str] = {}

    def opened(self, partition: Partition, held_at: int, reason: str) -> None:
        self._held[partition] = reason
        self._tell_metrics()
        self._quietly(
            lambda: breaker_open(
                consumer_group=self._group,
                topic=partition.topic,
                partition=partition.index,
                held_at=held_at,
                reason=reason,
            )
        )

    def cleared(self, partitions: Sequence[Partition]) -> None:
        for partition in partitions:
            self._held.pop(partition, None)
        self._tell_metrics()
        by_topic: dict[str, list[int]] = {}
        for partition in partitions:
            by_topic.setdefault(partition.topic, []).append(partition.index)
        self._quietly(
            lambda: [
                breakers_clear(consumer_group=self._group, topic=topic, partitions=indexes)
                for topic, indexes in by_topic.items()
            ]
        )

    def _tell_metrics(self) -> None:
        if self._metrics is not None:
            reasons = [f"{p}: {r}" for p, r in sorted(self._held.items())]
            self._metrics.set_paused("; ".join(reasons) if reasons else None)

    def _quietly(self, write: Callable[[], object]) -> None:
        try:
            _replacing_a_broken_connection(write)
        except DatabaseFailure as exc:
            logger.error("could not store the dead-letter breaker's state: %s", exc)


class DatabaseRecorder:
    """`ports.Recorder` on the database: `record_impressions`, and its probe. Each write runs
    under the `durability.SessionGuard` (CONSUMER_SYNCHRONOUS_COMMIT; it raises
    SessionReplaced when commits may have been lost)."""

    def __init__(self, guard: SessionGuard | None = None) -> None:
        self._guard = guard or SessionGuard()

    def record(
        self, *, events: Sequence[AdImpressionEvent], offsets: Sequence[OffsetUpdate] = ()
    ) -> int:
        return _replacing_a_broken_connection(
            lambda: self._guard.run(lambda: record_impressions(events=events, offsets=offsets))
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
    except (DataError, IntegrityError, SessionReplaced):  # the session itself is fine
        raise
    except DatabaseFailure:
        connection.close()
        raise
