"""An in-memory broker: enough of Kafka to drive `ImpressionConsumer` in milliseconds (partitions
as lists, one group with eager round-robin rebalances, seeks, out-of-range resets, retention,
recreated topics, commits that fail during a rebalance), a dead-letter sink and a clock.
tests/stats/test_consumer_contract.py holds it to the same contract as the Kafka adapters.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from stats.consumer.ports import Polled
from stats.consumer.records import CREATE_TIME, BrokerFailure, DeadLetter, Partition, Record


class FakeClock:
    """The loop's clock; an empty poll advances it by the poll's timeout."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class PartitionLog:
    start: int = 0  # first retained offset
    records: list[Record] = field(default_factory=list)
    identity: str = field(default_factory=lambda: str(uuid.uuid4()))  # new when recreated

    @property
    def end(self) -> int:
        return self.records[-1].offset + 1 if self.records else self.start


class InMemoryBroker:
    """One topic and one consumer group. Every membership change revokes every partition and
    assigns them anew, round robin; a member resumes from the group's committed offset or,
    without one, from the first retained offset (auto_offset_reset="earliest")."""

    def __init__(self, topic: str = "t", partitions: int = 3) -> None:
        self.topic = topic
        self.clock = FakeClock()
        self.logs = {Partition(topic, i): PartitionLog() for i in range(partitions)}
        self.committed: dict[Partition, int] = {}
        self.members: list[InMemoryConsumer] = []
        self.offsets_unavailable = False  # offset lookups fail, as while the broker is away

    def produce(
        self,
        index: int,
        value: bytes | None,
        key: bytes | None = b"k",
        *,
        timestamp: int | None = None,
        timestamp_type: int = CREATE_TIME,
    ) -> Record:
        """Append a record (without a timestamp unless given, like a v0 message)."""
        partition = Partition(self.topic, index)
        log = self.logs[partition]
        record = Record(self.topic, index, log.end, key, value, timestamp, timestamp_type)
        log.records.append(record)
        return record

    def expire(self, index: int, *, before: int) -> None:
        """Records below offset `before` leave the log, as retention deletes them."""
        log = self.logs[Partition(self.topic, index)]
        log.records = [r for r in log.records if r.offset >= before]
        log.start = max(log.start, before)

    def recreate(self, index: int) -> None:
        """The partition's log starts again at offset 0, as after a topic was recreated."""
        self.logs[Partition(self.topic, index)] = PartitionLog()

    def member(self, max_records: int = 100) -> InMemoryConsumer:
        consumer = InMemoryConsumer(self, max_records)
        self.members.append(consumer)
        self.rebalance()
        return consumer

    def rebalance(self) -> None:
        owners: dict[InMemoryConsumer, set[Partition]] = {m: set() for m in self.members}
        for i, partition in enumerate(sorted(self.logs)):
            if self.members:
                owners[self.members[i % len(self.members)]].add(partition)
        for consumer, owned in owners.items():
            consumer.reassign(owned)

    def leave(self, consumer: InMemoryConsumer) -> None:
        self.members.remove(consumer)
        self.rebalance()


class InMemoryConsumer:
    """A group member that implements `ports.ConsumerClient`."""

    def __init__(self, broker: InMemoryBroker, max_records: int) -> None:
        self.broker, self.max_records = broker, max_records
        self.owned: set[Partition] = set()
        self.fetch_at: dict[Partition, int] = {}
        self.paused: set[Partition] = set()
        self.notes: tuple[set[Partition], set[Partition]] = (set(), set())
        self.poll_failures = 0  # the next polls raise BrokerFailure
        self.closed = False

    def reassign(self, owned: set[Partition]) -> None:
        assigned, revoked = self.notes
        self.notes = (assigned | owned, revoked | self.owned)
        self.owned = set(owned)
        self.paused.clear()
        self.fetch_at = {p: self.broker.committed.get(p, self.broker.logs[p].start) for p in owned}

    def poll(self, timeout_ms: int) -> Polled:
        if self.closed:
            raise RuntimeError("polled after close")
        if self.poll_failures:
            self.poll_failures -= 1
            raise BrokerFailure("the broker is away")
        records: dict[Partition, list[Record]] = {}
        budget = self.max_records
        for partition in sorted(self.owned - self.paused):
            log, at = self.broker.logs[partition], self.fetch_at[partition]
            if not log.start <= at <= log.end:
                at = log.start  # out of range: reset to the earliest retained offset
            fetched = [r for r in log.records if r.offset >= at][:budget]
            if fetched:
                records[partition] = fetched
                self.fetch_at[partition] = fetched[-1].offset + 1
                budget -= len(fetched)
        (assigned, revoked), self.notes = self.notes, (set(), set())
        if not records and not assigned and not revoked:
            self.broker.clock.advance(timeout_ms / 1000)
        return Polled(records, frozenset(assigned), frozenset(revoked))

    def assignment(self) -> set[Partition]:
        return set(self.owned)

    def seek(self, partition: Partition, offset: int) -> None:
        if partition in self.owned:
            self.fetch_at[partition] = offset

    def pause(self, partitions: Sequence[Partition]) -> None:
        self.paused |= set(partitions) & self.owned

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        if any(self.notes) or not set(offsets) <= self.owned:
            raise BrokerFailure("CommitFailedError: the group has rebalanced")
        self.broker.committed.update(offsets)

    def beginning_offsets(self, partitions: Sequence[Partition]) -> dict[Partition, int]:
        self._check_offsets_available()
        return {p: self.broker.logs[p].start for p in partitions}

    def end_offsets(self, partitions: Sequence[Partition]) -> dict[Partition, int]:
        self._check_offsets_available()
        return {p: self.broker.logs[p].end for p in partitions}

    def highwater(self, partition: Partition) -> int | None:
        return self.broker.logs[partition].end if partition in self.owned else None

    def topic_partitions(self) -> int | None:
        return len(self.broker.logs)

    def identities(self, partitions: Sequence[Partition]) -> dict[Partition, str | None]:
        return {p: self.broker.logs[p].identity for p in partitions}

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.broker.leave(self)

    def _check_offsets_available(self) -> None:
        if self.broker.offsets_unavailable:
            raise BrokerFailure("KafkaTimeoutError: offsets not available")


class InMemoryDeadLetters:
    """A `ports.DeadLetterSink` that keeps what it was sent; `failures` makes sends fail."""

    def __init__(self) -> None:
        self.sent: list[DeadLetter] = []
        self.failures = 0
        self.closed = False

    def send(self, letters: Sequence[DeadLetter]) -> None:
        if self.failures:
            self.failures -= 1
            raise BrokerFailure("KafkaTimeoutError: no acknowledgement")
        self.sent.extend(letters)

    def close(self) -> None:
        self.closed = True
