"""SQL for the read side: the counter rows that cover a range, and exact unique users.

Every read is one statement over the day, hour and minute counters chosen by
`stats.ranges.cover` (so a 30-day range reads about 30 day rows per ad, not 43,200 minutes) and
over `AdDailyReach` for unique users (a sum, see its docstring). The same SQL runs on
PostgreSQL and SQLite. With a `placement`, the same statements read the per-placement tables
(stats.placement_models) instead, restricted to it; without one, nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from django.db import connection

from stats import bulk_sql as sql
from stats.models import ALL_ADS, AdDailyReach, AdDayCount, AdHourCount, AdMinuteCount
from stats.placement_models import (
    PlacementDailyReach,
    PlacementDayCount,
    PlacementHourCount,
    PlacementMinuteCount,
)
from stats.ranges import RangeCover

Params = list[Any]


def _bounds(
    column: str, spans: Sequence[tuple[Any, Any]], adapt: Callable[[Any], Any], params: Params
) -> str:
    """`(column >= a AND column < b) OR ...` for [a, b) spans, None leaving an end open."""
    alternatives = []
    for low, high in spans:
        parts = []
        for value, operator in ((low, ">="), (high, "<")):
            if value is not None:
                parts.append(f"{column} {operator} %s")
                params.append(adapt(value))
        alternatives.append(" AND ".join(parts) or "1 = 1")
    return "(" + " OR ".join(f"({a})" for a in alternatives) + ")"


AdFilter = str | Sequence[str] | None
"""One ad id, a list of ad ids, or None for every ad."""


def _ad_condition(ads: AdFilter, params: Params) -> str:
    if ads is None:
        return ""
    if isinstance(ads, str):
        params.append(ads)
        return " AND ad_id = %s"
    if not ads:
        return " AND 1 = 0"
    params.extend(ads)
    return f" AND ad_id IN ({', '.join(['%s'] * len(ads))})"


def _placement_condition(placement: str | None, params: Params) -> str:
    if placement is None:
        return ""
    params.append(placement)
    return " AND placement = %s"


def counter_rows(
    cover: RangeCover, *, ad_id: AdFilter, params: Params, placement: str | None = None
) -> str:
    """`SELECT ad_id, impressions, day, moment` over the rows covering the range (day rows
    have `moment` NULL, hour and minute rows have `day` NULL); with `placement`, only the
    impressions shown in that placement."""
    day_model, hour_model, minute_model = (
        (PlacementDayCount, PlacementHourCount, PlacementMinuteCount)
        if placement is not None
        else (AdDayCount, AdHourCount, AdMinuteCount)
    )
    parts = []
    if cover.days:
        where = _bounds("day", cover.days, sql.db_date, params) + _ad_condition(ad_id, params)
        where += _placement_condition(placement, params)
        parts.append(
            f"SELECT ad_id, impressions, day, NULL AS moment FROM {sql.table(day_model)}"
            f" WHERE {where}"
        )
    for model, column, spans in (
        (hour_model, "hour", cover.hours),
        (minute_model, "minute", cover.minutes),
    ):
        if spans:
            where = _bounds(column, spans, sql.db_datetime, params) + _ad_condition(ad_id, params)
            where += _placement_condition(placement, params)
            parts.append(
                f"SELECT ad_id, impressions, NULL AS day, {column} AS moment"
                f" FROM {sql.table(model)} WHERE {where}"
            )
    if not parts:
        return (
            f"SELECT ad_id, impressions, day, NULL AS moment FROM {sql.table(AdDayCount)}"
            " WHERE 1 = 0"
        )
    return " UNION ALL ".join(parts)


def reach_rows(
    first: date | None,
    last: date | None,
    *,
    ad_id: AdFilter,
    params: Params,
    per_day: bool = False,
    placement: str | None = None,
) -> str:
    """`SELECT ad_id, day, users`: summed per ad, the exact distinct users over the UTC days
    first..last (None: open-ended); with `per_day`, summed per day, each day's own users.
    `ad_id` None means every real ad (not the site-wide ALL_ADS); a list, those ads. With
    `placement`, the users who saw the ad (ALL_ADS: any ad) in that placement."""
    conditions = []
    if first is not None:
        conditions.append("day >= %s")
        params.append(sql.db_date(first))
    if last is not None:
        conditions.append("day <= %s")
        params.append(sql.db_date(last))
    if not per_day:  # a user counts on the first day in range: before it, none of its days
        if first is not None:
            conditions.append("(previous_day < %s OR previous_day = day)")
            params.append(sql.db_date(first))
        else:
            conditions.append("previous_day = day")
    if ad_id is None:
        conditions.append("ad_id <> %s")
        params.append(ALL_ADS)
    where = " AND ".join(conditions) + _ad_condition(ad_id, params)
    where += _placement_condition(placement, params)
    reach = PlacementDailyReach if placement is not None else AdDailyReach
    return f"SELECT ad_id, day, users FROM {sql.table(reach)} WHERE {where}"


def fetch_all(statement: str, params: Params) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return list(cursor.fetchall())


def as_utc(value: Any) -> datetime:
    """A bucket value as the database returns it (datetime, date or SQLite text) in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):  # a date
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
