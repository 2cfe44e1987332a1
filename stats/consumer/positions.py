"""Position and retry state, in one place: where each owned partition resumes, which log it
belongs to, which records a poll may hand on, and which dead letters were already sent."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

from stats.consumer.records import Batch, Partition, Record

logger = logging.getLogger(__name__)


WHAT_TO_DO = (
    "Rebuild into an empty database, or, if the topic was deliberately recreated, consume it"
    " with a new --group."
)


class LedgerDoesNotMatchTopic(RuntimeError):
    """The ledger describes another log than the one the broker serves: resuming would skip or
    re-read records. `runconsumer` exits 2 with the message (which says what to do)."""


class LedgerAheadOfTopic(LedgerDoesNotMatchTopic):
    """The database has read further than the topic holds: the topic was recreated or wiped."""


class LedgerOfAnotherTopic(LedgerDoesNotMatchTopic):
    """The partition's topic id is not the one stored with the ledger: the topic was deleted
    and recreated (and may already hold more records than the ledger's offset)."""


def check_identity(*, partition: Partition, stored: str | None, current: str | None) -> None:
    """Raise LedgerOfAnotherTopic when both identities are known and differ."""
    if stored is not None and current is not None and stored != current:
        raise LedgerOfAnotherTopic(
            f"{partition} is not the partition the ledger describes: the ledger's offsets"
            f" belong to topic id {stored}, the broker now serves topic id {current} (the topic"
            f" was deleted and recreated). Nothing was recorded from it. {WHAT_TO_DO}"
        )


def report_expired(partition: Partition, start: int, stop: int) -> int:
    """Log offsets start..stop-1 as lost to retention (an error); return how many."""
    logger.error(
        "%s: offsets %d..%d expired (retention) before they were recorded",
        partition, start, stop - 1,
    )  # fmt: skip
    return stop - start


def resume_offset(*, partition: Partition, stored: int | None, first: int, end: int) -> int:
    """The offset to seek to, given the ledger's `stored` offset and the partition's range.

    No ledger row: the first retained offset. Ledger before the first retained offset: the
    records between expired unrecorded (the caller reports them); resume at `first`. Ledger
    past `end`: raises LedgerAheadOfTopic rather than skip or re-read anything.
    """
    if stored is None:
        return first
    if stored > end:
        raise LedgerAheadOfTopic(
            f"the database has recorded {partition} up to offset {stored} but the topic"
            f" ends at {end}: it was recreated or the broker's data was wiped. {WHAT_TO_DO}"
        )
    return max(stored, first)


class Positions:
    """Owned partitions and where each resumes.

    A partition is *unseeked* from its assignment until the core has seeked it to the ledger,
    then it has a *next* offset (the first not yet recorded) and an *identity* (the log it
    belongs to). Records of unseeked or unowned partitions are dropped.

    Dead letters this member had acked are remembered per partition until the ledger moves
    past them, across rebalances: an eager rebalance that hands a partition back to the same
    member does not send them again, while a new owner (with no such memory) sends them again
    (at least once across owners). The memory is emptied for a partition whose identity
    changes, and holds at most one batch's letters per partition.
    """

    def __init__(self) -> None:
        self.next: dict[Partition, int] = {}
        self.unseeked: set[Partition] = set()
        self.identity: dict[Partition, str | None] = {}
        self._dead_lettered: dict[Partition, set[int]] = {}

    def rebalanced(self, *, assigned: Iterable[Partition], revoked: Iterable[Partition]) -> None:
        """Forget where revoked partitions were; assigned ones wait for a seek (they may have
        moved). Sent dead letters stay remembered (see the class)."""
        assigned = set(assigned)
        for partition in set(revoked) | assigned:
            self.next.pop(partition, None)
            self.unseeked.discard(partition)
        self.unseeked |= assigned

    def seeked(
        self,
        resume: Mapping[Partition, int],
        identity: Mapping[Partition, str | None] | None = None,
    ) -> None:
        """The partitions resume at these offsets, in these logs (None: identity unknown)."""
        for partition, offset in resume.items():
            self.unseeked.discard(partition)
            self.next[partition] = offset
            known = (identity or {}).get(partition)
            if self.identity.get(partition, known) != known:
                self._dead_lettered.pop(partition, None)  # another log: its offsets mean else
            self.identity[partition] = known
            self._forget_dead_letters_below(partition, offset)

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

    def gaps(self, batch: Batch) -> dict[Partition, int]:
        """Partitions whose records start past their next offset, and that next offset."""
        return {
            p: self.next[p]
            for p, records in batch.by_partition.items()
            if p in self.next and records[0].offset > self.next[p]
        }

    def committed(self, batch: Batch) -> None:
        """The batch is in the database: move on, and forget the dead letters it sent."""
        for partition, offset in batch.next_offsets().items():
            if partition in self.next:
                self.next[partition] = offset
            self._forget_dead_letters_below(partition, offset)

    def forget_seeks(self) -> None:
        """Every owned partition waits for a seek to the ledger again, as on assignment (the
        ledger may be behind `next`: see stats.consumer.durability)."""
        self.unseeked |= set(self.next)
        self.next.clear()

    def rewind(self, batch: Batch) -> dict[Partition, int]:
        """Where to seek so that a batch that did not commit is read again."""
        return {p: self.next[p] for p in batch.by_partition if p in self.next}

    def not_yet_dead_lettered(self, records: Iterable[Record]) -> list[Record]:
        return [r for r in records if r.offset not in self._dead_lettered.get(r.source, ())]

    def dead_lettered(self, records: Iterable[Record]) -> None:
        for record in records:
            self._dead_lettered.setdefault(record.source, set()).add(record.offset)

    def _forget_dead_letters_below(self, partition: Partition, offset: int) -> None:
        """The ledger is at `offset`: letters below it are never read again."""
        kept = {o for o in self._dead_lettered.pop(partition, ()) if o >= offset}
        if kept:
            self._dead_lettered[partition] = kept

    def behind(self, ends: Mapping[Partition, int]) -> int:
        """Records between each next offset and its partition's end."""
        return sum(max(end - self.next.get(p, 0), 0) for p, end in ends.items())
