"""Where partitions resume: newly assigned ones are seeked to the ledger, after checking that
the broker still serves the log the ledger describes; records that left the log (retention)
before they were recorded are reported, counted and stored with the ledger, whether they
expired while no consumer ran or during an outage while this one retried."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from stats.consumer.ports import ConsumerClient, LedgerReader, Recorder
from stats.consumer.positions import Positions, check_identity, report_expired, resume_offset
from stats.consumer.progress import ConsumerTotals
from stats.consumer.records import Batch, Partition
from stats.offset_update import OffsetUpdate

logger = logging.getLogger(__name__)


class Resumer:
    """Seeks new partitions and accounts for expired records; see the module docstring.

    Every method raises django.db.Error or BrokerFailure when it could not finish (nothing was
    seeked or counted then, and the caller retries), and positions.LedgerDoesNotMatchTopic when
    a partition must not be resumed at all.
    """

    def __init__(
        self,
        *,
        client: ConsumerClient,
        ledger: LedgerReader,
        recorder: Recorder,
        positions: Positions,
        totals: ConsumerTotals,
        group: str,
    ) -> None:
        self._client, self._ledger, self._recorder = client, ledger, recorder
        self._positions, self._totals, self._group = positions, totals, group

    def seek_new_partitions(self) -> None:
        """Seek every unseeked partition to its ledger offset (or the first retained one).

        A ledger row that has no identity yet adopts the partition's; one whose records expired
        moves to the first retained offset with their count. Both are written in one
        transaction before any seek, so a restart neither repeats nor misses them.
        """
        partitions = sorted(self._positions.unseeked)
        stored = self._ledger()
        first = self._client.beginning_offsets(partitions)
        end = self._client.end_offsets(partitions)
        identity = self._client.identities(partitions)
        resume: dict[Partition, int] = {}
        expired: dict[Partition, range] = {}
        updates: list[OffsetUpdate] = []
        for p in partitions:
            entry = stored.get(p.index)
            if entry is None:
                resume[p] = first[p]
                continue
            check_identity(partition=p, stored=entry.topic_identity, current=identity[p])
            resume[p] = resume_offset(
                partition=p, stored=entry.next_offset, first=first[p], end=end[p]
            )
            lost = expired[p] = range(entry.next_offset, resume[p])
            if lost or (entry.topic_identity is None and identity[p] is not None):
                updates.append(
                    OffsetUpdate(self._group, p.topic, p.index, resume[p], identity[p], len(lost))
                )
        if updates:
            self._recorder.record(events=[], offsets=updates)
        self.report_expired(expired)
        for partition, offset in resume.items():
            self._client.seek(partition, offset)
        self._positions.seeked(resume, identity)
        logger.info(
            "assigned partitions %s; resuming at %s",
            [p.index for p in partitions], {p.index: o for p, o in resume.items()},
        )  # fmt: skip

    def expired_before(self, batch: Batch) -> dict[Partition, range]:
        """The offsets that expired unrecorded just before each partition's first record in
        `batch` (the fetch was reset to the earliest retained offset after an outage).

        A gap whose records are still retained (compaction, transaction markers) is no loss;
        only a partition with a gap costs a request to the broker.
        """
        gaps = self._positions.gaps(batch)
        if not gaps:
            return {}
        first = self._client.beginning_offsets(sorted(gaps))
        lost = {
            p: range(nxt, min(first[p], batch.by_partition[p][0].offset)) for p, nxt in gaps.items()
        }
        return {p: offsets for p, offsets in lost.items() if offsets}

    def report_expired(self, expired: Mapping[Partition, range]) -> None:
        """Log (an error) and count records that expired, once the ledger has them."""
        for partition, offsets in sorted(expired.items()):
            if offsets:
                self._totals.expired_unrecorded += report_expired(
                    partition, offsets.start, offsets.stop
                )
