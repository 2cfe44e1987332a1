"""Completeness: up to which instant a consumer group's statistics of a topic are final.

Pure functions; the recording function feeds them the stored progress (stats.services) and
keeps the result.

Each partition has a *read-through* time (`PartitionProgress.read_through`): the publish time
(the Kafka record timestamp) of the last record recorded, or the instant the consumer saw the
partition caught up. The statistics are complete through the earliest read-through time of
EVERY partition of the topic, minus an allowed lateness:

    complete_through = min(read_through[p] for p in 0..partitions-1) - allowed_lateness

A partition that is behind holds it back; a partition nobody has read yet holds it back
entirely (None). The stored value never moves backwards: the recording function keeps the
larger of the stored value and a new one, in the same statement that writes it.

Why publish time, not event time: the contract lets an event's own timestamp lie up to
5 minutes AFTER its publish time (clock skew of clients), and any time before it (a client
may buffer events, or retry with the original timestamp). A watermark built from the largest
event time seen would jump 5 minutes ahead on one fast clock. Built from publish times, an
event that is ahead of its publish time only fills a bucket that is not final yet, and never
makes a final one wrong. An event can land in a final bucket only when its event time is
more than `allowed_lateness` before its publish time (or the producer took longer than that
to deliver it): such an event is still counted, and counted as *late*
(`TopicCompleteness.late_events`: event time before complete_through when recorded).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta


def complete_through(
    *, read_through: Mapping[int, datetime], partitions: int, allowed_lateness: timedelta
) -> datetime | None:
    """The earliest read-through time of partitions 0..partitions-1, minus the lateness.

    None when the partition count is unknown (0) or any of those partitions has no
    read-through time yet. Read-through times of partitions beyond the count are ignored.
    """
    if partitions <= 0:
        return None
    try:
        earliest = min(read_through[p] for p in range(partitions))
    except KeyError:
        return None
    return earliest - allowed_lateness


def is_final(bucket_end: datetime, through: datetime | None) -> bool:
    """A bucket is final when all of it lies before the watermark: [start, end) <= through."""
    return through is not None and bucket_end <= through
