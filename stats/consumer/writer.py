"""The write step: a polled batch becomes dead letters plus one recording transaction."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import DataError, IntegrityError, transaction

from stats.consumer.dead_letters import DeadLetterWriter
from stats.consumer.decoding import DecodedBatch, decode_records
from stats.services import OffsetUpdate, record_impressions

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteResult:
    consumed: int
    recorded: int  # new events counted
    duplicates: int  # valid events already stored (resent event ids)
    dead_lettered: int  # undecodable, invalid, or refused by the database


class BatchWriter:
    """Writes one batch: dead letters first (acked), then rows, counters and offsets at once.

    Raises django.db.Error or KafkaError when nothing of the batch could be committed; the
    caller rewinds and retries. A batch the database refuses (DataError, IntegrityError) is
    recorded one event at a time so that only the refused events become dead letters.
    """

    def __init__(self, *, group: str, dead_letters: DeadLetterWriter) -> None:
        self.group = group
        self.dead_letters = dead_letters
        # Dead letters already acked for a batch that is being retried: not sent again.
        self._sent: set[tuple[str, int, int]] = set()

    def forget(self) -> None:
        """Forget the dead letters of a batch in flight (its partitions may move elsewhere)."""
        self._sent.clear()

    def write(self, records: Iterable[Any], next_offsets: list[OffsetUpdate]) -> WriteResult:
        decoded = decode_records(records)
        self._dead_letter(decoded.dead)
        try:
            events = [event for _, event in decoded.good]
            recorded, refused = record_impressions(events=events, offsets=next_offsets), 0
        except (DataError, IntegrityError) as exc:
            self._blame_events_or_raise(exc, next_offsets)
            logger.warning("the database refused the batch (%s); recording one by one", exc)
            recorded, refused = self._write_one_by_one(decoded, next_offsets)
        self._sent.clear()  # committed: this batch is not coming back
        return WriteResult(
            consumed=len(decoded.good) + len(decoded.dead),
            recorded=recorded,
            duplicates=len(decoded.good) - recorded - refused,
            dead_lettered=len(decoded.dead) + refused,
        )

    def _dead_letter(self, dead: list[tuple[Any, str]]) -> None:
        fresh = [(r, why) for r, why in dead if (r.topic, r.partition, r.offset) not in self._sent]
        if fresh:
            self.dead_letters.send(fresh)
            self._sent.update((r.topic, r.partition, r.offset) for r, _ in fresh)

    def _blame_events_or_raise(self, exc: Exception, next_offsets: list[OffsetUpdate]) -> None:
        """A refusal is the events' fault only if the offsets alone can be written: try that
        in a transaction that is rolled back. Otherwise (e.g. the ledger itself refuses)
        re-raise, so the batch is retried and no valid event becomes a dead letter."""
        try:
            with transaction.atomic():
                record_impressions(events=[], offsets=next_offsets)
                transaction.set_rollback(True)
        except (DataError, IntegrityError):
            raise exc from None

    def _write_one_by_one(
        self, decoded: DecodedBatch, next_offsets: list[OffsetUpdate]
    ) -> tuple[int, int]:
        recorded = refused = 0
        for record, event in decoded.good:
            step = [OffsetUpdate(self.group, record.topic, record.partition, record.offset + 1)]
            try:
                recorded += record_impressions(events=[event], offsets=step)
            except (DataError, IntegrityError) as exc:
                self._dead_letter([(record, f"database refused: {exc}".strip())])
                refused += 1
        record_impressions(events=[], offsets=next_offsets)
        return recorded, refused
