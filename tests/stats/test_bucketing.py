"""UTC bucketing by event time and zero-filled series."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from stats.bucketing import (
    bucket_starts,
    bucket_texts,
    count_by_ad_minute,
    day_of,
    days_touched,
    floor_to,
    minute_of,
)

PLUS2 = timezone(timedelta(hours=2))


def test_minute_and_day_are_utc_whatever_the_zone() -> None:
    moment = datetime(2026, 11, 26, 1, 30, 59, 999999, tzinfo=PLUS2)  # 23:30:59 UTC on the 25th
    assert minute_of(moment) == datetime(2026, 11, 25, 23, 30, tzinfo=UTC)
    assert day_of(moment) == date(2026, 11, 25)


def test_floor_to_each_interval() -> None:
    moment = datetime(2026, 11, 25, 13, 47, 12, tzinfo=UTC)
    assert floor_to(moment, "minute") == datetime(2026, 11, 25, 13, 47, tzinfo=UTC)
    assert floor_to(moment, "hour") == datetime(2026, 11, 25, 13, tzinfo=UTC)
    assert floor_to(moment, "day") == datetime(2026, 11, 25, tzinfo=UTC)


def test_count_by_ad_minute_groups_late_and_out_of_order_events() -> None:
    t = datetime(2026, 11, 25, 10, 0, 5, tzinfo=UTC)
    counts = count_by_ad_minute(
        [("a", t), ("a", t + timedelta(minutes=1)), ("b", t), ("a", t + timedelta(seconds=50))]
    )
    assert counts == {
        ("a", datetime(2026, 11, 25, 10, 0, tzinfo=UTC)): 2,
        ("a", datetime(2026, 11, 25, 10, 1, tzinfo=UTC)): 1,
        ("b", datetime(2026, 11, 25, 10, 0, tzinfo=UTC)): 1,
    }


def test_bucket_starts_cover_the_range_from_the_floored_start() -> None:
    start = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    end = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
    assert bucket_starts(start, end, "hour") == [
        datetime(2026, 11, 25, h, tzinfo=UTC) for h in (10, 11, 12)
    ]
    assert len(bucket_starts(start, end, "minute")) == 150
    assert bucket_starts(end, end + timedelta(minutes=1), "day") == [
        datetime(2026, 11, 25, tzinfo=UTC)
    ]


def test_days_touched_excludes_the_end_instant() -> None:
    start = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
    end = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
    assert days_touched(start, end) == (date(2026, 11, 24), date(2026, 11, 25))
    assert days_touched(None, None) == (None, None)


def test_bucket_texts_are_floor_to_and_day_of_in_iso_8601() -> None:
    zones = [UTC, PLUS2, timezone(timedelta(hours=-9, minutes=-30)), timezone(timedelta(0))]
    start = datetime(1970, 1, 1, tzinfo=UTC)
    for i in range(2000):
        moment = (start + timedelta(seconds=i * 7_919_993.123457)).astimezone(zones[i % 4])
        assert bucket_texts(moment) == (
            moment.astimezone(UTC).isoformat(),
            floor_to(moment, "minute").isoformat(),
            floor_to(moment, "hour").isoformat(),
            day_of(moment).isoformat(),
        )
        assert datetime.fromisoformat(bucket_texts(moment)[0]) == moment
