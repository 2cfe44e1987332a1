"""What the simulation sends and when: ids, Zipf-weighted ads, the event source, the pacer."""

from __future__ import annotations

import itertools
import random
import uuid

Event = dict[str, str]


def ad_ids(count: int) -> list[str]:
    """`demo-ad-01`, `demo-ad-02`, ... (zero-padded to at least two digits)."""
    width = max(2, len(str(count)))
    return [f"demo-ad-{i:0{width}d}" for i in range(1, count + 1)]


def user_ids(count: int) -> list[str]:
    return [f"sim-user-{i}" for i in range(1, count + 1)]


def zipf_weights(count: int, skew: float) -> list[float]:
    """Weight of the k-th item is 1/k**skew (skew 0: uniform), normalised to sum to 1."""
    raw = [1.0 / (k**skew) for k in range(1, count + 1)]
    total = sum(raw)
    return [w / total for w in raw]


class EventSource:
    """Endless impressions: ad by Zipf(skew), user uniform, a fresh random event id each.

    Event ids always come from uuid4 (the OS's randomness), never from `rng`: two runs must not
    repeat ids, or the consumer would drop the second run's events as retries.
    """

    def __init__(self, *, ads: int, users: int, skew: float, rng: random.Random | None = None):
        self.ads = ad_ids(ads)
        self.users = user_ids(users)
        self._cum_weights = list(itertools.accumulate(zipf_weights(ads, skew)))
        self._rng = rng or random.Random()

    def event(self) -> Event:
        ad = self._rng.choices(self.ads, cum_weights=self._cum_weights)[0]
        return {"event_id": str(uuid.uuid4()), "ad_id": ad, "user_id": self._rng.choice(self.users)}

    def batch(self, size: int) -> list[Event]:
        return [self.event() for _ in range(size)]


class Pacer:
    """When the next request is due, for `rate` events/s sent in requests of `batch` events.

    The request that starts with event k is due at start + k/rate. A sender that falls behind
    catches up by sending back to back, but by at most `max_backlog_s` worth of events: beyond
    that the schedule slides, so a stalled server does not earn a burst afterwards.
    """

    def __init__(self, *, rate: float, start: float, max_backlog_s: float = 1.0):
        self.rate = rate
        self.start = start
        self.max_backlog_s = max_backlog_s
        self.events = 0

    def next_due(self) -> float:
        return self.start + self.events / self.rate

    def advance(self, events: int, *, now: float) -> None:
        self.events += events
        behind = now - self.next_due()
        if behind > self.max_backlog_s:
            self.start += behind - self.max_backlog_s
