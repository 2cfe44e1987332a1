"""Pure parts of the lab: which crash point exposes each mode, how big a batch is, the events
every mode reads, and the arithmetic of lost and double-counted. No I/O."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from impressions.contract import AdImpressionEvent
from stats.consumer.crash_points import AFTER_DB_COMMIT, AFTER_KAFKA_COMMIT
from stats.consumer.semantics import AT_LEAST_ONCE, AT_MOST_ONCE, EXACTLY_ONCE, Semantics

# Where each mode is killed: where at-most-once has committed offsets but not its counts, and
# where at-least-once (and, to show it holds, exactly-once) has committed its counts but not
# the offsets to Kafka.
CRASH_POINT: dict[Semantics, str] = {
    AT_MOST_ONCE: AFTER_KAFKA_COMMIT,
    AT_LEAST_ONCE: AFTER_DB_COMMIT,
    EXACTLY_ONCE: AFTER_DB_COMMIT,
}
MODES: tuple[Semantics, ...] = (AT_MOST_ONCE, AT_LEAST_ONCE, EXACTLY_ONCE)
CRASH_BATCH = 2  # each crashed run first records one batch cleanly, then dies in the second
ADS = 10
# The lab's events happen on one UTC day long past, so the exactly-once statistics they add
# stay out of the dashboard's recent ranges.
LAB_DAY = datetime(2000, 1, 1, tzinfo=UTC)


def default_batch_size(events: int, crashes: int) -> int:
    """Small enough that every crashed run reaches its second batch with events left over:
    at most 2 batches per crashed run, and 2 more for the last run to drain."""
    return max(1, events // (2 * crashes + 2))


def lab_events(run_id: str, n: int) -> list[AdImpressionEvent]:
    """`n` events over `ADS` ads named after the run, on `LAB_DAY`."""
    return [
        AdImpressionEvent(
            1,
            uuid.uuid4(),
            f"lab-{run_id}-{i % ADS}",
            f"lab-user-{i % 97}",
            LAB_DAY + timedelta(seconds=i % 86400),
        )
        for i in range(n)
    ]


@dataclass(frozen=True)
class LabRow:
    """One mode's line of the table."""

    mode: str
    sent: int
    counted: int
    lost: int
    double_counted: int
    seconds: float
    crashes: int
    crash_point: str


def tally(
    *, mode: str, sent: Mapping[str, int], counted: Mapping[str, int], seconds: float,
    crashes: int, crash_point: str,
) -> LabRow:  # fmt: skip
    """Per ad: fewer counted than sent is lost, more is double-counted. (Exact while a mode
    only loses or only double-counts, which the crash points make sure of.)"""
    ads = set(sent) | set(counted)
    lost = sum(max(sent.get(a, 0) - counted.get(a, 0), 0) for a in ads)
    double = sum(max(counted.get(a, 0) - sent.get(a, 0), 0) for a in ads)
    return LabRow(
        mode, sum(sent.values()), sum(counted.values()), lost, double, seconds, crashes,
        crash_point,
    )  # fmt: skip


def sent_per_ad(events: list[AdImpressionEvent]) -> Counter[str]:
    return Counter(e.ad_id for e in events)


def format_table(rows: list[LabRow]) -> str:
    """The table the command prints (and docs/semantics.md quotes)."""
    head = ("mode", "sent", "counted", "lost", "double-counted", "time", "crashes (SIGKILL at)")
    lines = [
        (
            r.mode,
            str(r.sent),
            str(r.counted),
            str(r.lost),
            str(r.double_counted),
            f"{r.seconds:.1f} s",
            f"{r.crashes} x {r.crash_point}" if r.crashes else "none",
        )  # fmt: skip
        for r in rows
    ]
    widths = [max(len(c) for c in col) for col in zip(head, *lines, strict=True)]

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:-1], widths[1:-1], strict=True)]
        return "  ".join([first, *rest, cells[-1]])

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(head), rule, *map(line, lines)])
