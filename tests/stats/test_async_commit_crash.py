"""`CONSUMER_SYNCHRONOUS_COMMIT=off` keeps exactly-once through a PostgreSQL crash.

The crash test runs its own PostgreSQL server (initdb into a temporary directory, a free port),
never the shared one, so that `pg_ctl stop -m immediate` harms nobody else. The server keeps
asynchronous commits in memory for up to 10 s (`wal_writer_delay`), so killing it right after
the consumer's last commit forgets that commit for certain: the test checks that it did, and
that the consumer replayed what was forgotten, and it kills the server once more mid-run.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from django.conf import settings
from django.db import connection
from kafka import KafkaProducer

from impressions.models import Impression
from stats.consumer.build import DatabaseRecorder
from stats.models import (
    ALL_ADS,
    AdDailyReach,
    AdDailyUser,
    AdDayCount,
    AdHourCount,
    AdMinuteCount,
    PartitionOffset,
)
from tests.conftest import ROOT
from tests.stats.topic_data import produce_events, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SERVER_SETTINGS = (
    "listen_addresses = '127.0.0.1'",
    "max_connections = 20",
    "shared_buffers = 32MB",
    "wal_writer_delay = 10000",  # the longest: asynchronous commits stay in memory meanwhile
    "autovacuum = off",  # nothing else writes (and so flushes) WAL while the test watches
)


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its programs as the `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class Server:
    """A throw-away PostgreSQL cluster of the installed version, on a free port."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            pytest.fail("PostgreSQL's programs are missing (scripts/postgres-local ensure)")
        self.bin = Path(found[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="adstats-pgcrash-"))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "adstats", "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n".join((*SERVER_SETTINGS, f"port = {self.port}",
                                  f"unix_socket_directories = '{self.dir}'")) + "\n")  # fmt: skip
        self.start()

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            _as_postgres([str(self.bin / program), *args]), check=True, capture_output=True
        )

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "start")

    def crash(self) -> None:
        """No checkpoint, no WAL flush: whatever was only in shared memory is gone."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgres://adstats@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str) -> psycopg2.extensions.connection:
        link = psycopg2.connect(host="127.0.0.1", port=self.port, user="adstats", dbname=database)
        link.autocommit = True
        return link

    def remove(self) -> None:
        subprocess.run(
            _as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                          "stop"]), capture_output=True,
        )  # fmt: skip
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def server() -> Iterator[Server]:
    if connection.vendor != "postgresql":
        pytest.fail("this test needs PostgreSQL (make test provides it)")
    made = Server()
    yield made
    made.remove()


def _copy_schema(server: Server, database: str) -> None:
    """The test database's schema (migrated by pytest-django) into the private server."""
    cfg = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": str(cfg["PASSWORD"])}
    dump = subprocess.run(
        [str(server.bin / "pg_dump"), "--schema-only", "--no-owner", "--no-privileges",
         "-h", str(cfg["HOST"]), "-p", str(cfg["PORT"]), "-U", str(cfg["USER"]), cfg["NAME"]],
        check=True, capture_output=True, env=env,
    ).stdout  # fmt: skip
    with closing(server.connect("postgres")) as admin, admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {database}")
    subprocess.run(
        [str(server.bin / "psql"), "-q", "-v", "ON_ERROR_STOP=1", server.url(database)],
        input=dump, check=True, capture_output=True,
    )  # fmt: skip


def _query(server: Server, database: str, sql: str) -> list[tuple[object, ...]]:
    """A query on the private server, on a connection of its own."""
    with closing(server.connect(database)) as link, link.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def _ledger(server: Server, database: str, group: str) -> int:
    table = PartitionOffset._meta.db_table
    rows = _query(
        server, database, f"SELECT COALESCE(SUM(next_offset), 0) FROM {table}"
        f" WHERE consumer_group = '{group}'"
    )  # fmt: skip
    return int(rows[0][0])  # type: ignore[call-overload]


def _wait_ledger(
    server: Server,
    database: str,
    group: str,
    done: Callable[[int], bool],
    proc: subprocess.Popen[bytes],
) -> int:
    seen = 0

    def reached() -> bool:
        nonlocal seen
        seen = _ledger(server, database, group)
        return done(seen)

    wait_for(reached, "the consumer's ledger", proc=proc, timeout_s=120)
    return seen


def _assert_exact(server: Server, database: str, expected: Counter[str], total: int) -> None:
    """Each event once: raw rows, the three counters, the user sets and the reach."""
    raw = Impression._meta.db_table
    q = lambda sql: _query(server, database, sql)  # noqa: E731
    assert q(f"SELECT COUNT(*), COUNT(DISTINCT event_id) FROM {raw}") == [(total, total)]
    for model in (AdMinuteCount, AdHourCount, AdDayCount):
        table = model._meta.db_table
        counted = q(f"SELECT ad_id, SUM(impressions) FROM {table} GROUP BY ad_id")
        assert {ad: int(n) for ad, n in counted} == dict(expected), table  # type: ignore[call-overload]
    users, reach = AdDailyUser._meta.db_table, AdDailyReach._meta.db_table
    from_raw = (
        f"SELECT ad_id, user_id, (occurred_at AT TIME ZONE 'UTC')::date FROM {raw}"
        f" UNION SELECT '{ALL_ADS}', user_id, (occurred_at AT TIME ZONE 'UTC')::date FROM {raw}"
    )
    assert q(f"SELECT COUNT(*) FROM ({from_raw} EXCEPT SELECT ad_id, user_id, day"
             f" FROM {users}) x") == [(0,)]  # fmt: skip
    assert q(f"SELECT COUNT(*) FROM {users}") == q(f"SELECT COUNT(*) FROM ({from_raw}) x")
    per_ad = f"SELECT ad_id, COUNT(DISTINCT user_id) FROM {raw} GROUP BY ad_id"
    first_days = (
        f"SELECT ad_id, SUM(users) FROM {reach} WHERE previous_day = day AND ad_id <> '{ALL_ADS}'"
        f" GROUP BY ad_id"
    )
    assert {a: int(n) for a, n in q(first_days)} == {a: int(n) for a, n in q(per_ad)}  # type: ignore[call-overload]


def test_postgres_killed_immediately_loses_async_commits_and_the_consumer_replays_them(
    server: Server, raw_producer: KafkaProducer, topic: str, group: str, tmp_path: Path
) -> None:
    database = "adstats_crash"
    _copy_schema(server, database)
    log = tmp_path / "consumer.log"
    env = {
        **os.environ,
        "DATABASE_URL": server.url(database),
        "CONSUMER_SYNCHRONOUS_COMMIT": "off",
        "STATS_PROGRESS_INTERVAL_SECONDS": "600",  # no progress mark flushes the WAL meanwhile
        "KAFKA_BOOTSTRAP_SERVERS": ",".join(settings.KAFKA_BOOTSTRAP_SERVERS),
    }
    command = [sys.executable, "manage.py", "runconsumer", "--topic", topic, "--group", group,
               "--batch-size", "500", "--progress-interval", "60"]  # fmt: skip
    with open(log, "wb") as output:
        consumer = subprocess.Popen(command, cwd=ROOT, env=env, stderr=output)
    try:
        # 1. Right after the last commit (idle): the crash forgets it, offsets and all.
        expected = produce_events(raw_producer, topic, 6_000, ads=7)
        _wait_ledger(server, database, group, lambda n: n >= 6_000, consumer)
        server.crash()
        server.start()
        forgotten = 6_000 - _ledger(server, database, group)
        assert forgotten > 0, "the crash forgot no commit: the test proves nothing"

        # 2. Mid-run, while batches are being written.
        expected += produce_events(raw_producer, topic, 24_000, ads=7)
        _wait_ledger(server, database, group, lambda n: n >= 6_000 + 3_000, consumer)
        server.crash()
        time.sleep(0.5)
        server.start()
        _wait_ledger(server, database, group, lambda n: n >= 30_000, consumer)
        consumer.send_signal(signal.SIGTERM)
        assert consumer.wait(timeout=60) == 0
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait()
    assert _ledger(server, database, group) == 30_000
    _assert_exact(server, database, expected, 30_000)
    assert "seeking every partition to the ledger again" in log.read_text(errors="replace")
    print(f"\nthe first crash forgot {forgotten} recorded events; all were replayed")


def test_the_setting_applies_to_the_consumers_session(settings: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.fail("this test needs PostgreSQL (make test provides it)")
    for value in ("off", "on"):
        settings.CONSUMER_SYNCHRONOUS_COMMIT = value
        connection.close()  # a new session: the setting is applied to each new one
        recorder = DatabaseRecorder()
        assert recorder.record(events=[]) == 0
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone() == (value,)
