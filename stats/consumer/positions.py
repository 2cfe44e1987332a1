"""Position and retry state, in one place: where each owned partition resumes, which records a
poll may hand on, and which dead letters a retried batch already sent."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

from stats.consumer.records import Batch, Partition, Record

logger = logging.getLogger(__name__)


class LedgerAheadOfTopic(RuntimeError):
    """The database has read further than the topic holds: the topic was recreated or wiped."""


def resume_offset(*, partition: Partition, stored: int | None, first: int, end: int) -> int:
    """The offset to seek to, given the ledger's `stored` offset and the partition's range.

    No ledger row: the first retained offset. Ledger before the first retained offset: the
    records between expired unrecorded; logged as an error, resume at `first`. Ledger past
    `end`: raises LedgerAheadOfTopic rather than skip or re-read anything.
    """
    if stored is None:
        return first
    if stored > end:
        raise LedgerAheadOfTopic(
            f"the database has recorded {partition} up to offset {stored} but the topic"
            f" ends at {end}: it was recreated or the broker's data was wiped. Rebuild into an"
            " empty database, or, if the topic was deliberately recreated, consume it with a"
            " new --group."
        )
    if stored < first:
        logger.error(
            "%s: offsets %d..%d expired (retention) before they were recorded",
            partition, stored, first - 1,
        )  # fmt: skip
        return first
    return stored


class Positions:
    """Owned partitions and where each resumes.

    A partition is *unseeked* from its assignment until the core has seeked it to the ledger,
    then it has a *next* offset: the first not yet recorded. Records of unseeked or unowned
    partitions are dropped. Dead letters acked for a batch that did not commit are remembered
    per partition, so that its retry does not send them again, until the batch commits or the
    partition is revoked.
    """

    def __init__(self) -> None:
        self.next: dict[Partition, int] = {}
        self.unseeked: set[Partition] = set()
        self._dead_lettered: dict[Partition, set[int]] = {}

    def rebalanced(self, *, assigned: Iterable[Partition], revoked: Iterable[Partition]) -> None:
        """Forget revoked partitions; assigned ones wait for a seek (they may have moved)."""
        assigned = set(assigned)
        for partition in set(revoked) | assigned:
            self.next.pop(partition, None)
            self.unseeked.discard(partition)
            self._dead_lettered.pop(partition, None)
        self.unseeked |= assigned

    def seeked(self, resume: Mapping[Partition, int]) -> None:
        for partition, offset in resume.items():
            self.unseeked.discard(partition)
            self.next[partition] = offset

    def fresh(self, polled: Mapping[Partition, Sequence[Record]]) -> Batch:
        """The polled records from each seeked partition's next offset on (gaps allowed).

        Raises LedgerAheadOfTopic when a partition jumped back below its next offset: only a
        truncated or recreated log does that, and what lies below now was never recorded.
        """
        batch = {}
        for partition, records in polled.items():
            if partition not in self.next or not records:
                continue
            if records[0].offset < self.next[partition]:
                raise LedgerAheadOfTopic(
                    f"{partition} jumped back to offset {records[0].offset} below the ledger's"
                    f" {self.next[partition]}: the topic was truncated or recreated while this"
                    " consumer ran. Rebuild into an empty database, or, if the topic was"
                    " deliberately recreated, consume it with a new --group."
                )
            batch[partition] = records
        return Batch(batch)

    def committed(self, batch: Batch) -> None:
        """The batch is in the database: move on, and forget the dead letters it sent."""
        for partition, offset in batch.next_offsets().items():
            if partition in self.next:
                self.next[partition] = offset
            self._dead_lettered.pop(partition, None)

    def rewind(self, batch: Batch) -> dict[Partition, int]:
        """Where to seek so that a batch that did not commit is read again."""
        return {p: self.next[p] for p in batch.by_partition if p in self.next}

    def not_yet_dead_lettered(self, records: Iterable[Record]) -> list[Record]:
        return [r for r in records if r.offset not in self._dead_lettered.get(r.source, ())]

    def dead_lettered(self, records: Iterable[Record]) -> None:
        for record in records:
            self._dead_lettered.setdefault(record.source, set()).add(record.offset)

    def behind(self, ends: Mapping[Partition, int]) -> int:
        """Records between each next offset and its partition's end."""
        return sum(max(end - self.next.get(p, 0), 0) for p, end in ends.items())
