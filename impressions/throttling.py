"""Rate limits: the ingest throttle (INGEST_THROTTLE_RATE, empty = off), the login throttle glue.

The ingest throttle keeps each client's history in the default cache, a table in the database
(settings.CACHES), so all web processes share it. DRF's SimpleRateThrottle reads the history,
decides and writes it back; two processes doing that at once for one client could both count
against the same old history and let one more request through. `allow_request` therefore runs
that read-decide-write under a per-client lock held until its transaction ends: a PostgreSQL
advisory lock, or SQLite's write lock (settings open SQLite transactions IMMEDIATE). If the
database cannot be reached, the throttle counts in the process's memory meanwhile (and logs it).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle
from rest_framework.views import APIView

logger = logging.getLogger(__name__)

# Where the ingest throttle counts while the database is unavailable (per process), and how often
# it says so in the log.
_PROCESS_CACHE = LocMemCache("ingest-throttle-fallback", {})
_FALLBACK_WARNING_INTERVAL_SECONDS = 60.0
_last_fallback_warning = -_FALLBACK_WARNING_INTERVAL_SECONDS

# The first key of this module's PostgreSQL advisory locks (the second: the client's key hashed),
# so that they cannot meet another user's one-key locks.
_ADVISORY_LOCK_CLASS = 0x7468726F  # "thro"


# How long the throttle's statements may wait on PostgreSQL before it falls back.
THROTTLE_DATABASE_TIMEOUT_MS = 500


def _lock_id(key: str) -> int:
    """`key` as a signed 32-bit integer, the second key of a two-key advisory lock."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), signed=True)


def client_address(request: HttpRequest) -> str | None:
    """The client address the ingest throttle uses: X-Forwarded-For trusted for TRUSTED_PROXIES.

    django-axes reads the login client's address through this (AXES_CLIENT_IP_CALLABLE), so both
    throttles see one address per client. An entry that is not an IP address (a misconfigured
    proxy) falls back to the connection's address.
    """
    ident = BaseThrottle().get_ident(request)  # type: ignore[arg-type]
    try:
        return str(ipaddress.ip_address(ident))
    except ValueError:
        return request.META.get("REMOTE_ADDR")


class IngestRateThrottle(SimpleRateThrottle):
    scope = "ingest"
    duration: int  # set by SimpleRateThrottle from the rate (not in its stubs)

    def get_rate(self) -> str | None:
        return settings.INGEST_THROTTLE_RATE

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def allow_request(self, request: Request, view: APIView) -> bool:
        if self.rate is None:
            return True
        try:
            with _sqlite_busy_timeout(THROTTLE_DATABASE_TIMEOUT_MS), transaction.atomic():
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        # A stalled database must not hold the request: after this long the
                        # statement fails and the per-process fallback below decides instead
                        # (else the to-be path would wait past its publish bound, and a 504
                        # would be followed by a late 202).
                        cursor.execute(
                            "SET LOCAL statement_timeout = %s",
                            [f"{THROTTLE_DATABASE_TIMEOUT_MS}ms"],
                        )
                        cursor.execute(
                            "SELECT pg_advisory_xact_lock(%s, %s)",
                            [_ADVISORY_LOCK_CLASS, _lock_id(self.get_cache_key(request, view))],
                        )
                return super().allow_request(request, view)
        except DatabaseError as exc:
            # The to-be path needs only the broker: a database outage must not turn it into 500s.
            # Until the database is back, each process limits with its own memory.
            _warn_fallback(exc)
            self.cache = _PROCESS_CACHE
            return super().allow_request(request, view)

    def throttle_success(self) -> bool:
        """As DRF's, but the history outlives the period by a second.

        The database cache keeps expiry times in whole seconds (rounded down), so with DRF's
        timeout of exactly the period a history of "20/second" would vanish at the next full
        second, and the client would start afresh. The history's own timestamps still decide.
        """
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration + 1)
        return True


@contextmanager
def _sqlite_busy_timeout(ms: int) -> Iterator[None]:
    """On SQLite, wait at most `ms` for the write lock (BEGIN IMMEDIATE) meanwhile, as
    PostgreSQL's statement timeout above does: a held write transaction (a long batch, the
    migration demo's stall) must not hold the to-be path. Elsewhere a no-op."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        (previous,) = cursor.fetchone()
        cursor.execute(f"PRAGMA busy_timeout = {int(ms)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {int(previous)}")


def _warn_fallback(exc: Exception) -> None:
    global _last_fallback_warning
    now = time.monotonic()
    if now - _last_fallback_warning >= _FALLBACK_WARNING_INTERVAL_SECONDS:
        _last_fallback_warning = now
        logger.warning(
            "ingest throttle: its database cache is unavailable (%s: %s); limiting per process "
            "until it is back",
            exc.__class__.__name__,
            exc,
        )


def login_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The username a login attempt names, at most 150 characters (AXES_USERNAME_CALLABLE)."""
    name = (credentials or {}).get("username")
    if name is None and request is not None:
        name = request.POST.get("username", "")
    return str(name or "")[:150]


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' check before the password check, for logins that come with a request.

    A login without a request (the test client's `login()`, code in a shell) has no client to
    throttle, so it passes on to the next backend instead of failing as Axes' own backend does.
    """

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is not None:
            super().authenticate(request, *args, **kwargs)  # raises while the pair is locked out
        return None
