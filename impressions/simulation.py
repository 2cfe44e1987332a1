"""Simulated ad traffic for `manage.py simulate`: events, pacing, HTTP and the figures it prints.

The event generation, the pacing and the formatting are plain functions and small classes that
take the clock and the random source as arguments, so tests drive them without a server. Only
`HttpSender` talks to the network, with the standard library (`http.client`, one keep-alive
connection). Ads are drawn with a Zipf distribution (ad 1 the most popular), users uniformly.
"""

from __future__ import annotations

import http.client
import itertools
import json
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

# --path: (HTTP method, path on the site, the status that means "accepted").
PATHS: dict[str, tuple[str, str, int]] = {
    "to-be": ("POST", "/api/impressions/", 202),
    "as-is": ("POST", "/api/impressions/sync/", 201),
    "pixel": ("GET", "/i.gif", 200),
}
USER_AGENT = "adstats-simulate/1"

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


@dataclass
class Tally:
    """Events sent, accepted, and refused by reason (`503`, `429`, `connection refused`, ...)."""

    requests: int = 0
    sent: int = 0
    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    def add(self, outcome: Outcome, events: int) -> None:
        self.requests += 1
        self.sent += events
        if outcome.accepted:
            self.accepted += events
        else:
            self.refused[outcome.reason] += events


@dataclass(frozen=True)
class Outcome:
    accepted: bool
    reason: str = ""  # the status code, or what went wrong with the connection


def _clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def progress_line(
    tally: Tally, *, elapsed: float, duration: float, width: int = 20, tty: bool = True
) -> str:
    """One line: a bar when the duration is known, elapsed time, counts, achieved rate."""
    rate = tally.sent / elapsed if elapsed > 0 else 0.0
    counts = (
        f"sent {tally.sent}  accepted {tally.accepted}  refused {tally.refused_total}  "
        f"{rate:.1f} events/s"
    )
    if duration > 0:
        done = min(elapsed / duration, 1.0)
        filled = int(done * width)
        bar = "#" * filled + "-" * (width - filled)
        return f"[{bar}] {done:4.0%}  {_clock(elapsed)}/{_clock(duration)}  {counts}"
    return f"{_clock(elapsed)}  {counts}" + ("  (Ctrl+C stops)" if tty else "")


def summary_lines(tally: Tally, *, elapsed: float, target_rate: float) -> list[str]:
    rate = tally.sent / elapsed if elapsed > 0 else 0.0
    reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(tally.refused.items()))
    lines = [
        f"  sent:     {tally.sent} events in {tally.requests} requests",
        f"  accepted: {tally.accepted}",
        f"  refused:  {tally.refused_total}" + (f" ({reasons})" if reasons else ""),
        f"  rate:     {rate:.1f} events/s achieved (target {target_rate:g}) over {elapsed:.1f} s",
    ]
    if elapsed >= 2 and rate < 0.9 * target_rate:
        lines.append(
            "  (the site answered too slowly for the target: requests go one at a time over one "
            "connection; --batch N sends N events per request)"
        )
    return lines


def _failure(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return f"connection error ({exc.__class__.__name__})"


def _ack_at_once(connection: http.client.HTTPConnection) -> None:
    """Acknowledge the answer's first segment at once (Linux). A WSGI server such as runserver
    writes the headers and the body in two sends with Nagle's algorithm on, so the body waits for
    the ACK of the headers, which the client delays by 40 ms on a kept-alive connection: without
    this, one connection manages about 20 requests a second instead of hundreds."""
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if quickack is not None and connection.sock is not None:
        try:
            connection.sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
        except OSError:
            pass


class HttpSender:
    """Sends batches of events to one ingest path over a kept-alive HTTP connection."""

    def __init__(self, base_url: str, path: str, *, timeout: float = 10.0):
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"--url must be an http:// or https:// URL, got {base_url!r}")
        if path not in PATHS:
            raise ValueError(f"unknown path {path!r}; choose one of {', '.join(PATHS)}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.method, self.target, self.expected = PATHS[path]
        self.path = path
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self._connection = kind(self.host, self.port, timeout=self.timeout)
        return self._connection

    def request_for(self, events: Sequence[Event]) -> tuple[str, bytes | None, dict[str, str]]:
        """The target URL, body and headers of one request carrying `events`."""
        headers = {"User-Agent": USER_AGENT}
        if self.path == "pixel":
            (event,) = events
            return f"{self.prefix}{self.target}?{urlencode(event)}", None, headers
        headers["Content-Type"] = "application/json"
        payload = events[0] if len(events) == 1 else list(events)
        return f"{self.prefix}{self.target}", json.dumps(payload).encode(), headers

    def send(self, events: Sequence[Event]) -> Outcome:
        target, body, headers = self.request_for(events)
        try:
            connection = self._connect()
            connection.request(self.method, target, body=body, headers=headers)
            _ack_at_once(connection)
            response = connection.getresponse()
            response.read()  # the whole answer, so the connection can be reused
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return Outcome(accepted=False, reason=_failure(exc))
        if response.will_close:
            self.close()
        if response.status == self.expected:
            return Outcome(accepted=True)
        return Outcome(accepted=False, reason=str(response.status))

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


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
