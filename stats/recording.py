"""The statements of the one recording function, the same SQL on PostgreSQL and SQLite.

A batch is loaded into a per-connection temporary table (`rec_staging`) with its UTC minute,
hour and day already computed by `stats.bucketing` (the one place that decides buckets). Then:

1. claim: insert the raw rows whose event id is new and mark them `is_new` (the only step with
   two dialects: PostgreSQL needs ON CONFLICT ... RETURNING because writers run concurrently;
   SQLite has one writer at a time, so check-then-insert is exact);
2. register the batch's users in `KnownUser` and, on PostgreSQL, lock their rows, so two
   transactions never maintain the same user's reach at once (SQLite's single writer gives the
   same guarantee);
3. count: add the new rows to the minute, hour and day counters;
4. users: insert the new (ad, day, user) rows, also under the pseudo ad `ALL_ADS`, and move
   `AdDailyReach` by the difference of each touched pair's "previous day" lists before and
   after the insert (one pass: `_reach_changes`), deleting the reach rows it leaves at zero.
5. placements: the same for the new events that carry a placement, in the per-placement
   tables (stats.placement_recording; no statement when the batch has none).

Counters only ever grow from rows this call inserted, so a resent event never counts twice.
Rows are written in key order to keep concurrent transactions from deadlocking.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction

from impressions.contract import AdImpressionEvent
from impressions.models import Impression
from stats import bulk_sql as sql
from stats import placement_recording, raw_partitions
from stats.bucketing import bucket_texts, day_of, floor_to
from stats.models import (
    ALL_ADS,
    AdDailyReach,
    AdDailyUser,
    AdDayCount,
    AdHourCount,
    AdMinuteCount,
    KnownUser,
)

STAGING, NEW_DAYS, REACH_DELTA = "rec_staging", "rec_new_days", "rec_reach_delta"
_COLUMNS = ("event_id", "ad_id", "user_id", "occurred_at", "minute", "hour", "day")


def _temp_tables() -> list[str]:
    pg = connection.vendor == "postgresql"
    uuid, moment, day = ("uuid", "timestamptz", "date") if pg else ("text", "text", "text")
    tail = " ON COMMIT DELETE ROWS" if pg else ""
    temp = "TEMPORARY" if pg else "TEMP"
    return [
        f"CREATE {temp} TABLE IF NOT EXISTS {STAGING} (event_id {uuid} NOT NULL, ad_id text"
        f" NOT NULL, user_id text NOT NULL, occurred_at {moment} NOT NULL, minute {moment} NOT"
        f" NULL, hour {moment} NOT NULL, day {day} NOT NULL, is_new integer NOT NULL DEFAULT 0)"
        f"{tail}",
        f"CREATE {temp} TABLE IF NOT EXISTS {NEW_DAYS} (ad_id text NOT NULL, user_id text NOT"
        f" NULL, day {day} NOT NULL){tail}",
        f"CREATE {temp} TABLE IF NOT EXISTS {REACH_DELTA} (ad_id text NOT NULL, day {day} NOT"
        f" NULL, previous_day {day} NOT NULL, change integer NOT NULL){tail}",
    ]


def _stage(cursor: Any, events: Sequence[AdImpressionEvent]) -> None:
    raw_connection = connection.connection
    if getattr(connection, "_recording_tables_on", None) is not raw_connection:
        # A temporary table lives as long as its connection, but its creation rolls back with
        # the transaction: remember it only once committed.
        for statement in _temp_tables():
            cursor.execute(statement)
        transaction.on_commit(lambda: setattr(connection, "_recording_tables_on", raw_connection))
    for name in (STAGING, NEW_DAYS, REACH_DELTA):
        cursor.execute(f"DELETE FROM {name}")  # an outer transaction may still hold earlier rows
    if connection.vendor == "postgresql":
        buffer = io.StringIO(_copy_lines(events))
        with connection.wrap_database_errors:  # raw psycopg2 call: map its errors to Django's
            cursor.cursor.copy_expert(f"COPY {STAGING} ({', '.join(_COLUMNS)}) FROM STDIN", buffer)
    else:
        rows = [
            (e.event_id, e.ad_id, e.user_id, e.timestamp, floor_to(e.timestamp, "minute"),
             floor_to(e.timestamp, "hour"), day_of(e.timestamp))
            for e in events
        ]  # fmt: skip
        cursor.executemany(
            f"INSERT INTO {STAGING} ({', '.join(_COLUMNS)}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [_sqlite_row(row) for row in rows],
        )


def _copy_lines(events: Sequence[AdImpressionEvent]) -> str:
    """The rows of `_COLUMNS` in COPY's text format, buckets from `stats.bucketing`."""
    lines = []
    for e in events:
        moment, minute, hour, day = bucket_texts(e.timestamp)
        lines.append(
            f"{e.event_id}\t{_copy_text(e.ad_id)}\t{_copy_text(e.user_id)}\t"
            f"{moment}\t{minute}\t{hour}\t{day}\n"
        )
    return "".join(lines)


def _copy_text(text: str) -> str:
    """A text value in COPY's text format."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t")
        return text.replace("\n", "\\n").replace("\r", "\\r")
    return text


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    event_id, ad_id, user_id, occurred_at, minute, hour, day = row
    return (
        sql.db_uuid(event_id), ad_id, user_id, sql.db_datetime(occurred_at),
        sql.db_datetime(minute), sql.db_datetime(hour), sql.db_date(day),
    )  # fmt: skip


def _claim(cursor: Any, recorded_at: datetime) -> int:
    """Insert the raw rows of new event ids, mark them is_new, return how many there were."""
    raw = sql.table(Impression)
    columns = "event_id, ad_id, user_id, occurred_at, recorded_at"
    now = sql.db_datetime(recorded_at)
    if connection.vendor == "postgresql":
        # Partitioned by event day: the key holds the event time, and the probe (a LATERAL
        # LIMIT 1, so one index probe per event in the partitions of nearby days only) skips
        # an id stored under another time nearby (stats.raw_partitions says why it is exact).
        raw_partitions.ensure_for_staging(cursor, STAGING, now=recorded_at)
        window = raw_partitions.duplicate_window()
        cursor.execute(
            f"WITH claimed AS (INSERT INTO {raw} ({columns})"
            f" SELECT s.event_id, s.ad_id, s.user_id, s.occurred_at, %s FROM {STAGING} s"
            f" LEFT JOIN LATERAL (SELECT 1 AS hit FROM {raw} r WHERE r.event_id = s.event_id"
            f" AND r.occurred_at BETWEEN s.occurred_at - %s AND s.occurred_at + %s LIMIT 1) d"
            f" ON true WHERE d.hit IS NULL"
            f" ORDER BY s.event_id ON CONFLICT (event_id, occurred_at) DO NOTHING"
            f" RETURNING event_id) UPDATE {STAGING} SET is_new = 1 FROM claimed"
            f" WHERE {STAGING}.event_id = claimed.event_id",
            [now, window, window],
        )
        return int(cursor.rowcount)
    cursor.execute(
        f"UPDATE {STAGING} SET is_new = 1 WHERE NOT EXISTS"
        f" (SELECT 1 FROM {raw} r WHERE r.event_id = {STAGING}.event_id)"
    )
    claimed = int(cursor.rowcount)
    cursor.execute(
        f"INSERT INTO {raw} ({columns}) SELECT event_id, ad_id, user_id, occurred_at, %s"
        f" FROM {STAGING} WHERE is_new = 1 ORDER BY event_id",
        [now],
    )
    return claimed


def _lock_users(cursor: Any, *, staged: str) -> None:
    """Register the users of the staged rows `staged` selects; on PostgreSQL also lock their
    rows, in key order, so that one transaction at a time claims a user's events and maintains
    a user's reach (SQLite has one writer anyway)."""
    known = sql.table(KnownUser)
    new_users = f"SELECT DISTINCT user_id FROM {STAGING}{staged}"
    # PostgreSQL: DO UPDATE locks every conflicting row even where its WHERE is false (as FOR
    # UPDATE would, in the same key order), so one pass both inserts and locks; a new row is
    # this transaction's own until it commits.
    lock = " DO UPDATE SET user_id = excluded.user_id WHERE 1 = 0"
    cursor.execute(
        f"INSERT INTO {known} (user_id) {new_users} ORDER BY user_id ON CONFLICT (user_id)"
        f"{lock if connection.vendor == 'postgresql' else ' DO NOTHING'}"
    )


def _count(cursor: Any) -> None:
    for model, bucket in ((AdMinuteCount, "minute"), (AdHourCount, "hour"), (AdDayCount, "day")):
        name = sql.table(model)
        cursor.execute(
            f"INSERT INTO {name} (ad_id, {bucket}, impressions)"
            f" SELECT ad_id, {bucket}, COUNT(*) FROM {STAGING} WHERE is_new = 1"
            f" GROUP BY ad_id, {bucket} ORDER BY ad_id, {bucket}"
            f" ON CONFLICT (ad_id, {bucket})"
            f" DO UPDATE SET impressions = {name}.impressions + excluded.impressions"
        )


def _reach_changes() -> str:
    """How the batch's new days move the touched pairs' "previous day" lists, in one pass over
    their stored days (read before the new ones are inserted) and the new days: each day's
    previous day before and after, and for a new day or one whose previous day changed, -1 at
    the old key and +1 at the new one (unchanged days would cancel out, so they add nothing)."""
    users = sql.table(AdDailyUser)
    pair = "PARTITION BY ad_id, user_id ORDER BY day"
    return (
        f"WITH touched AS (SELECT DISTINCT ad_id, user_id FROM {NEW_DAYS}),"
        f" days AS (SELECT d.ad_id, d.user_id, d.day, 0 AS added FROM touched t"
        f" JOIN {users} d ON d.ad_id = t.ad_id AND d.user_id = t.user_id"
        f" UNION ALL SELECT ad_id, user_id, day, 1 FROM {NEW_DAYS}),"
        f" moved AS (SELECT ad_id, day, added, COALESCE(LAG(day) OVER ({pair}), day) AS prev_after,"
        f" COALESCE(MAX(CASE WHEN added = 0 THEN day END) OVER ({pair}"
        f" ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), day) AS prev_before FROM days)"
        f" INSERT INTO {REACH_DELTA} (ad_id, day, previous_day, change)"
        f" SELECT ad_id, day, prev_after, 1 FROM moved WHERE added = 1 OR prev_before <> prev_after"
        f" UNION ALL SELECT ad_id, day, prev_before, -1 FROM moved"
        f" WHERE added = 0 AND prev_before <> prev_after"
    )


def _add_users(cursor: Any) -> None:
    users, reach = sql.table(AdDailyUser), sql.table(AdDailyReach)
    cursor.execute(
        f"INSERT INTO {NEW_DAYS} (ad_id, user_id, day) SELECT ad_id, user_id, day FROM"
        f" (SELECT ad_id, user_id, day FROM {STAGING} WHERE is_new = 1"
        f" UNION SELECT %s, user_id, day FROM {STAGING} WHERE is_new = 1) s"
        f" WHERE NOT EXISTS (SELECT 1 FROM {users} d"
        f" WHERE d.ad_id = s.ad_id AND d.user_id = s.user_id AND d.day = s.day)",
        [ALL_ADS],
    )
    if not cursor.rowcount:
        return
    cursor.execute(_reach_changes())
    # No ON CONFLICT: the pair locks (or SQLite's single writer) make a conflict impossible,
    # and if one happened the reach would be wrong, so it must fail loudly.
    cursor.execute(
        f"INSERT INTO {users} (ad_id, user_id, day)"
        f" SELECT ad_id, user_id, day FROM {NEW_DAYS} ORDER BY ad_id, user_id, day"
    )
    cursor.execute(
        f"INSERT INTO {reach} (ad_id, day, previous_day, users)"
        f" SELECT ad_id, day, previous_day, SUM(change) FROM {REACH_DELTA} WHERE 1 = 1"
        f" GROUP BY ad_id, day, previous_day HAVING SUM(change) <> 0"
        f" ORDER BY ad_id, day, previous_day"
        f" ON CONFLICT (ad_id, day, previous_day)"
        f" DO UPDATE SET users = {reach}.users + excluded.users"
    )
    # A late event gives the user's next day with the ad a new previous day, which can leave
    # the old key at zero users: remove those rows (only keys this call just lowered, whose
    # rows it already holds), so that every reach row counts someone.
    cursor.execute(
        f"DELETE FROM {reach} WHERE users = 0 AND (ad_id, day, previous_day) IN"
        f" (SELECT ad_id, day, previous_day FROM {REACH_DELTA}"
        f" GROUP BY ad_id, day, previous_day HAVING SUM(change) < 0)"
    )


def copy_rounds(events: Sequence[AdImpressionEvent]) -> list[list[AdImpressionEvent]]:
    """The copies of a batch that `record_new` may store, in rounds that each hold an id once.

    SQLite keeps the first copy of each id (one round): its key is the event id alone. On
    PostgreSQL two copies of an id are one event when their event times lie within the
    duplicate window (stats.raw_partitions): a later copy is kept only when no kept copy of its
    id lies within the window, the rule the claim applies to stored rows, and the k-th kept copy
    of an id goes to round k, so that round's claim sees the rows of the rounds before it.
    """
    pg = connection.vendor == "postgresql"
    window = raw_partitions.duplicate_window() if pg else timedelta.max  # SQLite: any later copy
    kept: dict[Any, list[datetime]] = {}
    rounds: list[list[AdImpressionEvent]] = []
    for event in events:
        times = kept.setdefault(event.event_id, [])
        if any(abs(event.timestamp - time) <= window for time in times):
            continue
        if len(rounds) <= len(times):
            rounds.append([])
        rounds[len(times)].append(event)
        times.append(event.timestamp)
    return rounds


def record_new(events: Sequence[AdImpressionEvent], *, recorded_at: datetime) -> int:
    """Record the events whose id is not stored yet; return how many were new.

    `events` must hold each event id once. Runs inside the caller's transaction.
    """
    if not events:
        return 0
    with connection.cursor() as cursor:
        _stage(cursor, events)
        if connection.vendor == "postgresql":
            # Before the claim: copies of one event share its user, so two transactions
            # claiming copies under different times (which the key does not tell apart) take
            # turns, and the second one's probe sees the first one's row.
            _lock_users(cursor, staged="")
        recorded = _claim(cursor, recorded_at)
        if recorded:
            if connection.vendor != "postgresql":
                _lock_users(cursor, staged=" WHERE is_new = 1")
            _count(cursor)
            _add_users(cursor)
            placement_recording.record_placements(cursor, events)  # nothing without placements
    return recorded
