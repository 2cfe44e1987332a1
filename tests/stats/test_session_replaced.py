"""The core after a database crash that forgot commits (synchronous_commit off), in memory: the
recorder's guard says `SessionReplaced` and every partition is read again from the ledger.
The same on a real PostgreSQL killed with -m immediate: test_async_commit_crash.py."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence

from impressions.contract import AdImpressionEvent
from stats.consumer import ImpressionConsumer
from stats.consumer.durability import SessionReplaced
from stats.consumer.testing import InMemoryBroker, InMemoryDeadLetters, InMemoryStore
from stats.offset_update import OffsetUpdate
from tests.stats.core_harness import member, produce, run_until_exit


class CrashingStore(InMemoryStore):
    """Forgets its last commits on `crash()`, as PostgreSQL does with asynchronous commit; the
    next write then behaves as `durability.SessionGuard` on a new session: it calls back
    `on_replaced` (and, where `swallowed`, the caller ignores the error) and writes nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.snapshot: tuple[dict[uuid.UUID, AdImpressionEvent], dict[int, int]] | None = None
        self.replaced = False
        self.on_replaced = lambda: None

    def remember(self) -> None:
        self.snapshot = (copy.copy(self.events), copy.copy(self.ledger))

    def crash(self) -> None:
        assert self.snapshot is not None
        self.events, self.ledger = self.snapshot
        self.replaced = True

    def record(
        self, *, events: Sequence[AdImpressionEvent], offsets: Sequence[OffsetUpdate] = ()
    ) -> int:
        if self.replaced:
            self.replaced = False
            self.on_replaced()
            raise SessionReplaced("database session replaced")
        return super().record(events=events, offsets=offsets)


def test_commits_forgotten_by_a_crash_are_replayed_not_skipped(
    broker: InMemoryBroker, sink: InMemoryDeadLetters
) -> None:
    store = CrashingStore()
    consumer: ImpressionConsumer = member(broker, store, sink, batch_size=5)
    store.on_replaced = consumer.positions.forget_seeks
    events = produce(broker, 30)
    while sum(store.ledger.values()) < 30:
        assert consumer.step() is None
    store.remember()
    while sum(store.ledger.values()) < 60:  # more commits, which the crash will forget
        assert consumer.step() is None
    store.crash()
    assert sum(store.ledger.values()) < 60

    assert run_until_exit(consumer) == [0]
    assert set(store.events) == {e.event_id for e in events}
    assert store.ledger == {0: 30, 1: 30, 2: 30}
    assert store.duplicates == 0


def test_without_the_guard_a_rewind_to_positions_in_memory_would_skip_them(
    broker: InMemoryBroker, sink: InMemoryDeadLetters
) -> None:
    """Why the guard exists: the same crash seen only as a failed write loses events."""
    store = CrashingStore()
    consumer = member(broker, store, sink, batch_size=5)
    events = produce(broker, 30)
    while sum(store.ledger.values()) < 30:
        assert consumer.step() is None
    store.remember()
    while sum(store.ledger.values()) < 60:
        assert consumer.step() is None
    store.crash()
    store.replaced, store.failures = False, 1  # an ordinary failure: rewind, then go on

    assert run_until_exit(consumer) == [0]
    assert len(store.events) < len(events)
