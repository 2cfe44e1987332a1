"""Readiness of a web process (`GET /readyz`): a list of named checks, each bounded in time.

A check is a function that returns None when all is well and raises (any exception, its text
is the reason) when not. `READINESS_CHECKS` names them; one more check is one more line.

The checks run side by side in threads, and the answer comes within
READINESS_CHECK_TIMEOUT_SECONDS whatever they do: a check still running then has failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from stats.kafka_admin import end_offsets
from stats.selectors import open_breakers

Check = Callable[[], None]


def database_answers() -> None:
    """The default database answers `SELECT 1`."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()  # this thread's own connection; the thread ends after the check


def broker_answers() -> None:
    """The broker answers an end-offsets request for the impressions topic, which exists."""
    if not end_offsets(settings.IMPRESSIONS_TOPIC):
        raise RuntimeError(
            f"topic {settings.IMPRESSIONS_TOPIC} does not exist yet (runconsumer creates it)"
        )


def breakers_closed() -> None:
    """No consumer of the group holds a partition with its dead-letter breaker open."""
    try:
        reasons = open_breakers(
            consumer_group=settings.STATS_CONSUMER_GROUP, topic=settings.IMPRESSIONS_TOPIC
        )
    finally:
        connection.close()
    if reasons:
        raise RuntimeError("; ".join(reasons))


READINESS_CHECKS: list[tuple[str, Check]] = [
    ("database", database_answers),
    ("broker", broker_answers),
    ("dead_letter_breakers", breakers_closed),
]


@dataclass(frozen=True)
class Readiness:
    """Each check's verdict: "ok" or the reason it failed."""

    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(verdict == "ok" for verdict in self.checks.values())

    @property
    def failed(self) -> list[str]:
        return [name for name, verdict in self.checks.items() if verdict != "ok"]


def run_checks(checks: Sequence[tuple[str, Check]], *, timeout: float) -> Readiness:
    """Run every check at once; one not done within `timeout` seconds has failed."""
    pool = ThreadPoolExecutor(max_workers=max(len(checks), 1), thread_name_prefix="readyz")
    try:
        futures = {name: pool.submit(check) for name, check in checks}
        wait(futures.values(), timeout=timeout)
        verdicts = {}
        for name, future in futures.items():
            if not future.done():
                verdicts[name] = f"no answer within {timeout:g}s"
            elif (error := future.exception()) is not None:
                verdicts[name] = f"{error.__class__.__name__}: {error}"[:500]
            else:
                verdicts[name] = "ok"
        return Readiness(verdicts)
    finally:
        pool.shutdown(wait=False)  # a hung check ends on its own bound, off the request
