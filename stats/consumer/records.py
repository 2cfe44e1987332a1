"""The plain values the consumer core works with: partitions, records, ledger entries, batches,
dead letters."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

CREATE_TIME = 0  # the producer set the timestamp
LOG_APPEND_TIME = 1  # the broker set it when it appended the record


class BrokerFailure(Exception):
    """The broker did not do what was asked (unreachable, restarting, a rebalance under way).

    Raised by the adapters instead of their client library's errors; the core retries.
    """


@dataclass(frozen=True, order=True, slots=True)
class Partition:
    """One partition of a topic."""

    topic: str
    index: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.index}]"


@dataclass(frozen=True, slots=True)
class Record:
    """One record as polled; the adapter builds it from its client library's record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int | None = None  # milliseconds since the epoch
    timestamp_type: int = CREATE_TIME
    headers: tuple[tuple[str, bytes], ...] = ()  # as written by the producer

    def header(self, name: str) -> bytes | None:
        """The last value of header `name`, or None."""
        return next((value for key, value in reversed(self.headers) if key == name), None)

    @property
    def source(self) -> Partition:
        return Partition(self.topic, self.partition)

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """What the ledger holds for one partition of this group and topic."""

    next_offset: int  # the first offset not yet recorded
    topic_identity: str | None = None  # the log these offsets belong to; None: not known yet
    expired_unrecorded: int = 0  # records that left the log (retention) before being recorded


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record the consumer cannot use, and why (`dlq.reason`)."""

    record: Record
    reason: str


@dataclass(frozen=True)
class Batch:
    """Records to record in one transaction, each partition's in offset order."""

    by_partition: Mapping[Partition, Sequence[Record]]

    def __len__(self) -> int:
        return sum(len(records) for records in self.by_partition.values())

    def records(self) -> Iterator[Record]:
        for records in self.by_partition.values():
            yield from records

    def next_offsets(self) -> dict[Partition, int]:
        """Where each partition resumes once this batch is recorded: its last offset + 1."""
        return {p: records[-1].offset + 1 for p, records in self.by_partition.items()}
