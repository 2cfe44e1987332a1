"""The ingest throttle holds per client across processes: its history is in the database.

The main cases start gunicorn with two workers on the test database (INGEST_THROTTLE_RATE
20/second) and send one client's requests over a new connection each, so that both workers serve
them (the access log names the worker of each request). Whatever worker answers, no 1-second
window holds more than 20 accepted requests; with a per-process store it would be 40. The
as-is API and the pixel share that one budget. The in-process cases check where the history
lives and that a database outage leaves a per-process limit instead of 500s.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connection
from rest_framework.test import APIClient

from impressions.models import Impression
from impressions.throttling import _PROCESS_CACHE
from tests.conftest import ROOT, database_url

RATE = 20  # per second
BODY = json.dumps({"ad_id": "ad-throttle", "user_id": "u-1"}).encode()


@dataclass
class Sent:
    path: str
    status: int
    started: float  # time.monotonic() before connecting
    answered: float  # after the answer was read


@dataclass
class Server:
    port: int
    access_log: Path

    def send(self, path: str) -> Sent:
        """One request on a fresh connection (no keep-alive), so any worker may take it."""
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            if path == "/i.gif":  # no parameters: 400 after the throttle, or 429
                conn.request("GET", path, headers={"Connection": "close"})
            else:
                conn.request(
                    "POST",
                    path,
                    body=BODY,
                    headers={"Content-Type": "application/json", "Connection": "close"},
                )
            response = conn.getresponse()
            response.read()
        finally:
            conn.close()
        return Sent(path, response.status, started, time.monotonic())

    def worker_pids(self) -> set[str]:
        """The worker pid of every request so far (access log format: `<pid> <status>`)."""
        time.sleep(0.2)  # the workers write their access log lines after answering
        lines = self.access_log.read_text().split("\n")
        return {line.split()[0] for line in lines if line.strip()}


def _booted_workers(error_log: Path) -> int:
    return error_log.read_text().count("Booting worker") if error_log.exists() else 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def gunicorn(transactional_db: None, tmp_path: Path) -> Iterator[Server]:
    """`gunicorn adsite.wsgi -w 2 --preload` (as the image runs it) on the test database.

    --preload: the app is imported before the fork, so both workers answer as soon as they boot.
    """
    port = _free_port()
    access_log = tmp_path / "access.log"
    error_log = tmp_path / "error.log"
    env = {
        **os.environ,  # SECRET_KEY from pytest.ini (pytest-env)
        "DEBUG": "0",
        "DATABASE_URL": database_url(),
        "INGEST_THROTTLE_RATE": f"{RATE}/second",
        "TRUSTED_PROXIES": "0",
    }
    command = [
        *(sys.executable, "-m", "gunicorn", "adsite.wsgi"),
        *("--workers", "2", "--preload", "--bind", f"127.0.0.1:{port}"),
        *("--access-logfile", str(access_log), "--access-logformat", "%(p)s %(s)s"),
        *("--error-logfile", str(error_log), "--no-control-socket"),
    ]
    proc = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while _booted_workers(error_log) < 2:
            assert proc.poll() is None, f"gunicorn exited: {error_log.read_text()}"
            assert time.monotonic() < deadline, "gunicorn did not boot two workers in 30 s"
            time.sleep(0.05)
        server = Server(port, access_log)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _assert_at_most_rate_per_second(accepted: list[Sent]) -> None:
    """No window of 1 s holds more than RATE accepted requests, whatever their order.

    The server decided each request between its `started` and its `answered`. So for any RATE + 1
    accepted requests that all started at or after request j started, the one answered last was
    decided within `answered - j.started` of request j's start: that must be at least 1 s, or the
    server accepted RATE + 1 within one second. (A correct server never fails this check.)
    """
    by_start = sorted(accepted, key=lambda s: s.started)
    for j, first in enumerate(by_start):
        answered = sorted(s.answered for s in by_start[j:])
        if len(answered) > RATE:
            span = answered[RATE] - first.started
            assert span >= 1.0, f"{RATE + 1} requests accepted within {span:.3f} s"


def test_one_client_gets_the_rate_across_two_workers(gunicorn: Server) -> None:
    paths = ["/api/impressions/sync/", "/api/impressions/sync/", "/i.gif"]
    started = time.monotonic()
    sent = [gunicorn.send(paths[i % len(paths)]) for i in range(100)]
    elapsed = time.monotonic() - started

    assert {s.status for s in sent} <= {201, 400, 429}, [s.status for s in sent]
    accepted = [s for s in sent if s.status != 429]  # the pixel's 400 came after the throttle
    pids = gunicorn.worker_pids()
    print(f"100 requests in {elapsed:.2f} s: {len(accepted)} accepted, workers {sorted(pids)}")
    assert len(pids) == 2, "both workers must have served requests for this to prove anything"
    assert len(accepted) >= RATE  # the first RATE within the first second all pass
    _assert_at_most_rate_per_second(accepted)
    if elapsed < 1.0:
        assert len(accepted) == RATE  # and certainly not 2 * RATE
    # The pixel and the as-is API draw on one budget: both got through, and both were refused.
    assert {s.path for s in accepted} == set(paths)
    assert {s.path for s in sent if s.status == 429} == set(paths)
    assert Impression.objects.count() == sum(s.status == 201 for s in sent)


def test_concurrent_requests_of_one_client_do_not_slip_through(gunicorn: Server) -> None:
    """Four connections at once: the per-client lock keeps the count exact across workers."""
    sent: list[Sent] = []
    lock = threading.Lock()

    def client() -> None:
        for _ in range(30):
            result = gunicorn.send("/api/impressions/sync/")
            with lock:
                sent.append(result)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(sent) == 120
    assert len(gunicorn.worker_pids()) == 2
    accepted = [s for s in sent if s.status == 201]
    assert {s.status for s in sent} <= {201, 429}
    assert len(accepted) >= RATE
    _assert_at_most_rate_per_second(accepted)
    assert Impression.objects.count() == len(accepted)


@pytest.mark.django_db
def test_the_history_is_a_row_of_the_database_cache_table(
    api_client: APIClient, settings: Any
) -> None:
    settings.INGEST_THROTTLE_RATE = "5/minute"
    caches["default"].clear()
    response = api_client.post(
        "/api/impressions/sync/", {"ad_id": "a", "user_id": "u"}, format="json"
    )
    assert response.status_code == 201
    with connection.cursor() as cursor:
        cursor.execute("SELECT cache_key FROM django_cache")
        keys = [row[0] for row in cursor.fetchall()]
    assert any(key.endswith("throttle_ingest_127.0.0.1") for key in keys), keys


@pytest.mark.django_db
def test_without_the_database_the_throttle_limits_per_process(
    api_client: APIClient, settings: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """A database outage must not turn the (broker-only) to-be path into 500s."""
    settings.INGEST_THROTTLE_RATE = "2/minute"
    _PROCESS_CACHE.clear()
    monkeypatch.setattr(caches["default"], "_table", "no_such_cache_table")  # every query fails
    with caplog.at_level(logging.WARNING, logger="impressions.throttling"):
        codes = [
            api_client.post(
                "/api/impressions/sync/", {"ad_id": "a", "user_id": "u"}, format="json"
            ).status_code
            for _ in range(3)
        ]
    _PROCESS_CACHE.clear()
    assert codes == [201, 201, 429]
    assert "limiting per process" in caplog.text
