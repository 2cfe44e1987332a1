"""The web's statement timeout on PostgreSQL (DB_STATEMENT_TIMEOUT_MS): a read held up in the
database is cancelled there and answered 503; runconsumer and management commands keep none.

A read is held up the way a slow one would be: another connection locks the statistics tables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from django.db import connection
from kafka import KafkaProducer
from rest_framework.authtoken.models import Token

from tests.conftest import ROOT, database_url
from tests.stats.topic_data import counted_per_ad, produce_events, wait_for
from tests.web_server import fetch, gunicorn

STATS_TABLES = "stats_adminutecount, stats_adhourcount, stats_addaycount, stats_addailyreach"
TIMEOUT_MS = 500


@pytest.fixture(autouse=True)
def _postgresql_only(db: None) -> None:
    assert connection.vendor == "postgresql", "the statement timeout is PostgreSQL's"


def _connect() -> Any:
    cfg = connection.settings_dict
    return psycopg2.connect(
        dbname=cfg["NAME"], user=cfg["USER"], password=cfg["PASSWORD"],
        host=cfg["HOST"], port=cfg["PORT"],
    )  # fmt: skip


@contextmanager
def stats_tables_locked() -> Iterator[Any]:
    """Another session holds an exclusive lock on the statistics tables until the block ends."""
    locker = _connect()
    try:
        with locker.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {STATS_TABLES} IN ACCESS EXCLUSIVE MODE")
        yield locker
    finally:
        locker.rollback()
        locker.close()


def waiting_on_locks(locker: Any) -> list[str]:
    """Statements of other sessions of this database that wait for a lock now."""
    with locker.cursor() as cursor:
        # pg_stat_activity is read once per transaction, and the locker's stays open.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_a_read_held_up_in_the_database_is_cancelled_there_and_answered_503(
    staff_user: Any, tmp_path: Path
) -> None:
    token = Token.objects.create(user=staff_user).key
    auth = {"Authorization": f"Token {token}"}
    with gunicorn(tmp_path, workers=1, DB_STATEMENT_TIMEOUT_MS=str(TIMEOUT_MS)) as server:
        assert fetch(server.port, "GET", "/api/stats/ads/", auth).status == 200
        with stats_tables_locked() as locker:
            answer = fetch(server.port, "GET", "/api/stats/ads/", auth)
            print(f"answered {answer.status} after {answer.seconds:.2f}s")
            assert answer.status == 503, answer.body
            assert answer.seconds < TIMEOUT_MS / 1000 + 1.5
            assert answer.headers["retry-after"] == "5"
            assert f"within {TIMEOUT_MS} ms" in json.loads(answer.body)["detail"]
            # PostgreSQL itself stopped the statement: nothing waits for the lock any more.
            assert waiting_on_locks(locker) == []
        # The same process answers normally once the tables are free.
        assert fetch(server.port, "GET", "/api/stats/ads/", auth).status == 200
        metrics = fetch(server.port, "GET", "/metrics").body.decode()
        assert "adstats_statement_timeouts_total 1.0" in metrics


def _show_statement_timeout(env: dict[str, str]) -> str:
    code = (
        "from django.db import connection\n"
        "with connection.cursor() as c:\n"
        "    c.execute('SHOW statement_timeout'); print(c.fetchone()[0])"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]  # after the shell's own banner


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_runconsumer_and_commands_are_not_subject_to_it(
    raw_producer: KafkaProducer,
    topic: str,
    consumer_process: Callable[..., subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_MS", "200")
    env = {**os.environ, "DATABASE_URL": database_url()}
    assert _show_statement_timeout(env) == "0"  # a management command: no limit

    expected = produce_events(raw_producer, topic, 60)
    log = tmp_path / "consumer.log"
    with stats_tables_locked() as locker:
        proc = consumer_process("--exit-when-idle", "2", "--progress-interval", "1", log=log)
        wait_for(lambda: bool(waiting_on_locks(locker)), "the consumer to block", proc=proc)
        time.sleep(1.5)  # far past the web's 200 ms
        assert proc.poll() is None
    assert proc.wait(timeout=60) == 0, log.read_text()
    assert counted_per_ad() == dict(expected)
    output = log.read_text()
    assert "statement timeout" not in output and "failed" not in output, output


def test_the_web_entry_point_sets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """What gunicorn and runserver load (adsite.wsgi) gives its connections the timeout."""
    code = (
        "import adsite.wsgi\n"
        "from django.db import connection\n"
        "with connection.cursor() as c:\n"
        "    c.execute('SHOW statement_timeout'); print(c.fetchone()[0])"
    )
    env = {**os.environ, "DATABASE_URL": database_url()}
    env["DB_STATEMENT_TIMEOUT_MS"] = "1234"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        check=True, timeout=60,
    )  # fmt: skip
    assert out.stdout.strip() == "1234ms"
