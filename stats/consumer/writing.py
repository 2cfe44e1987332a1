"""Step 3, record: valid events, counters and the batch's next offsets in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from django.db import DataError, IntegrityError, transaction

from impressions.contract import AdImpressionEvent
from stats.consumer.ports import Recorder
from stats.consumer.read_progress import Mark
from stats.consumer.records import DeadLetter, Partition, Record
from stats.services import OffsetUpdate

logger = logging.getLogger(__name__)

REFUSED = (DataError, IntegrityError)  # a value or rule the contract does not cover


@dataclass(frozen=True)
class Written:
    recorded: int  # new events counted
    refused: int  # valid events the database refused, now dead letters


class WriteStep:
    """Records a batch's valid events with its next offsets, all or nothing.

    If the database refuses the batch (DataError, IntegrityError) and the offsets alone would
    be accepted, the events are to blame: they are recorded one at a time, each with its own
    offset, and each refused one is dead-lettered (acked) before the next moves the ledger past
    it. Otherwise (e.g. the ledger itself refuses) the refusal is raised, like any other
    django.db.Error, and the caller retries the whole batch: no valid event becomes a dead
    letter for a fault that is not its own.
    """

    def __init__(
        self, recorder: Recorder, *, group: str, dead_letter: Callable[[list[DeadLetter]], int]
    ) -> None:
        self._record = recorder
        self._group = group
        self._dead_letter = dead_letter

    def __call__(
        self,
        good: Sequence[tuple[Record, AdImpressionEvent]],
        next_offsets: Mapping[Partition, int],
        marks: Mapping[Partition, Mark] | None = None,
    ) -> Written:
        """`marks` (read_progress) travel with the batch's offsets into the same transaction."""
        offsets = [
            self._offset(p, offset, (marks or {}).get(p)) for p, offset in next_offsets.items()
        ]
        try:
            return Written(self._record(events=[e for _, e in good], offsets=offsets), 0)
        except REFUSED as exc:
            if not self._offsets_alone_accepted(offsets):
                raise
            logger.warning("the database refused the batch (%s); recording one by one", exc)
        written = self._one_by_one(good)
        self._record(events=[], offsets=offsets)
        return written

    def _offset(
        self, partition: Partition, next_offset: int, mark: Mark | None = None
    ) -> OffsetUpdate:
        if mark is None:
            return OffsetUpdate(self._group, partition.topic, partition.index, next_offset)
        return OffsetUpdate(
            self._group, partition.topic, partition.index, next_offset,
            read_through=mark.read_through, topic_partitions=mark.topic_partitions,
        )  # fmt: skip

    def _offsets_alone_accepted(self, offsets: list[OffsetUpdate]) -> bool:
        """Write only the offsets, in a transaction that is rolled back whatever happens."""
        try:
            with transaction.atomic():
                self._record(events=[], offsets=offsets)
                transaction.set_rollback(True)
        except REFUSED:
            return False
        return True

    def _one_by_one(self, good: Sequence[tuple[Record, AdImpressionEvent]]) -> Written:
        recorded = refused = 0
        for record, event in good:
            step = [self._offset(record.source, record.offset + 1)]
            try:
                recorded += self._record(events=[event], offsets=step)
            except REFUSED as exc:
                self._dead_letter([DeadLetter(record, f"database refused: {exc}".strip())])
                refused += 1
        return Written(recorded, refused)
