"""Progress in time: how far this member has read each partition it owns, for completeness
(stats.watermark) and lag verdicts (stats.lag_verdict). Written through the recorder, so it
commits with the ledger (stats.completeness keeps it)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import Error as DatabaseFailure

from stats.consumer.ports import ConsumerClient, Recorder
from stats.consumer.records import Batch, BrokerFailure, Partition
from stats.offset_update import OffsetUpdate

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mark:
    """What a batch's offset update carries besides the next offset."""

    read_through: datetime | None
    topic_partitions: int | None


def moment(timestamp_ms: int | None) -> datetime | None:
    """A Kafka record timestamp (ms since the epoch; None or negative when absent) in UTC."""
    if timestamp_ms is None or timestamp_ms < 0:
        return None
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)


class ReadProgress:
    """Marks read-through times and samples lag; the loop calls `of_batch` and `tick`.

    - With each batch: a partition is read through the Kafka timestamp (publish time) of its
      last record in the batch (nothing for a record without one).
    - Every `interval` seconds (`tick`): asks the broker for the owned partitions' end offsets
      and records, with no events, a lag sample for each and, for each caught up (next offset
      at or past that end), the instant just before asking as its read-through time: every
      record appended before that instant has been recorded.

    A failed tick is logged and left to the next one: missing progress only holds the
    watermark back, it never moves it wrongly.
    """

    def __init__(
        self,
        client: ConsumerClient,
        recorder: Recorder,
        *,
        group: str,
        interval: float,
        wall_clock: Callable[[], datetime],
    ) -> None:
        self._client, self._recorder, self._group = client, recorder, group
        self._interval, self._wall_clock = interval, wall_clock
        self._next_tick: float | None = None

    def of_batch(self, batch: Batch) -> dict[Partition, Mark]:
        count = self._client.topic_partitions()
        return {
            partition: Mark(moment(records[-1].timestamp), count)
            for partition, records in batch.by_partition.items()
        }

    def tick(self, now: float, positions: Mapping[Partition, int]) -> None:
        """Mark and sample the seeked partitions in `positions`, at most once per interval."""
        if not positions or (self._next_tick is not None and now < self._next_tick):
            return
        self._next_tick = now + self._interval
        owned = sorted(positions)
        seen_at = self._wall_clock()  # before asking: records appended earlier are below `end`
        try:
            ends = self._client.end_offsets(owned)
            count = self._client.topic_partitions()
            self._recorder.record(
                events=[],
                offsets=[
                    OffsetUpdate(
                        self._group, p.topic, p.index, positions[p],
                        read_through=seen_at if positions[p] >= ends[p] else None,
                        end_offset=ends[p], topic_partitions=count,
                    )
                    for p in owned
                ],
            )  # fmt: skip
        except (DatabaseFailure, BrokerFailure) as exc:
            logger.warning(
                "marking progress failed (%s: %s); trying again later", exc.__class__.__name__, exc
            )
