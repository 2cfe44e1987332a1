"""What the consumer core needs from the outside world, as typed contracts.

`kafka_client.KafkaConsumerClient` and `dead_letters.KafkaDeadLetterSink` implement them on
Kafka, `build.py` on the database; the package `testing/` implements them in memory for fast
tests. tests/stats/test_consumer_contract.py runs one suite against both broker sides, and the
core's tests run against the in-memory store and the real recorder alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from impressions.contract import AdImpressionEvent
from stats.consumer.records import DeadLetter, LedgerEntry, Partition, Record
from stats.offset_update import OffsetUpdate


@dataclass(frozen=True)
class Polled:
    """One poll: the records fetched, and the partitions assigned or revoked since the last poll.

    Records of a partition in `assigned` were fetched before the core could seek it to the
    ledger; the core drops them.
    """

    records: Mapping[Partition, Sequence[Record]] = field(default_factory=dict)
    assigned: frozenset[Partition] = frozenset()
    revoked: frozenset[Partition] = frozenset()


class ConsumerClient(Protocol):
    """One member of a consumer group, subscribed to one topic, auto-commit off.

    Every method raises records.BrokerFailure when the broker does not do what was asked.
    """

    def poll(self, timeout_ms: int) -> Polled:
        """Wait up to `timeout_ms` for records of the owned partitions, in offset order."""
        ...

    def assignment(self) -> set[Partition]:
        """The partitions this member owns now."""
        ...

    def seek(self, partition: Partition, offset: int) -> None:
        """Fetch `partition` from `offset` on the next poll; ignored if it is not owned."""
        ...

    def pause(self, partitions: Sequence[Partition]) -> None:
        """Fetch nothing more from these partitions until they are assigned again."""
        ...

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        """Store next offsets in the group, for lag tools only (the ledger is the truth)."""
        ...

    def beginning_offsets(self, partitions: Sequence[Partition]) -> dict[Partition, int]:
        """The first retained offset of each partition (an answer for every one, or raise)."""
        ...

    def end_offsets(self, partitions: Sequence[Partition]) -> dict[Partition, int]:
        """The offset the next record of each partition will get (for every one, or raise)."""
        ...

    def highwater(self, partition: Partition) -> int | None:
        """The end offset last seen while fetching, without asking the broker; None if unknown."""
        ...

    def topic_partitions(self) -> int | None:
        """How many partitions the topic has, as the client last saw it; None if unknown.

        Never raises: it feeds completeness, which a missing answer only holds back.
        """
        ...

    def identities(self, partitions: Sequence[Partition]) -> dict[Partition, str | None]:
        """An identity of each partition's log that changes when its topic is deleted and
        recreated under the same name (Kafka: the topic id); None where the broker does not
        tell. Answers from what the client already knows about owned partitions."""
        ...

    def close(self) -> None:
        """Leave the group at once, without committing."""
        ...


class DeadLetterSink(Protocol):
    """Where unusable records go (`<topic>.dlq`), with their reason."""

    def send(self, letters: Sequence[DeadLetter]) -> None:
        """Write every letter and wait until the broker has them all (else BrokerFailure)."""
        ...

    def close(self) -> None: ...


class Recorder(Protocol):
    """Where events and the ledger are written, all or nothing (the database).

    Both methods raise django.db.Error when nothing was committed (DataError or
    IntegrityError when the database refused a value).
    """

    def record(
        self, *, events: Sequence[AdImpressionEvent], offsets: Sequence[OffsetUpdate] = ()
    ) -> int:
        """`stats.services.record_impressions`: store the events and move the ledger in ONE
        transaction; return how many events were new."""
        ...

    def offsets_alone_accepted(self, offsets: Sequence[OffsetUpdate]) -> bool:
        """Whether writing only these offsets would be accepted; nothing is kept either way.
        (After a refused batch: are the events to blame, or the ledger itself?)"""
        ...


class LedgerReader(Protocol):
    """The ledger of this group and topic, by partition index. Raises django.db.Error."""

    def __call__(self) -> Mapping[int, LedgerEntry]: ...
