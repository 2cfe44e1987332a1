"""A verdict on a consumer group's lag by Burrow's rules, over a short history of samples.

Pure functions. Burrow (LinkedIn's lag checker) judges each partition over a sliding window of
the group's committed offsets, each with its time and the lag at that time, plus the lag now:

1. OK when the lag now is 0, or the lag was 0 at any sample in the window.
   Otherwise, the first of these that holds, most severe first:
2. REWIND: the offset went backwards between two samples.
3. STOP: the time since the newest sample is longer than the window itself (newest - oldest):
   the consumer stopped reporting for that partition.
4. STALL: the offset did not change over the window while there is lag.
5. WARN: the offset moves but the lag never decreased between two samples: falling behind.
6. OK otherwise.

A partition with no samples is OK (nothing to judge, as in Burrow). The group's verdict is its
worst partition's, in Burrow's order of severity OK < WARN < STOP < STALL < REWIND.
Here the samples come from `PartitionLagSample` (the ledger's offset and the end offset the
consumer saw, every STATS_PROGRESS_INTERVAL_SECONDS), and the lag now from the pipeline read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Verdict = Literal["OK", "WARN", "STOP", "STALL", "REWIND"]
SEVERITY: tuple[Verdict, ...] = ("OK", "WARN", "STOP", "STALL", "REWIND")
SAMPLE_SLOTS = 12
"""Samples kept per partition: the window is SAMPLE_SLOTS sampling intervals long."""


@dataclass(frozen=True)
class LagSample:
    """The partition's next offset to read, and its lag, at one instant."""

    at: datetime
    offset: int
    lag: int


def recent(samples: Iterable[LagSample], *, interval: timedelta) -> list[LagSample]:
    """The samples of the window ending at the newest one, oldest first.

    The ring of slots may still hold samples from before a pause; those older than
    SAMPLE_SLOTS intervals before the newest sample are not part of the window.
    """
    ordered = sorted(samples, key=lambda s: s.at)
    if not ordered:
        return []
    since = ordered[-1].at - interval * SAMPLE_SLOTS
    return [s for s in ordered if s.at > since]


def partition_verdict(window: Sequence[LagSample], *, lag_now: int, now: datetime) -> Verdict:
    """Burrow's verdict on one partition; `window` oldest first (see `recent`)."""
    if not window or lag_now <= 0 or any(s.lag == 0 for s in window):
        return "OK"
    pairs = list(zip(window, window[1:], strict=False))
    if any(later.offset < earlier.offset for earlier, later in pairs):
        return "REWIND"
    if now - window[-1].at > window[-1].at - window[0].at:
        return "STOP"
    if all(later.offset == earlier.offset for earlier, later in pairs):
        return "STALL"
    if all(later.lag >= earlier.lag for earlier, later in pairs):
        return "WARN"
    return "OK"


def group_verdict(verdicts: Iterable[Verdict]) -> Verdict:
    """The worst partition's verdict (OK for a group with no partitions)."""
    return max(verdicts, key=SEVERITY.index, default="OK")
