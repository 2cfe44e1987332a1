"""A stalled database cannot hold an ingest request in the throttle past a fraction of a second
(PostgreSQL: make test's first pass; the SQLite pass does not run this file)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connections
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_locked_cache_table_falls_back_instead_of_waiting(settings: Any) -> None:
    assert connections["default"].vendor == "postgresql", "this test needs PostgreSQL"
    settings.INGEST_THROTTLE_RATE = "100/second"
    locked, release = threading.Event(), threading.Event()

    def hold_the_cache_table() -> None:
        with connections["default"].cursor() as cursor:  # this thread's own connection
            cursor.execute("BEGIN")
            cursor.execute("LOCK TABLE django_cache IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(30)
            cursor.execute("ROLLBACK")
        connections["default"].close()

    holder = threading.Thread(target=hold_the_cache_table)
    holder.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        response = APIClient().post(
            "/api/impressions/sync/", {"ad_id": "ad-1", "user_id": "u"}, format="json"
        )
        waited = time.monotonic() - started
    finally:
        release.set()
        holder.join()
    assert response.status_code == 201, response.content
    assert waited < 3, f"the request waited {waited:.1f}s on the locked cache table"
