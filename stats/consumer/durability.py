"""The consumer's database session: its `synchronous_commit`, and noticing that it was replaced.

With `CONSUMER_SYNCHRONOUS_COMMIT=off` a commit returns before its WAL is on disk, so a server
crash can forget the last batches the consumer saw committed: their rows, counters and ledger
offsets alike (one transaction). Nothing is counted twice or half, but the consumer's positions
in memory are then ahead of the ledger, and moving on from them would skip those batches. A
crash always ends the session, so `SessionGuard` compares each recording's session with the
one of the last commit it vouched for and, when it changed, first calls `on_replaced` (the
consumer's `Positions.forget_seeks`), then raises `SessionReplaced` instead of writing: every
partition is sought to the ledger again, as on assignment, and the forgotten batches are
replayed. Calling back before raising matters: a caller that swallows the error (the progress
marks) must not leave positions behind that a later write would store as offsets. With
synchronous commit on, a committed batch survives a crash, and a replaced session needs
nothing (the guard stays silent).

The guard relies on seeing the server's sessions: a pooler in transaction mode (pgbouncer)
would hide a restart behind one client connection; use session pooling or none with "off".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import OperationalError, connection

T = TypeVar("T")
logger = logging.getLogger(__name__)


class SessionReplaced(OperationalError):
    """The database session changed since the last commit with asynchronous commit: the ledger
    may be behind the positions in memory. Nothing was written; seek to the ledger again."""


class SessionGuard:
    """Sets `synchronous_commit` on each new session of this thread's connection (PostgreSQL),
    and raises `SessionReplaced` (once per new session) when commits could have been lost."""

    def __init__(
        self,
        synchronous_commit: str | None = None,
        on_replaced: Callable[[], None] | None = None,
    ) -> None:
        self.synchronous_commit = synchronous_commit or settings.CONSUMER_SYNCHRONOUS_COMMIT
        self.on_replaced = on_replaced  # called before SessionReplaced is raised
        self._session: Any = None  # the DB-API connection of the last vouched-for commit

    @property
    def asynchronous(self) -> bool:
        return self.synchronous_commit == "off" and connection.vendor == "postgresql"

    def run(self, write: Callable[[], T]) -> T:
        """Run `write` (one committed transaction, or the ledger read that positions come
        from) on the current session, once it is known that no commit can have been lost
        since the previous call."""
        if connection.vendor != "postgresql":
            return write()
        connection.close_if_health_check_failed()  # replace a dead session now, not mid-write
        connection.ensure_connection()
        session = connection.connection
        if session is not self._session:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('synchronous_commit', %s, false)", [self.synchronous_commit]
                )
            replaced, self._session = self._session is not None, session
            if replaced and self.asynchronous:
                logger.warning(
                    "the database session was replaced: commits made with synchronous_commit"
                    " off may have been lost; seeking every partition to the ledger again"
                )
                if self.on_replaced is not None:
                    self.on_replaced()
                raise SessionReplaced("database session replaced; re-reading the ledger")
        return write()
