"""Shared by the consumer core's tests: the real recorder on the test database behind the same
switches as the in-memory store, and helpers that build members, produce events and run loops."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from django.db import OperationalError, connection

from impressions.contract import AdImpressionEvent, encode_event
from impressions.models import Impression
from stats.consumer import ConsumerConfig, ImpressionConsumer
from stats.consumer.build import DatabaseRecorder, database_ledger
from stats.consumer.records import LedgerEntry
from stats.consumer.testing import InMemoryBroker, InMemoryDeadLetters, InMemoryStore
from stats.models import PartitionOffset
from stats.offset_update import OffsetUpdate
from stats.services import record_impressions

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
POISON = b"{not json"
GROUP = "g"

TABLES = {"events": Impression._meta.db_table, "ledger": PartitionOffset._meta.db_table}


class DatabaseStore:
    """The REAL recorder (record_impressions, and build.DatabaseRecorder's probe) on the test
    database, with InMemoryStore's switches and read-back, so one test checks both. (Not
    DatabaseRecorder.record: it closes the connection after a failure, which a test's own
    transaction does not survive.)

    `fail_while_writing` makes the database fail at the first INSERT into that table (the
    events or the ledger) of the next call: in the middle of the transaction, whichever order
    the recorder writes in.
    """

    def __init__(self, topic: str = "t") -> None:
        self.topic = topic
        self.duplicates = 0
        self.failures = 0
        self.ledger_failures = 0
        self.while_recording: Callable[[], None] | None = None
        self.fail_while_writing: str | None = None
        self._recorder = DatabaseRecorder()

    def record(
        self, *, events: Sequence[AdImpressionEvent], offsets: Sequence[OffsetUpdate] = ()
    ) -> int:
        if self.failures:
            self.failures -= 1
            raise OperationalError("server closed the connection unexpectedly")
        if self.while_recording is not None:
            hook, self.while_recording = self.while_recording, None
            hook()
        what, self.fail_while_writing = self.fail_while_writing, None
        with _failing_inserts_into(TABLES[what] if what else None):
            new = record_impressions(events=events, offsets=offsets)
        self.duplicates += len({e.event_id for e in events}) - new
        return new

    def offsets_alone_accepted(self, offsets: Sequence[OffsetUpdate]) -> bool:
        return self._recorder.offsets_alone_accepted(offsets)

    def read_ledger(self) -> dict[int, LedgerEntry]:
        if self.ledger_failures:
            self.ledger_failures -= 1
            raise OperationalError("could not connect to server")
        return database_ledger(consumer_group=GROUP, topic=self.topic)

    @property
    def events(self) -> dict[uuid.UUID, Impression]:
        return {i.event_id: i for i in Impression.objects.all()}

    @property
    def ledger(self) -> dict[int, int]:
        return {
            p: e.next_offset
            for p, e in database_ledger(consumer_group=GROUP, topic=self.topic).items()
        }

    @ledger.setter
    def ledger(self, offsets: dict[int, int]) -> None:
        record_impressions(
            events=[], offsets=[OffsetUpdate(GROUP, self.topic, p, o) for p, o in offsets.items()]
        )

    @property
    def identities(self) -> dict[int, str]:
        ledger = database_ledger(consumer_group=GROUP, topic=self.topic)
        return {p: e.topic_identity for p, e in ledger.items() if e.topic_identity is not None}

    @property
    def expired(self) -> dict[int, int]:
        ledger = database_ledger(consumer_group=GROUP, topic=self.topic)
        return {p: e.expired_unrecorded for p, e in ledger.items() if e.expired_unrecorded}


Store = InMemoryStore | DatabaseStore


@contextmanager
def _failing_inserts_into(table: str | None) -> Iterator[None]:
    """The database goes away at the first INSERT into `table` (through Django's public
    execute_wrapper hook, not by replacing any of our code)."""
    if table is None:
        yield
        return

    target = f"INSERT INTO {connection.ops.quote_name(table)}"

    def fail(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        if target in sql:
            raise OperationalError(f"server closed the connection while writing {table}")
        return execute(sql, *args)

    with connection.execute_wrapper(fail):
        yield


def member(
    broker: InMemoryBroker,
    store: Store,
    sink: InMemoryDeadLetters,
    **config: Any,
) -> ImpressionConsumer:
    settings = {"exit_when_idle": 2.0, "retry_pause": 0.0, "batch_size": 1000} | config
    cfg = ConsumerConfig(topic=broker.topic, group=GROUP, **settings)
    return ImpressionConsumer(
        cfg,
        client=broker.member(max_records=cfg.batch_size),
        recorder=store,
        ledger=store.read_ledger,
        dead_letters=sink,
        clock=broker.clock,
    )


def produce(broker: InMemoryBroker, per_partition: int, user: str = "u") -> list[AdImpressionEvent]:
    events = []
    for index in range(len(broker.logs)):
        for _ in range(per_partition):
            event = AdImpressionEvent(1, uuid.uuid4(), f"ad-{index}", user, T0)
            broker.produce(index, encode_event(event))
            events.append(event)
    return events


def run_until_exit(*loops: ImpressionConsumer, max_steps: int = 2000) -> list[int]:
    """Step every loop in turn until each has exited; their exit codes."""
    codes: dict[int, int] = {}
    for _ in range(max_steps):
        for i, loop in enumerate(loops):
            if i not in codes and (code := loop.step()) is not None:
                codes[i] = code
                loop.close()
        if len(codes) == len(loops):
            return [codes[i] for i in range(len(loops))]
    raise AssertionError(f"still running after {max_steps} steps")
