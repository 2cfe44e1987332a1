"""The statement timeout of web requests on PostgreSQL, and its 503.

A read whose client gave up must not keep running in PostgreSQL (issue 11: one ran for 45
minutes). The web entry point (`adsite/wsgi.py`, which gunicorn and runserver load) calls
`limit_statements_in_this_process()`: from then on every new database connection of the
process starts with `SET statement_timeout` (DB_STATEMENT_TIMEOUT_MS), so PostgreSQL itself
cancels a statement that runs longer, whatever the client does. Nothing else calls it, so
`runconsumer` and the management commands (bulk writes, rebuilds) keep no limit. A statement
that sets its own `SET LOCAL statement_timeout` (the ingest throttle) overrides it for its
transaction.

The middleware turns the cancellation (SQLSTATE 57014, query_canceled) into a 503 with
Retry-After: JSON under /api/, plain text elsewhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.utils import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from adsite.metrics import STATEMENT_TIMEOUTS

logger = logging.getLogger(__name__)

QUERY_CANCELED = "57014"
RETRY_AFTER_SECONDS = 5


def limit_statements_in_this_process() -> None:
    """Give every database connection this process opens from now on the statement timeout.

    Call it only from the web entry point, before the first request.
    """
    connection_created.connect(_set_statement_timeout, dispatch_uid="adsite.statement_timeout")


def _set_statement_timeout(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    timeout_ms = settings.DB_STATEMENT_TIMEOUT_MS
    if connection.vendor != "postgresql" or timeout_ms <= 0:
        return
    with connection.cursor() as cursor:  # session-wide: the connection serves this process only
        cursor.execute("SET statement_timeout = %s", [timeout_ms])


def is_statement_timeout(exc: BaseException) -> bool:
    """True for the error PostgreSQL raises when it cancelled a statement (query_canceled)."""
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    return getattr(cause, "pgcode", None) == QUERY_CANCELED or (
        getattr(cause, "sqlstate", None) == QUERY_CANCELED
    )


class StatementTimeoutMiddleware:
    """503 (not 500) for a request whose statement PostgreSQL cancelled."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_statement_timeout(exception):
            return None
        STATEMENT_TIMEOUTS.inc()
        logger.warning(
            "%s %s: the database cancelled a statement after %d ms",
            request.method, request.path[:200], settings.DB_STATEMENT_TIMEOUT_MS,
        )  # fmt: skip
        detail = (
            f"the database did not answer within {settings.DB_STATEMENT_TIMEOUT_MS} ms; "
            "try again later or ask for a shorter range"
        )
        response: HttpResponse
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": detail}, status=503)
        else:
            response = HttpResponse(
                detail + "\n", status=503, content_type="text/plain; charset=utf-8"
            )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
