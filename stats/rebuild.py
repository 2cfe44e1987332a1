"""Rebuild the statistics of whole UTC days from the retained raw impressions (`rebuildstats`).

One transaction per day, oldest first. Each day's counters (minute, hour, day) and user rows
(`AdDailyUser`, also under `ALL_ADS`) are recomputed from the raw rows whose event time lies in
the day, then its `AdDailyReach` rows from the repaired user rows. A user row added or removed
on day d also changes the reach of that user's NEXT day with the ad (its previous day moves).
Inside the range that day is recomputed in its own turn; after the range, the same transaction
recomputes those (ad, day) groups. Only differences are written, and they are reported. An
interrupted rebuild keeps the days it committed; run the same range again.

While a day is rebuilt, recording and pruning wait: on PostgreSQL the transaction holds a SHARE
lock on the raw table (every recording transaction inserts there first), on SQLite the write
lock. Days whose raw rows pruning may have taken are refused (stats.retention).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction
from django.utils import timezone

from impressions.models import Impression
from stats import bulk_sql as sql
from stats import rebuild_sql as steps
from stats.models import AdDailyReach, AdDailyUser, AdDayCount, AdHourCount, AdMinuteCount
from stats.retention import RetentionRefused, first_rebuildable_day, raw_retention

logger = logging.getLogger(__name__)


@dataclass
class DayReport:
    """What the rebuild of one day corrected (all zero: the day was intact)."""

    day: date
    minutes: steps.Change = field(default_factory=steps.Change)
    hours: steps.Change = field(default_factory=steps.Change)
    days: steps.Change = field(default_factory=steps.Change)
    users: steps.Change = field(default_factory=steps.Change)
    reach: steps.Change = field(default_factory=steps.Change)
    # reach rows of days after the range whose user's previous day a user row here moved
    later_reach: steps.Change = field(default_factory=steps.Change)

    @property
    def changed(self) -> bool:
        parts = (self.minutes, self.hours, self.days, self.users, self.reach, self.later_reach)
        return any(parts)

    def __str__(self) -> str:
        if not self.changed:
            return f"{self.day}: no change"
        parts = [
            f"{name} {change}"
            for name, change in (
                ("minute counters", self.minutes), ("hour counters", self.hours),
                ("day counters", self.days), ("daily users", self.users),
                ("reach rows", self.reach),
            )
            if change
        ]  # fmt: skip
        if self.later_reach:
            parts.append(f"reach rows after the range {self.later_reach}")
        return f"{self.day}: " + "; ".join(parts)


def rebuildable_range(first: date, last: date, *, now: datetime) -> None:
    """Raise RetentionRefused unless first..last (inclusive) can be rebuilt from raw rows."""
    if last < first:
        raise RetentionRefused(f"the range is empty: {first} .. {last}")
    oldest = first_rebuildable_day(now=now)
    if first < oldest:
        raise RetentionRefused(
            f"refused: raw impressions of days before {oldest} may already be pruned "
            f"(RAW_IMPRESSION_RETENTION_DAYS={raw_retention().days}), so rebuilding {first} "
            f"would turn lost rows into lost counts. Rebuild from {oldest} on; older days can "
            f"only be rebuilt by replaying the topic into an empty database (README)."
        )
    if last > now.date() + timedelta(days=1):
        raise RetentionRefused(f"refused: {last} is in the future; no event can lie there yet")


def stats_rebuild(
    *,
    first: date,
    last: date,
    on_day: Callable[[DayReport], None] | None = None,
    now: Callable[[], datetime] = timezone.now,
) -> list[DayReport]:
    """Recompute the statistics of the UTC days first..last (inclusive), a transaction each;
    return one report per day (also passed to `on_day` as each day commits).

    Raises RetentionRefused (before any change) when a day's raw rows may be pruned; each day
    checks again inside its transaction, as pruning moves on while the rebuild runs.
    """
    rebuildable_range(first, last, now=now())
    reports = []
    day = first
    while day <= last:
        report = _rebuild_day(day, last=last, now=now)
        logger.info("rebuilt %s", report)
        if on_day is not None:
            on_day(report)
        reports.append(report)
        day += timedelta(days=1)
    return reports


def _rebuild_day(day: date, *, last: date, now: Callable[[], datetime]) -> DayReport:
    start = datetime.combine(day, time(), UTC)
    bounds = [sql.db_datetime(start), sql.db_datetime(start + timedelta(days=1))]
    on_day, after_range = sql.db_date(day), sql.db_date(last)
    report = DayReport(day)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {sql.table(Impression)} IN SHARE MODE")
        rebuildable_range(day, day, now=now())  # under the lock: pruning cannot move now
        steps.expect_counters(cursor, start=bounds[0], end=bounds[1])
        for model, expected, bucket, attr in (
            (AdMinuteCount, "rb_minute", "minute", "minutes"),
            (AdHourCount, "rb_hour", "hour", "hours"),
        ):
            scope = (f"{{t}}.{bucket} >= %s AND {{t}}.{bucket} < %s", bounds)
            change = steps.repair(
                cursor, model=model, expected=expected, keys=("ad_id", bucket),
                value="impressions", scope=scope, fixed={},
            )  # fmt: skip
            setattr(report, attr, change)
        report.days = steps.repair(
            cursor, model=AdDayCount, expected="rb_day", keys=("ad_id",), value="impressions",
            scope=("{t}.day = %s", [on_day]), fixed={"day": on_day},
        )  # fmt: skip
        pairs = steps.expect_users(cursor, start=bounds[0], end=bounds[1], day=on_day)
        if pairs:
            report.users = steps.repair(
                cursor, model=AdDailyUser, expected="rb_users", keys=("ad_id", "user_id"),
                value=None, scope=("{t}.day = %s", [on_day]), fixed={"day": on_day},
            )  # fmt: skip
        steps.know_users(cursor)
        steps.expect_reach(cursor, where="u.day = %s", params=[on_day])
        report.reach = _repair_reach(cursor, scope=("{t}.day = %s", [on_day]))
        if pairs and steps.later_groups(cursor, day=on_day, last=after_range):
            later = "({}.ad_id, {}.day) IN (SELECT ad_id, day FROM rb_later)"
            steps.expect_reach(cursor, where=later.format("u", "u"), params=[])
            report.later_reach = _repair_reach(cursor, scope=(later.format("{t}", "{t}"), []))
        steps.drop_temp_tables(cursor)
    return report


def _repair_reach(cursor: object, *, scope: tuple[str, list[object]]) -> steps.Change:
    return steps.repair(
        cursor, model=AdDailyReach, expected="rb_reach", keys=("ad_id", "day", "previous_day"),
        value="users", scope=scope, fixed={},
    )  # fmt: skip
