"""`OffsetUpdate`: what one partition's write carries into the recording transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class OffsetUpdate:
    """The next offset to read for one partition, stored in the same transaction as its rows.

    `topic_identity` is adopted by a ledger row that has none (and never replaces one);
    `expired_unrecorded` is added to the row's count when this update moves it forward.
    """

    consumer_group: str
    topic: str
    partition: int
    next_offset: int
    topic_identity: str | None = None
    expired_unrecorded: int = 0
    # Progress in time and a lag sample, kept by stats.completeness; None where not known.
    read_through: datetime | None = None  # see PartitionProgress
    end_offset: int | None = None  # the partition's end offset just seen: stores a lag sample
    topic_partitions: int | None = None  # how many partitions the topic has
