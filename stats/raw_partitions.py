"""PostgreSQL only: the raw impressions table partitioned by UTC day of the event time.

`impressions_impression` is `PARTITION BY RANGE (occurred_at)` (migration impressions 0004):
one partition per UTC day named `impressions_impression_pYYYYMMDD`, plus a DEFAULT partition
as the safety net, so an insert never fails for a missing partition. Day partitions exist for
the days of the "window", from LATE_DAYS before today to tomorrow (UTC): the consumer's
maintenance step creates them ahead (`ensure_window`), and the writer creates a missing one
for a day of its batch (`ensure_for_staging`). An event more than LATE_DAYS late lands in the
DEFAULT partition; that day never gets a partition later (the window only moves forward), so
a partition is never created over rows the DEFAULT partition already holds.

Deduplication (stats.recording's claim): the primary key is (event_id, occurred_at), since a
unique key on a partitioned table must hold the partition key. A copy of an event carries its
timestamp (Kafka re-reads, replays, client retries that send it), so the key catches it, also
under concurrent writers. A client retry that leaves the timestamp to the server gets a new one:
the claim also skips an event id already stored with an event time within
CLIENT_RETRY_WINDOW_SECONDS + CLOCK_MARGIN (`duplicate_window`), which probes only the
partitions of those days.

Pruning (`drop_below`) drops a day partition only when every row in it was recorded before the
cutoff, checked under a lock that keeps writers out until the drop commits.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from impressions.models import Impression
from stats.retention import CLOCK_MARGIN

logger = logging.getLogger(__name__)

LATE_DAYS = 3
"""Days before today (UTC) that still get their own partition when an event arrives late."""
CREATE_LOCK = 0x5241575F50415254  # advisory lock key ("RAW_PART"): one partition creator at once


def parent() -> str:
    return Impression._meta.db_table


def partition_name(day: date) -> str:
    return f"{parent()}_p{day:%Y%m%d}"


def window(now: datetime) -> tuple[date, date]:
    """First and last UTC day that get their own partition at `now`."""
    today = now.astimezone(UTC).date()
    return today - timedelta(days=LATE_DAYS), today + timedelta(days=1)


def duplicate_window() -> timedelta:
    """How far apart two copies of one event's timestamp can be: a client retry stamped by the
    server, within the retry window, on web servers whose clocks differ by up to CLOCK_MARGIN."""
    return timedelta(seconds=settings.CLIENT_RETRY_WINDOW_SECONDS) + CLOCK_MARGIN


def create_sql(day: date) -> list[str]:
    """Statements creating `day`'s partition: a plain table attached as a partition, which
    locks the parent only in SHARE UPDATE EXCLUSIVE mode (readers and writers go on; CREATE
    TABLE ... PARTITION OF would take ACCESS EXCLUSIVE). ATTACH builds the parent's indexes."""
    name, start = partition_name(day), datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    return [
        f"CREATE TABLE {name} (LIKE {parent()} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
        f"ALTER TABLE {parent()} ATTACH PARTITION {name}"
        f" FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')",
    ]


def _exists(cursor: Any, day: date) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [partition_name(day)])
    return bool(cursor.fetchone()[0])


def ensure_days(days: list[date]) -> list[date]:
    """Create the partitions of `days` that do not exist yet, inside the caller's transaction;
    return the days created. A day the DEFAULT partition already holds rows of is left to it
    (logged): its rows still land in the DEFAULT partition, so nothing fails."""
    created: list[date] = []
    with connection.cursor() as cursor:
        missing = [day for day in sorted(set(days)) if not _exists(cursor, day)]
        if not missing:
            return created
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CREATE_LOCK])
        for day in missing:
            if _exists(cursor, day):  # another writer made it while we waited
                continue
            try:
                with transaction.atomic():
                    for statement in create_sql(day):
                        cursor.execute(statement)
            except DatabaseError as exc:
                logger.warning("no partition for %s, its rows stay in DEFAULT: %s", day, exc)
                continue
            created.append(day)
    return created


def ensure_window(*, now: datetime) -> list[date]:
    """Create every missing partition of the window (the maintenance step, the migration)."""
    first, last = window(now)
    with transaction.atomic():
        return ensure_days([first + timedelta(days=n) for n in range((last - first).days + 1)])


def ensure_for_staging(cursor: Any, staging: str, *, now: datetime) -> None:
    """The writer's step: create the missing partitions of the staged events' days in the
    window, before the claim inserts them (one catalog query per batch when none is missing)."""
    first, last = window(now)
    cursor.execute(
        f"SELECT DISTINCT day FROM {staging} WHERE day BETWEEN %s AND %s"
        f" AND to_regclass('{parent()}_p' || to_char(day, 'YYYYMMDD')) IS NULL",
        [first, last],
    )
    days = [row[0] for row in cursor.fetchall()]
    if days:
        ensure_days(days)


def day_partitions() -> list[tuple[str, date]]:
    """The existing day partitions (name, day), oldest first; DEFAULT excluded."""
    prefix = f"{parent()}_p"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = %s::regclass AND c.relname LIKE %s ORDER BY c.relname",
            [parent(), prefix + "%"],
        )
        names = [row[0] for row in cursor.fetchall()]
    return [(name, datetime.strptime(name[len(prefix) :], "%Y%m%d").date()) for name in names]


def _all_recorded_before(name: str, cutoff: datetime) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT max(recorded_at) FROM {name}")  # the recorded_at index's end
        newest = cursor.fetchone()[0]
    return newest is None or newest < cutoff


def drop_below(cutoff: datetime) -> int:
    """Drop each day partition whose rows were all recorded before `cutoff` (empty ones too,
    when their day ended before the cutoff); return how many rows went. The caller checks the
    cutoff against the retention (stats.services.impressions_prune)."""
    dropped = 0
    for name, day in day_partitions():
        if datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1) > cutoff:
            break  # a day not over by the cutoff is kept whole (its old rows go row by row)
        if not _all_recorded_before(name, cutoff):
            continue  # checked without a lock first: a partition kept stays cheap to skip
        with transaction.atomic(), connection.cursor() as cursor:
            # The parent first, as every writer locks it: no insert can slip in between the
            # check and the drop, and the lock order cannot deadlock with a writer.
            cursor.execute("SET LOCAL lock_timeout = '5s'")  # never queue writers for long
            cursor.execute(f"LOCK TABLE {parent()} IN ACCESS EXCLUSIVE MODE")
            cursor.execute(f"SELECT count(*), max(recorded_at) FROM {name}")
            rows, newest = cursor.fetchone()
            if newest is not None and newest >= cutoff:
                continue
            cursor.execute(f"DROP TABLE {name}")
            dropped += int(rows)
            logger.info("dropped raw partition %s (%d rows recorded before the cutoff)", name, rows)
    return dropped
