"""The statements of a one-day rebuild (stats.rebuild): recompute, compare, repair.

Each derived table's rows of the day are recomputed into a temporary table (`CREATE TEMP
TABLE ... AS SELECT`, the same SQL on PostgreSQL and SQLite but for the bucket expressions),
compared with the stored rows (changed, added, removed), and only the differences are written.
Minute buckets are computed in SQL here, the twin of `stats.bucketing.floor_to` that
`stats.recording` uses; tests/stats/test_rebuild.py checks that both agree with brute force.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection

from impressions.models import Impression
from stats import bulk_sql as sql
from stats.models import (
    ALL_ADS,
    AdDailyUser,
    KnownUser,
)

# Start of the UTC minute / hour of a stored datetime, per dialect (Django stores SQLite
# datetimes as UTC text 'YYYY-MM-DD HH:MM:SS[.ffffff]').
_MINUTE = {
    "postgresql": "date_trunc('minute', {} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    "sqlite": "substr({}, 1, 16) || ':00'",
}
_HOUR = {
    "postgresql": "date_trunc('hour', {} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    "sqlite": "substr({}, 1, 13) || ':00:00'",
}
TEMP_TABLES = ("rb_minute", "rb_hour", "rb_day", "rb_users", "rb_pairs", "rb_later", "rb_reach")


@dataclass
class Change:
    """Rows of one table that the rebuild corrected."""

    changed: int = 0
    added: int = 0
    removed: int = 0

    def __bool__(self) -> bool:
        return bool(self.changed or self.added or self.removed)

    def __str__(self) -> str:
        return f"{self.changed} changed, {self.added} added, {self.removed} removed"


def _one(cursor: Any, statement: str, params: list[Any]) -> int:
    cursor.execute(statement, params)
    return int(cursor.fetchone()[0])


def _temp(cursor: Any, name: str, select: str, params: list[Any]) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {name}")
    temp = "TEMPORARY" if connection.vendor == "postgresql" else "TEMP"
    cursor.execute(f"CREATE {temp} TABLE {name} AS {select}", params)


def drop_temp_tables(cursor: Any) -> None:
    for name in TEMP_TABLES:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")


def repair(
    cursor: Any,
    *,
    model: type,
    expected: str,
    keys: tuple[str, ...],
    value: str | None,
    scope: tuple[str, list[Any]],
    fixed: dict[str, Any],
) -> Change:
    """Make `model`'s rows within `scope` equal to the rows of the temporary table `expected`.

    `keys` identify a row within the scope, `value` is the compared column (None: presence
    only), `fixed` the columns every row of the scope shares (written on insert).
    """
    table = sql.table(model)
    where, params = scope
    where = where.format(t=table)
    match = " AND ".join(f"e.{k} = {table}.{k}" for k in keys)
    change = Change()
    change.removed = _one(
        cursor,
        f"SELECT COUNT(*) FROM {table} WHERE {where} AND NOT EXISTS"
        f" (SELECT 1 FROM {expected} e WHERE {match})",
        params,
    )
    change.added = _one(
        cursor,
        f"SELECT COUNT(*) FROM {expected} e WHERE NOT EXISTS"
        f" (SELECT 1 FROM {table} WHERE {where} AND {match})",
        params,
    )
    if value is not None:
        change.changed = _one(
            cursor,
            f"SELECT COUNT(*) FROM {table} JOIN {expected} e ON {match}"
            f" WHERE {where} AND e.{value} <> {table}.{value}",
            params,
        )
    if change.removed:
        cursor.execute(
            f"DELETE FROM {table} WHERE {where} AND NOT EXISTS"
            f" (SELECT 1 FROM {expected} e WHERE {match})",
            params,
        )
    if change.changed:
        cursor.execute(
            f"UPDATE {table} SET {value} = (SELECT e.{value} FROM {expected} e WHERE {match})"
            f" WHERE {where} AND EXISTS"
            f" (SELECT 1 FROM {expected} e WHERE {match} AND e.{value} <> {table}.{value})",
            params,
        )
    if change.added:
        columns = [*keys, *fixed, *([value] if value else [])]
        values = [f"e.{k}" for k in keys] + ["%s"] * len(fixed) + ([f"e.{value}"] if value else [])
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)}"
            f" FROM {expected} e WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE {where} AND {match})"
            f" ORDER BY {', '.join(f'e.{k}' for k in keys)}",
            [*fixed.values(), *params],
        )
    return change


def expect_counters(cursor: Any, *, start: Any, end: Any) -> None:
    """rb_minute, rb_hour, rb_day: the day's counters from the raw rows in [start, end)."""
    vendor, raw = connection.vendor, sql.table(Impression)
    minute = _MINUTE[vendor].format("occurred_at")
    _temp(
        cursor,
        "rb_minute",
        f"SELECT ad_id, minute, COUNT(*) AS impressions FROM (SELECT ad_id, {minute} AS minute"
        f" FROM {raw} WHERE occurred_at >= %s AND occurred_at < %s) r GROUP BY ad_id, minute",
        [start, end],
    )
    _temp(
        cursor,
        "rb_hour",
        f"SELECT ad_id, hour, SUM(impressions) AS impressions FROM (SELECT ad_id,"
        f" {_HOUR[vendor].format('minute')} AS hour, impressions FROM rb_minute) m"
        f" GROUP BY ad_id, hour",
        [],
    )
    _temp(
        cursor,
        "rb_day",
        "SELECT ad_id, SUM(impressions) AS impressions FROM rb_minute GROUP BY ad_id",
        [],
    )


def expect_users(cursor: Any, *, start: Any, end: Any, day: Any) -> int:
    """rb_users: the day's (ad, user) pairs from the raw rows, also under ALL_ADS; rb_pairs:
    the pairs whose stored row of the day is missing or extra. Returns len(rb_pairs)."""
    raw, users = sql.table(Impression), sql.table(AdDailyUser)
    _temp(
        cursor,
        "rb_users",
        f"SELECT ad_id, user_id FROM {raw} WHERE occurred_at >= %s AND occurred_at < %s"
        f" UNION SELECT %s, user_id FROM {raw} WHERE occurred_at >= %s AND occurred_at < %s",
        [start, end, ALL_ADS, start, end],
    )
    _temp(
        cursor,
        "rb_pairs",
        f"SELECT ad_id, user_id FROM rb_users e WHERE NOT EXISTS (SELECT 1 FROM {users} d"
        f" WHERE d.ad_id = e.ad_id AND d.user_id = e.user_id AND d.day = %s)"
        f" UNION SELECT ad_id, user_id FROM {users} d WHERE d.day = %s AND NOT EXISTS"
        f" (SELECT 1 FROM rb_users e WHERE d.ad_id = e.ad_id AND d.user_id = e.user_id)",
        [day, day],
    )
    return _one(cursor, "SELECT COUNT(*) FROM rb_pairs", [])


def later_groups(cursor: Any, *, day: Any, last: Any) -> int:
    """rb_later: the (ad, day) groups after `last` whose reach the repair of `day` moves: for
    each changed pair, its next day with the ad (that day's previous day changed). Returns
    how many groups."""
    users = sql.table(AdDailyUser)
    _temp(
        cursor,
        "rb_later",
        f"SELECT DISTINCT ad_id, day FROM (SELECT d.ad_id, MIN(d.day) AS day FROM rb_pairs p"
        f" JOIN {users} d ON d.ad_id = p.ad_id AND d.user_id = p.user_id WHERE d.day > %s"
        f" GROUP BY d.ad_id, d.user_id) n WHERE n.day > %s",
        [day, last],
    )
    return _one(cursor, "SELECT COUNT(*) FROM rb_later", [])


def know_users(cursor: Any) -> None:
    """Every user of the rebuilt day is a KnownUser (the recording locks them)."""
    cursor.execute(
        f"INSERT INTO {sql.table(KnownUser)} (user_id) SELECT DISTINCT user_id FROM rb_users"
        f" WHERE 1 = 1 ON CONFLICT (user_id) DO NOTHING"
    )


def expect_reach(cursor: Any, *, where: str, params: list[Any]) -> None:
    """rb_reach: the reach rows of the user rows `u` matching `where`, from the (repaired) user
    rows: each user counted under their previous day with the ad (their day, for a first)."""
    users = sql.table(AdDailyUser)
    _temp(
        cursor,
        "rb_reach",
        f"SELECT ad_id, day, previous_day, COUNT(*) AS users FROM (SELECT u.ad_id, u.day,"
        f" COALESCE((SELECT MAX(p.day) FROM {users} p WHERE p.ad_id = u.ad_id"
        f" AND p.user_id = u.user_id AND p.day < u.day), u.day) AS previous_day"
        f" FROM {users} u WHERE {where}) x GROUP BY ad_id, day, previous_day",
        params,
    )
