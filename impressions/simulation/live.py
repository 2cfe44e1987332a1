"""Steady simulated traffic on both ingest paths at once, in the web process (the migration demo).

`traffic_start(base_url=..., rate=N)` sends N events/s to each path (as-is and to-be) until
`traffic_stop()` or MAX_TRAFFIC_SECONDS, with the `simulate` machinery: per path N simulated
users, each a `Simulation` of one event per second over its own kept-alive connection (as a
browser would), in background threads, their starts spread over the first second. Users, not one
connection: a stalled database then holds every user's request, as it would in production, where
a single sequential client would have only one request waiting and p99 would not show it. Every
request
is timed as the client sees it (`latency.Sample`), so `traffic_snapshot()` can tell each path's
rate, p50/p99 and errors over the last minute. Each run uses its own ad ids
(`mig-<run>-as-is-1` ...), so what the statistics counted per path is the sum over that path's
ads. Every second one accepted to-be event is kept as a probe: how long until the consumer
recorded it (`probe_visibility`) is the time-to-visible.

State lives in this process: the page that starts the traffic must be served by the same
process that shows it (`make run`'s single runserver; see README).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from impressions.simulation import EventSource, HttpSender, Outcome, Simulation, Tally
from impressions.simulation.latency import Sample, figures
from impressions.simulation.probes import Probe
from impressions.simulation.traffic import Event

# Events/s per path (= simulated users per path). Both paths come from one address, so the sum,
# with the catch-up after a stall (one event per user), stays under INGEST_THROTTLE_RATE's 100/s.
RATES = (5, 10, 20)
MAX_TRAFFIC_SECONDS = 600
ADS_PER_PATH = 4
PROBE_EVERY_SECONDS = 1.0
# Above MAX_STALL_SECONDS: a request held by a stall comes back, it is not abandoned (an
# abandoned as-is request would still be written, and the client would count it as refused).
REQUEST_TIMEOUT_SECONDS = 45.0
LIVE_PATHS = ("as-is", "to-be")


class _Stopped(Exception):
    """Raised inside a simulation's sleep to end its run early."""


@dataclass
class PathRun:
    path: str
    ads: list[str]
    tallies: list[Tally] = field(default_factory=list)  # one per user (thread)
    samples: deque[Sample] = field(default_factory=lambda: deque(maxlen=20 * 60 * 2))

    @property
    def accepted(self) -> int:
        return sum(t.accepted for t in list(self.tallies))

    @property
    def sent(self) -> int:
        return sum(t.sent for t in list(self.tallies))

    def refused(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for tally in list(self.tallies):
            total.update(tally.refused)
        return dict(total)


@dataclass
class TrafficRun:
    run_id: str
    rate: int
    started: float
    ends_at: float
    paths: dict[str, PathRun]
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    probes: deque[Probe] = field(default_factory=lambda: deque(maxlen=120))

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self.threads)


_lock = threading.Lock()
_current: TrafficRun | None = None


class _RunSource(EventSource):
    """The simulation's events, with this run's own ad ids."""

    def __init__(self, ads: list[str]):
        super().__init__(ads=len(ads), users=500, skew=1.1)
        self.ads = ads


def _timed_send(run: TrafficRun, lane: PathRun, sender: HttpSender) -> Any:
    def send(events: Sequence[Event]) -> Outcome:
        if run.stop.is_set():
            raise _Stopped
        sample = Sample(started=time.time())
        lane.samples.append(sample)
        outcome = sender.send(events)
        sample.seconds = time.time() - sample.started
        sample.reason = None if outcome.accepted else outcome.reason
        if lane.path == "to-be" and outcome.accepted:
            last = run.probes[-1].sent_at if run.probes else 0.0
            if sample.started - last >= PROBE_EVERY_SECONDS:
                run.probes.append(Probe(events[-1]["event_id"], sent_at=sample.started))
        return outcome

    return send


def _drive(run: TrafficRun, lane: PathRun, base_url: str, delay: float) -> None:
    """One simulated user: one event per second on its own connection, from `delay` on."""
    sender = HttpSender(base_url, lane.path, timeout=REQUEST_TIMEOUT_SECONDS)

    def sleep(seconds: float) -> None:
        if run.stop.wait(seconds):
            raise _Stopped

    tally = Tally()
    lane.tallies.append(tally)
    try:
        sleep(delay)
        simulation = Simulation(
            send=_timed_send(run, lane, sender),
            source=_RunSource(lane.ads),
            rate=1.0,
            duration=run.ends_at - time.monotonic(),
            sleep=sleep,
        )
        simulation.tally = tally
        simulation.run(progress=lambda tally, elapsed: None, every=3600)
    except _Stopped:
        pass
    finally:
        sender.close()


def traffic_start(*, base_url: str, rate: int) -> TrafficRun:
    """Start both paths at `rate` events/s each (a run already going is stopped first)."""
    if rate not in RATES:
        raise ValueError(f"rate must be one of {', '.join(map(str, RATES))} events/s")
    global _current
    traffic_stop()
    run_id = uuid.uuid4().hex[:6]
    run = TrafficRun(
        run_id=run_id,
        rate=rate,
        started=time.time(),
        ends_at=time.monotonic() + MAX_TRAFFIC_SECONDS,
        paths={
            path: PathRun(path, [f"mig-{run_id}-{path}-{i}" for i in range(1, ADS_PER_PATH + 1)])
            for path in LIVE_PATHS
        },
    )
    for lane in run.paths.values():
        for user in range(rate):
            thread = threading.Thread(
                target=_drive,
                args=(run, lane, base_url, user / rate),
                name=f"traffic-{lane.path}-{user}",
                daemon=True,
            )
            run.threads.append(thread)
    with _lock:
        _current = run
    for thread in run.threads:
        thread.start()
    return run


def traffic_stop(*, wait: float = 0.0) -> None:
    """Stop the current run: no new requests; those in flight finish in their threads (waited
    for up to `wait` seconds). The run stays `running` until they have."""
    with _lock:
        run = _current
    if run is None:
        return
    run.stop.set()
    for thread in run.threads:
        thread.join(wait)


def current_run() -> TrafficRun | None:
    """The running or last run of this process (kept after it stops, for its totals)."""
    with _lock:
        return _current


def path_figures(run: TrafficRun, *, now: float) -> dict[str, Any]:
    """Per path: the last minute's figures plus the run's totals as the client counted them."""
    result = {}
    for path, lane in run.paths.items():
        shown = figures(list(lane.samples), now=now)
        result[path] = {
            **asdict(shown),
            "sent": lane.sent,
            "accepted": lane.accepted,
            "refused": lane.refused(),
            "ads": lane.ads,
        }
    return result
