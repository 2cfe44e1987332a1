"""P5, freshness: a steady offered load through the to-be API, with probe events for ads of
their own; for each probe, the time from its 202 to the statistics API showing it."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

from bench.web_load import body, run_threads
from bench.web_server import Client

REQUEST_EVENTS = 100  # the load comes in requests of this many events
PROBES_PER_SECOND = 5
GIVE_UP_SECONDS = 60.0


@dataclass(frozen=True)
class Freshness:
    p50: float
    p99: float
    max: float
    probes: int
    offered_rate: float  # events/s actually accepted during the run


def measure(
    port: int, token: str, *, rate: int, seconds: float, accepted_ids: set[str]
) -> Freshness:
    """Offer `rate` events/s (REQUEST_EVENTS a request, two paced threads) for `seconds`,
    while probing; raise if a probe never shows up."""
    run = uuid.uuid4().hex[:6]
    lock = threading.Lock()
    accepted = [0]
    waiting: dict[str, float] = {}  # probe ad id -> when its 202 arrived
    seen: list[float] = []
    stop_at = time.monotonic() + seconds
    interval = 2 * REQUEST_EVENTS / rate  # two sender threads

    def send(offset: float) -> None:
        client, due = Client(port), time.monotonic() + offset
        while due < stop_at:
            time.sleep(max(due - time.monotonic(), 0))
            payload, ids = body(REQUEST_EVENTS, serial=int(due * 1000))
            if client.request("POST", "/api/impressions/", payload)[0] == 202:
                with lock:
                    accepted[0] += len(ids)
                    accepted_ids.update(ids)
            due += interval

    def probe() -> None:
        client, n = Client(port), 0
        while time.monotonic() < stop_at:
            ad = f"probe-{run}-{n}"
            payload, ids = body(1, ad=ad)
            if client.request("POST", "/api/impressions/", payload)[0] == 202:
                with lock:
                    waiting[ad] = time.monotonic()
                    accepted_ids.update(ids)
            n += 1
            time.sleep(1 / PROBES_PER_SECOND)

    def watch() -> None:
        client = Client(port, token)
        while time.monotonic() < stop_at + GIVE_UP_SECONDS:
            with lock:
                pending = dict(waiting)
            if not pending and time.monotonic() > stop_at + 1:
                return
            for ad, accepted_at in pending.items():
                status, data = client.request("GET", f"/api/stats/ads/{ad}/")
                if status == 200 and data and data.get("impressions"):
                    with lock:
                        seen.append(time.monotonic() - accepted_at)
                        del waiting[ad]
            time.sleep(0.005)

    began = time.monotonic()
    run_threads([lambda: send(0.0), lambda: send(interval / 2), probe, watch])
    if waiting:
        raise RuntimeError(f"{len(waiting)} probes never showed in the statistics API")
    ordered = sorted(seen)
    return Freshness(
        p50=ordered[len(ordered) // 2],
        p99=ordered[min(int(len(ordered) * 0.99), len(ordered) - 1)],
        max=ordered[-1],
        probes=len(ordered),
        offered_rate=accepted[0] / max(min(time.monotonic(), stop_at) - began, 1e-9),
    )
