"""What the consumer core needs from the outside world, as typed contracts.

`kafka_client.KafkaConsumerClient` and `dead_letters.KafkaDeadLetterSink` implement them on
Kafka, `build.py` on the database; `testing.py` implements them in memory for fast tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from impressions.contract import AdImpressionEvent
from stats.consumer.records import DeadLetter, Partition, Record
from stats.services import OffsetUpdate


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
    """`stats.services.record_impressions`'s shape: events and the ledger in one transaction.

    Returns how many events were new. Raises django.db.Error when nothing was committed
    (DataError or IntegrityError when the database refused a value).
    """

    def __call__(
        self, *, events: Sequence[AdImpressionEvent], offsets: Sequence[OffsetUpdate] = ()
    ) -> int: ...


class LedgerReader(Protocol):
    """The ledger of this group and topic: partition -> next offset. Raises django.db.Error."""

    def __call__(self) -> Mapping[int, int]: ...
