"""Step 3, record: valid events, counters and the batch's next offsets in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from django.db import DataError, IntegrityError

from impressions.contract import AdImpressionEvent
from stats.consumer.ports import Recorder
from stats.consumer.read_progress import Mark
from stats.consumer.records import DeadLetter, Partition, Record
from stats.offset_update import OffsetUpdate

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

    Each offset carries its partition's identity (`identities`, adopted by a ledger row that has
    none) and, where records expired before this batch, how many (`expired`), counted once:
    with the write that moves the ledger past them.
    """

    def __init__(
        self,
        recorder: Recorder,
        *,
        group: str,
        dead_letter: Callable[[list[DeadLetter]], int],
        identities: Mapping[Partition, str | None],
    ) -> None:
        self._recorder = recorder
        self._group = group
        self._dead_letter = dead_letter
        self._identities = identities

    def __call__(
        self,
        good: Sequence[tuple[Record, AdImpressionEvent]],
        next_offsets: Mapping[Partition, int],
        expired: Mapping[Partition, int],
        marks: Mapping[Partition, Mark] | None = None,
    ) -> Written:
        """`marks` (read_progress) travel with the batch's offsets into the same transaction."""
        marks = marks or {}
        offsets = [
            self._offset(p, o, expired.get(p, 0), marks.get(p)) for p, o in next_offsets.items()
        ]
        try:
            return Written(self._recorder.record(events=[e for _, e in good], offsets=offsets), 0)
        except REFUSED as exc:
            if not self._recorder.offsets_alone_accepted(offsets):
                raise
            logger.warning("the database refused the batch (%s); recording one by one", exc)
        pending = dict(expired)  # until a step moves its partition forward
        written = self._one_by_one(good, pending)
        offsets = [
            self._offset(p, o, pending.get(p, 0), marks.get(p)) for p, o in next_offsets.items()
        ]
        self._recorder.record(events=[], offsets=offsets)
        return written

    def _offset(
        self, partition: Partition, next_offset: int, expired: int, mark: Mark | None = None
    ) -> OffsetUpdate:
        return OffsetUpdate(
            self._group, partition.topic, partition.index, next_offset,
            topic_identity=self._identities.get(partition), expired_unrecorded=expired,
            read_through=None if mark is None else mark.read_through,
            topic_partitions=None if mark is None else mark.topic_partitions,
        )  # fmt: skip

    def _one_by_one(
        self, good: Sequence[tuple[Record, AdImpressionEvent]], pending: dict[Partition, int]
    ) -> Written:
        recorded = refused = 0
        for record, event in good:
            p = record.source
            step = [self._offset(p, record.offset + 1, pending.get(p, 0))]
            try:
                recorded += self._recorder.record(events=[event], offsets=step)
            except REFUSED as exc:
                self._dead_letter([DeadLetter(record, f"database refused: {exc}".strip())])
                refused += 1
            else:
                pending.pop(p, None)
        return Written(recorded, refused)
