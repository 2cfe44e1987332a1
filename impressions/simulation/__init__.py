"""Simulated ad traffic for `manage.py simulate`: events, pacing, HTTP and the figures it prints.

`traffic` (ids, the event source, the pacer), `report` (tally, progress line, summary),
`sender` (HTTP); the loop that chains them, `Simulation`, is here.

The event generation, the pacing and the formatting are plain functions and small classes that
take the clock and the random source as arguments, so tests drive them without a server. Only
`HttpSender` talks to the network, with the standard library (`http.client`, one keep-alive
connection). Ads are drawn with a Zipf distribution (ad 1 the most popular), users uniformly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from impressions.simulation.report import Outcome, Tally, progress_line, summary_lines
from impressions.simulation.sender import PATHS, USER_AGENT, HttpSender
from impressions.simulation.traffic import (
    Event,
    EventSource,
    Pacer,
    ad_ids,
    user_ids,
    zipf_weights,
)

__all__ = [
    "PATHS", "USER_AGENT", "Event", "EventSource", "HttpSender", "Outcome", "Pacer",
    "Simulation", "Tally", "ad_ids", "progress_line", "summary_lines", "user_ids",
    "zipf_weights",
]  # fmt: skip


class Simulation:
    """Sends `rate` events/s in batches for `duration` seconds (0: until interrupted).

    `tally` and `elapsed()` stay readable after an interruption (KeyboardInterrupt propagates),
    so the caller can still print the summary.
    """

    def __init__(
        self,
        *,
        send: Callable[[Sequence[Event]], Outcome],
        source: EventSource,
        rate: float,
        batch: int = 1,
        duration: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.send = send
        self.source = source
        self.rate = rate
        self.batch = batch
        self.duration = duration
        self.clock = clock
        self.sleep = sleep
        self.tally = Tally()
        self.started = clock()
        self.stopped: float | None = None

    def elapsed(self) -> float:
        return (self.stopped if self.stopped is not None else self.clock()) - self.started

    def run(self, *, progress: Callable[[Tally, float], None], every: float) -> Tally:
        """Send until the duration is over; call `progress(tally, elapsed)` every `every` s."""
        self.started = self.clock()
        pacer = Pacer(rate=self.rate, start=self.started)
        next_progress = self.started + every
        try:
            while True:
                now = self.clock()
                if now >= next_progress:
                    progress(self.tally, now - self.started)
                    next_progress = now + every
                end = self.started + self.duration if self.duration > 0 else float("inf")
                if now >= end:
                    break
                due = pacer.next_due()
                if due > now or due >= end:
                    self.sleep(max(0.0, min(due, end, next_progress) - now))
                    continue
                events = self.source.batch(self.batch)
                self.tally.add(self.send(events), len(events))
                pacer.advance(len(events), now=self.clock())
        finally:
            self.stopped = self.clock()
        return self.tally
