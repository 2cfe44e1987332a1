"""Client threads against the benchmark's gunicorn: a fixed number of requests, or requests
for a while; each answer's latency kept, and the ids of every accepted event (to check later
that each was counted once)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.web_server import Client

ACCEPTED = {"/api/impressions/": 202, "/api/impressions/sync/": 201, "/bench/noop/": 202}


def body(events: int, *, ad: str | None = None, serial: int = 0) -> tuple[bytes, list[str]]:
    """A JSON array of `events` events (server time) and their ids."""
    ids = [str(uuid.uuid4()) for _ in range(events)]
    items = [
        {"event_id": i, "ad_id": ad or f"web-{(serial + n) % 500}", "user_id": f"u-{n % 977}"}
        for n, i in enumerate(ids)
    ]
    return json.dumps(items).encode(), ids


@dataclass
class Outcome:
    """What a set of requests to one path did."""

    latencies: list[float] = field(default_factory=list)  # seconds, every request
    started: list[float] = field(default_factory=list)  # monotonic start of each
    events: int = 0  # accepted events
    failed: int = 0
    seconds: float = 0.0  # wall time of the whole set
    lock: threading.Lock = field(default_factory=threading.Lock)

    def p(self, q: float, *, since: float = 0.0, until: float = float("inf")) -> float:
        chosen = sorted(
            lat for s, lat in zip(self.started, self.latencies, strict=True) if since <= s < until
        )
        return chosen[min(int(len(chosen) * q), len(chosen) - 1)] if chosen else float("nan")

    def rate(self) -> float:
        return self.events / max(self.seconds, 1e-9)

    def requests_rate(self) -> float:
        return len(self.latencies) / max(self.seconds, 1e-9)


def drive(
    port: int,
    path: str,
    *,
    events_per_request: int,
    threads: int,
    accepted_ids: set[str],
    requests: int | None = None,
    seconds: float | None = None,
) -> Outcome:
    """`requests` requests in all, or as many as fit in `seconds`, from `threads` threads."""
    outcome = Outcome()
    left = [requests if requests is not None else 1 << 62]
    stop_at = time.monotonic() + (seconds if seconds is not None else 1e9)

    def take() -> bool:
        with outcome.lock:
            left[0] -= 1
            return left[0] >= 0 and time.monotonic() < stop_at

    def work(serial: int) -> None:
        client = Client(port)
        while take():
            payload, ids = body(events_per_request, serial=serial)
            started = time.monotonic()
            status, _ = client.request("POST", path, payload)
            took = time.monotonic() - started
            with outcome.lock:
                outcome.latencies.append(took)  # failures too: a timeout is a latency
                outcome.started.append(started)
                if status == ACCEPTED[path]:
                    outcome.events += len(ids)
                    if path != "/bench/noop/":
                        accepted_ids.update(ids)
                else:
                    outcome.failed += 1

    began = time.monotonic()
    run_threads([lambda s=s: work(s) for s in range(threads)])  # type: ignore[misc]
    outcome.seconds = time.monotonic() - began
    return outcome


def run_threads(targets: list[Callable[[], None]]) -> None:
    workers = [threading.Thread(target=t, daemon=True) for t in targets]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
