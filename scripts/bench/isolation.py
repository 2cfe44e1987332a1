"""P6, isolation: both ingest paths' p99 while another session holds a lock on the raw
impressions table for a few seconds, each divided by its own p99 without the lock."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from bench.web_load import Outcome, drive, run_threads

PATHS = ("/api/impressions/", "/api/impressions/sync/")


@dataclass(frozen=True)
class Isolation:
    unloaded_p99: dict[str, float]
    locked_p99: dict[str, float]
    failed_while_locked: dict[str, int]


def both_paths(port: int, seconds: float, accepted_ids: set[str]) -> dict[str, Outcome]:
    """Two client threads on each path at once for `seconds`, one event per request."""
    results: dict[str, Outcome] = {}

    def one(path: str) -> None:
        results[path] = drive(
            port, path, events_per_request=1, threads=2, seconds=seconds, accepted_ids=accepted_ids
        )

    run_threads([lambda p=p: one(p) for p in PATHS])  # type: ignore[misc]
    return results


def measure(port: int, *, hold: float, accepted_ids: set[str]) -> Isolation:
    """Unloaded first; then the lock (ACCESS EXCLUSIVE on the raw table) for `hold` seconds
    while both paths run; only requests started while it was held count."""
    from django.db import connections

    from impressions.models import Impression

    unloaded = both_paths(port, 4.0, accepted_ids)
    window: list[float] = []

    def hold_lock() -> None:
        connection = connections.create_connection("default")
        try:
            with connection.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute(f"LOCK TABLE {Impression._meta.db_table} IN ACCESS EXCLUSIVE MODE")
                window.append(time.monotonic())
                time.sleep(hold)
                window.append(time.monotonic())
                cursor.execute("ROLLBACK")
        finally:
            connection.close()

    locker = threading.Thread(target=hold_lock)
    locker.start()
    while not window:
        time.sleep(0.01)
    locked = both_paths(port, hold, accepted_ids)
    locker.join()
    since, until = window
    return Isolation(
        unloaded_p99={p: o.p(0.99) for p, o in unloaded.items()},
        locked_p99={p: o.p(0.99, since=since, until=until) for p, o in locked.items()},
        failed_while_locked={p: o.failed for p, o in locked.items()},
    )
