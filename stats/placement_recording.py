"""The recording function's statements for events with a placement (contract v2).

Runs inside `stats.recording.record_new`, after the raw rows were claimed (`rec_staging.is_new`)
and the batch's users locked, and does for the per-placement tables (stats.placement_models)
what `recording` does for the per-ad ones: add the new events to the minute, hour and day
counters, insert the new (placement, ad, day, user) rows (also under `ALL_ADS`) and move the
reach by the difference of the touched pairs' "previous day" lists. A batch without any
placement runs no statement at all, so events without one cost nothing more.

The same SQL on PostgreSQL and SQLite; rows in key order, like every other write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction
from msgspec import UNSET

from impressions.contract import AdImpressionEvent
from stats import bulk_sql as sql
from stats.models import ALL_ADS
from stats.placement_models import (
    PlacementDailyReach,
    PlacementDailyUser,
    PlacementDayCount,
    PlacementHourCount,
    PlacementMinuteCount,
)

PLACED, PLACED_DAYS, PLACED_REACH = "rec_placed", "rec_placed_days", "rec_placed_reach_delta"
STAGING = "rec_staging"  # stats.recording's staging table, with `is_new` set by its claim
# The batch's new events that have a placement, with it.
_NEW = f"{STAGING} s JOIN {PLACED} p ON p.event_id = s.event_id WHERE s.is_new = 1"


def _temp_tables() -> list[str]:
    pg = connection.vendor == "postgresql"
    uuid, day = ("uuid", "date") if pg else ("text", "text")
    tail = " ON COMMIT DELETE ROWS" if pg else ""
    temp = "TEMPORARY" if pg else "TEMP"
    return [
        f"CREATE {temp} TABLE IF NOT EXISTS {PLACED} (event_id {uuid} NOT NULL,"
        f" placement text NOT NULL){tail}",
        f"CREATE {temp} TABLE IF NOT EXISTS {PLACED_DAYS} (placement text NOT NULL, ad_id text"
        f" NOT NULL, user_id text NOT NULL, day {day} NOT NULL){tail}",
        f"CREATE {temp} TABLE IF NOT EXISTS {PLACED_REACH} (placement text NOT NULL, ad_id text"
        f" NOT NULL, day {day} NOT NULL, previous_day {day} NOT NULL, change integer NOT NULL)"
        f"{tail}",
    ]


def _stage(cursor: Any, placed: Sequence[AdImpressionEvent]) -> None:
    raw_connection = connection.connection
    if getattr(connection, "_placement_tables_on", None) is not raw_connection:
        for statement in _temp_tables():
            cursor.execute(statement)
        transaction.on_commit(lambda: setattr(connection, "_placement_tables_on", raw_connection))
    for name in (PLACED, PLACED_DAYS, PLACED_REACH):
        cursor.execute(f"DELETE FROM {name}")
    sql.insert_values(
        f"INSERT INTO {PLACED} (event_id, placement)",
        [(sql.db_uuid(e.event_id), e.placement) for e in placed],
    )


def _count(cursor: Any) -> None:
    for model, bucket in (
        (PlacementMinuteCount, "minute"),
        (PlacementHourCount, "hour"),
        (PlacementDayCount, "day"),
    ):
        name = sql.table(model)
        cursor.execute(
            f"INSERT INTO {name} (placement, ad_id, {bucket}, impressions)"
            f" SELECT p.placement, s.ad_id, s.{bucket}, COUNT(*) FROM {_NEW}"
            f" GROUP BY p.placement, s.ad_id, s.{bucket} ORDER BY p.placement, s.ad_id, s.{bucket}"
            f" ON CONFLICT (placement, ad_id, {bucket})"
            f" DO UPDATE SET impressions = {name}.impressions + excluded.impressions"
        )


def _previous_days(sign: int) -> str:
    """Each touched (placement, ad, user)'s rows with their previous day, signed."""
    users = sql.table(PlacementDailyUser)
    return (
        f"INSERT INTO {PLACED_REACH} (placement, ad_id, day, previous_day, change)"
        f" SELECT d.placement, d.ad_id, d.day, COALESCE(LAG(d.day) OVER"
        f" (PARTITION BY d.placement, d.ad_id, d.user_id ORDER BY d.day), d.day), {sign}"
        f" FROM (SELECT DISTINCT placement, ad_id, user_id FROM {PLACED_DAYS}) t"
        f" JOIN {users} d"
        f" ON d.placement = t.placement AND d.ad_id = t.ad_id AND d.user_id = t.user_id"
    )


def _add_users(cursor: Any) -> None:
    users, reach = sql.table(PlacementDailyUser), sql.table(PlacementDailyReach)
    cursor.execute(
        f"INSERT INTO {PLACED_DAYS} (placement, ad_id, user_id, day)"
        f" SELECT placement, ad_id, user_id, day FROM"
        f" (SELECT p.placement, s.ad_id, s.user_id, s.day FROM {_NEW}"
        f" UNION SELECT p.placement, %s, s.user_id, s.day FROM {_NEW}) n"
        f" WHERE NOT EXISTS (SELECT 1 FROM {users} d WHERE d.placement = n.placement"
        f" AND d.ad_id = n.ad_id AND d.user_id = n.user_id AND d.day = n.day)",
        [ALL_ADS],
    )
    if not cursor.rowcount:
        return
    cursor.execute(_previous_days(-1))
    # No ON CONFLICT, as in stats.recording: the user locks make a conflict impossible.
    cursor.execute(
        f"INSERT INTO {users} (placement, ad_id, user_id, day) SELECT placement, ad_id,"
        f" user_id, day FROM {PLACED_DAYS} ORDER BY placement, ad_id, user_id, day"
    )
    cursor.execute(_previous_days(+1))
    key = "placement, ad_id, day, previous_day"
    cursor.execute(
        f"INSERT INTO {reach} ({key}, users)"
        f" SELECT {key}, SUM(change) FROM {PLACED_REACH} WHERE 1 = 1"
        f" GROUP BY {key} HAVING SUM(change) <> 0 ORDER BY {key}"
        f" ON CONFLICT ({key}) DO UPDATE SET users = {reach}.users + excluded.users"
    )
    cursor.execute(
        f"DELETE FROM {reach} WHERE users = 0 AND ({key}) IN"
        f" (SELECT {key} FROM {PLACED_REACH} GROUP BY {key} HAVING SUM(change) < 0)"
    )


def record_placements(cursor: Any, events: Sequence[AdImpressionEvent]) -> None:
    """Count the batch's new events that have a placement in the per-placement tables.

    Call after `stats.recording` claimed the batch (and locked its users), in its transaction;
    `events` must hold each event id once. Runs nothing when no event has a placement.
    """
    placed = [event for event in events if event.placement is not UNSET]
    if not placed:
        return
    _stage(cursor, placed)
    _count(cursor)
    _add_users(cursor)
