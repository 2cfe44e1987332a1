"""A deliberate database stall for the migration demo: writes to the raw impressions table wait.

`stall_start(seconds=N)` (5 <= N <= 30) makes a background thread of this process hold, on its
own database connection, a transaction that blocks every write to `Impression`'s table:
PostgreSQL `LOCK TABLE ... IN SHARE MODE` (reads go on; the as-is INSERT and the consumer's
batch wait), SQLite a held write transaction (`BEGIN IMMEDIATE`: every writer waits). Reads of
the table go on, so the page keeps drawing.

Release is automatic, whoever forgets what:
- the thread ends the transaction at its deadline (it only sleeps in between);
- PostgreSQL itself ends the session `RELEASE_MARGIN_SECONDS` after the deadline
  (`idle_in_transaction_session_timeout`), even if the thread were stuck;
- the lock belongs to the thread's connection: if the process dies (server restart, Ctrl+C),
  the connection closes and the database drops the lock with it.

At most one stall at a time, across all processes of this host on this database: the holder
keeps an exclusive `flock` on a file named after the database (the kernel drops it with the
process). `stall_status()` reads it without waiting.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.db import DatabaseError, connection, transaction

from impressions.models import Impression

logger = logging.getLogger(__name__)

MIN_STALL_SECONDS = 5
MAX_STALL_SECONDS = 30
RELEASE_MARGIN_SECONDS = 3
# How long stall_start waits for the lock holder to hold the table (the consumer's batch in
# flight, or an as-is INSERT, finishes first).
ACQUIRE_TIMEOUT_SECONDS = 10.0


class StallRefused(Exception):
    """The stall was not started: the reason is the message (a person reads it)."""


@dataclass(frozen=True)
class StallStatus:
    active: bool
    until: float | None = None  # time.time() of the release, when active

    @property
    def seconds_left(self) -> float:
        return max(0.0, (self.until or 0.0) - time.time()) if self.active else 0.0


def lock_file_path() -> Path:
    """The file whose flock marks "a stall is running", one per database (name, host, port)."""
    cfg = connection.settings_dict
    identity = f"{connection.vendor}:{cfg['HOST']}:{cfg['PORT']}:{cfg['NAME']}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"adstats-db-stall-{digest}.lock"


def stall_status() -> StallStatus:
    """Whether a stall holds the table now, and until when (never waits)."""
    path = lock_file_path()
    try:
        handle = open(path, "a+")  # noqa: SIM115 - closed below; "a+" creates, never truncates
    except OSError:
        return StallStatus(active=False)
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read().strip()
            return StallStatus(active=True, until=float(text) if text else None)
        fcntl.flock(handle, fcntl.LOCK_UN)
    return StallStatus(active=False)


def stall_start(*, seconds: int) -> StallStatus:
    """Stall writes to the raw impressions table for `seconds`; return once the table is held.

    Raises StallRefused when `seconds` is outside 5..30, another stall is running, or the
    table could not be locked within ACQUIRE_TIMEOUT_SECONDS.
    """
    if not MIN_STALL_SECONDS <= seconds <= MAX_STALL_SECONDS:
        raise StallRefused(
            f"a stall lasts {MIN_STALL_SECONDS} to {MAX_STALL_SECONDS} seconds, not {seconds}"
        )
    handle = open(lock_file_path(), "a+")  # noqa: SIM115 - the holder thread closes it
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        status = stall_status()
        left = f" ({status.seconds_left:.0f} s left)" if status.active else ""
        raise StallRefused(f"a stall is already running{left}; one at a time") from None
    held = threading.Event()
    failure: list[str] = []
    holder = threading.Thread(
        target=_hold,
        args=(handle, seconds, held, failure),
        name=f"db-stall-{seconds}s",
        daemon=True,  # a stopping server does not wait: its exit releases the lock anyway
    )
    holder.start()
    if not held.wait(ACQUIRE_TIMEOUT_SECONDS + 2) or failure:
        raise StallRefused(failure[0] if failure else "the table could not be locked in time")
    return stall_status()


def _hold(handle: IO[str], seconds: int, held: threading.Event, failure: list[str]) -> None:
    """The holder thread: lock the table on this thread's own connection, sleep, release."""
    table = connection.ops.quote_name(Impression._meta.db_table)
    try:
        with transaction.atomic():  # SQLite: BEGIN IMMEDIATE (settings), the write lock
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    limit_ms = (seconds + RELEASE_MARGIN_SECONDS) * 1000
                    cursor.execute(f"SET LOCAL idle_in_transaction_session_timeout = {limit_ms}")
                    acquire_ms = int(ACQUIRE_TIMEOUT_SECONDS * 1000)
                    cursor.execute(f"SET LOCAL lock_timeout = {acquire_ms}")
                    cursor.execute("SET LOCAL statement_timeout = 0")
                    cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")
            else:
                with connection.cursor() as cursor:  # make sure BEGIN IMMEDIATE has run
                    cursor.execute(f"SELECT 1 FROM {table} LIMIT 1")
            until = time.time() + seconds
            handle.seek(0)
            handle.truncate()
            handle.write(f"{until:.3f}")
            handle.flush()
            held.set()
            logger.warning("database stall: writes to %s wait for %d s", table, seconds)
            while (left := until - time.time()) > 0:
                time.sleep(min(left, 0.5))
    except DatabaseError as exc:
        failure.append(f"could not lock the table: {exc}")
        held.set()
    finally:
        connection.close()
        handle.seek(0)
        handle.truncate()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
        logger.warning("database stall: released %s", table)
