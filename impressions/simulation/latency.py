"""What a client saw, request by request, and the figures of the last minute (pure functions).

A request is kept from the moment it is sent: while it waits, its latency so far counts as its
latency (a lower bound), so a request stuck behind a stalled database raises p99 while it is
stuck, not only after it comes back.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

WINDOW_SECONDS = 60
RATE_SECONDS = 5


@dataclass
class Sample:
    """One request: when it was sent (time.time()), how long it took, how it ended."""

    started: float
    seconds: float | None = None  # None while waiting for the answer
    reason: str | None = None  # None: accepted; else the status code or the connection failure

    def latency(self, now: float) -> float:
        return self.seconds if self.seconds is not None else max(0.0, now - self.started)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank q-th percentile (0 < q <= 100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class PathFigures:
    """One path over the last minute: rates, latency percentiles, errors, and a per-second series
    (by the second each request was sent)."""

    requests: int = 0
    rps: float = 0.0  # over the last RATE_SECONDS complete seconds
    p50_ms: float | None = None
    p99_ms: float | None = None
    waiting: int = 0
    longest_wait_ms: float | None = None
    errors: dict[str, int] = field(default_factory=dict)
    series: dict[str, list[Any]] = field(default_factory=dict)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def figures(samples: Iterable[Sample], *, now: float, window: int = WINDOW_SECONDS) -> PathFigures:
    """The figures of the requests sent in the `window` seconds before `now`."""
    recent = [s for s in samples if now - window <= s.started <= now]
    latencies = [s.latency(now) for s in recent]
    waiting = [s.latency(now) for s in recent if s.seconds is None]
    first_second = math.floor(now) - window + 1
    per_second: list[list[float]] = [[] for _ in range(window)]
    for sample, latency in zip(recent, latencies, strict=True):
        index = math.floor(sample.started) - first_second
        if 0 <= index < window:
            per_second[index].append(latency)
    sent_per_second = [len(bucket) for bucket in per_second]
    return PathFigures(
        requests=len(recent),
        rps=round(sum(sent_per_second[-RATE_SECONDS - 1 : -1]) / RATE_SECONDS, 2),
        p50_ms=_ms(percentile(latencies, 50)),
        p99_ms=_ms(percentile(latencies, 99)),
        waiting=len(waiting),
        longest_wait_ms=_ms(max(waiting, default=None)),
        errors=dict(Counter(s.reason for s in recent if s.reason is not None)),
        series={
            "t": [first_second + i for i in range(window)],
            "rps": sent_per_second,
            "p50_ms": [_ms(percentile(bucket, 50)) for bucket in per_second],
            "p99_ms": [_ms(percentile(bucket, 99)) for bucket in per_second],
        },
    )
