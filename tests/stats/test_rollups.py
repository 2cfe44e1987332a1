"""Hour and day counters equal the sum of their minutes, and reads built on them (and on the
user reach) equal a brute-force count over the raw impressions, for random data and ranges."""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from impressions.contract import AdImpressionEvent
from impressions.models import Impression
from stats import selectors
from stats.bucketing import Interval, days_touched, floor_to
from stats.models import ALL_ADS, AdDailyReach, AdDayCount, AdHourCount, AdMinuteCount
from stats.services import record_impressions

T0 = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)
ADS = [f"ad-{i}" for i in range(6)]


def random_events(rng: random.Random, n: int) -> list[AdImpressionEvent]:
    """Events over about four days around T0, late and out of order, some users shared."""
    return [
        AdImpressionEvent(
            1,
            uuid.UUID(int=rng.getrandbits(128)),
            rng.choice(ADS),
            f"u{int(rng.paretovariate(1.2)) % 40}",
            T0 + timedelta(seconds=rng.randrange(-2 * 86400, 2 * 86400)),
        )
        for _ in range(n)
    ]


def record_in_random_batches(rng: random.Random, events: list[AdImpressionEvent]) -> None:
    shuffled = events[:]
    rng.shuffle(shuffled)
    position = 0
    while position < len(shuffled):
        size = rng.randint(1, 60)
        batch = shuffled[position : position + size]
        # resend a few already recorded events with each batch
        record_impressions(events=batch + rng.sample(shuffled[: position + 1], k=min(3, position)))
        position += size


def random_moment(rng: random.Random) -> datetime:
    base = T0 + timedelta(seconds=rng.randrange(-3 * 86400, 3 * 86400))
    return rng.choice(
        [base, floor_to(base, "minute"), floor_to(base, "hour"), floor_to(base, "day")]
    )


def brute_totals(start: datetime | None, end: datetime | None) -> dict[str, tuple[int, int]]:
    """Per ad: impressions of minutes whose start is in [start, end), and distinct users over
    the UTC days the range touches, from the raw rows."""
    first, last = days_touched(start, end)
    impressions: Counter[str] = Counter()
    users: dict[str, set[str]] = defaultdict(set)
    for ad_id, user_id, occurred_at in Impression.objects.values_list(
        "ad_id", "user_id", "occurred_at"
    ):
        minute = floor_to(occurred_at, "minute")
        if (start is None or minute >= start) and (end is None or minute < end):
            impressions[ad_id] += 1
        day = occurred_at.astimezone(UTC).date()
        if (first is None or day >= first) and (last is None or day <= last):
            users[ad_id].add(user_id)
    return {ad: (n, len(users[ad])) for ad, n in impressions.items()}


@pytest.fixture
def recorded(db: Any) -> list[AdImpressionEvent]:
    rng = random.Random(20261126)
    events = random_events(rng, 1500)
    record_in_random_batches(rng, events)
    return events


def test_hours_and_days_are_the_sums_of_their_minutes(recorded: list[AdImpressionEvent]) -> None:
    hours: Counter[tuple[str, datetime]] = Counter()
    days: Counter[tuple[str, date]] = Counter()
    for row in AdMinuteCount.objects.all():
        hours[(row.ad_id, floor_to(row.minute, "hour"))] += row.impressions
        days[(row.ad_id, row.minute.date())] += row.impressions
    assert sum(hours.values()) == len(recorded)
    assert Counter({(r.ad_id, r.hour): r.impressions for r in AdHourCount.objects.all()}) == hours
    assert Counter({(r.ad_id, r.day): r.impressions for r in AdDayCount.objects.all()}) == days


def test_reach_gives_exact_distinct_users_for_every_day_range(
    recorded: list[AdImpressionEvent],
) -> None:
    seen: dict[str, dict[date, set[str]]] = defaultdict(lambda: defaultdict(set))
    for e in recorded:
        day = e.timestamp.date()
        seen[e.ad_id][day].add(e.user_id)
        seen[ALL_ADS][day].add(e.user_id)
    days = sorted({d for per_ad in seen.values() for d in per_ad})
    reach = list(AdDailyReach.objects.values_list("ad_id", "day", "previous_day", "users"))
    assert all(users >= 0 for *_, users in reach)
    for first in days:
        for last in days[days.index(first) :]:
            for ad_id, per_day in seen.items():
                expected = set().union(*(u for d, u in per_day.items() if first <= d <= last))
                summed = sum(
                    users
                    for ad, day, previous, users in reach
                    if ad == ad_id
                    and first <= day <= last
                    and (previous < first or previous == day)
                )
                assert summed == len(expected), (ad_id, first, last)


def test_list_and_detail_equal_a_brute_force_count(recorded: list[AdImpressionEvent]) -> None:
    rng = random.Random(7)
    ranges: list[tuple[datetime | None, datetime | None]] = [(None, None)]
    for _ in range(25):
        a, b = sorted([random_moment(rng), random_moment(rng)])
        ranges += [(a, b)] if a < b else []
    ranges += [(None, random_moment(rng)), (random_moment(rng), None)]
    for start, end in ranges:
        expected = brute_totals(start, end)
        page = selectors.ad_totals_page(start=start, end=end, ordering="ad_id", limit=100)
        assert page.count == len(expected)
        got = {r["ad_id"]: (r["impressions"], r["unique_users"]) for r in page.rows}
        assert got == expected, (start, end)
        ad_id = rng.choice(ADS)
        detail = selectors.ad_totals_get(ad_id=ad_id, start=start, end=end)
        impressions = expected.get(ad_id, (0, 0))[0]
        assert detail["impressions"] == impressions, (ad_id, start, end)


def test_series_and_overall_totals_equal_a_brute_force_count(
    recorded: list[AdImpressionEvent],
) -> None:
    rng = random.Random(11)
    intervals: tuple[Interval, ...] = ("minute", "hour", "day")
    for interval in intervals:
        for ad_id in (None, "ad-1"):
            start = floor_to(random_moment(rng), interval)
            end = start + timedelta(hours=rng.choice([1, 7, 30, 80]), minutes=rng.randrange(60))
            series = selectors.ad_series(
                ad_id=ad_id,
                interval=interval,
                start=start,
                end=end,
            )
            expected: Counter[datetime] = Counter()
            for e in recorded:
                minute = floor_to(e.timestamp, "minute")
                if (ad_id is None or e.ad_id == ad_id) and start <= minute < end:
                    expected[floor_to(minute, interval)] += 1
            got = {b["start"]: b["impressions"] for b in series if b["impressions"]}
            assert got == dict(expected), (interval, ad_id, start, end)
    start, end = T0 - timedelta(hours=30), T0 + timedelta(hours=5, minutes=17)
    first, last = days_touched(start, end)
    totals = selectors.overall_totals(start=start, end=end)
    brute = brute_totals(start, end)
    users = {e.user_id for e in recorded if first <= e.timestamp.date() <= last}  # type: ignore[operator]
    assert totals == {
        "impressions": sum(n for n, _ in brute.values()),
        "ads": len(brute),
        "unique_users": len(users),
    }
    daily = selectors.daily_unique_users(ad_id=ALL_ADS, first=first, last=last)  # type: ignore[arg-type]
    assert [d["unique_users"] for d in daily] == [
        len({e.user_id for e in recorded if e.timestamp.date() == d["day"]}) for d in daily
    ]


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_the_same_users_keep_the_reach_exact() -> None:
    """PostgreSQL runs writers concurrently (the consumer and as-is requests): the pair locks
    keep each user's previous-day chain consistent. On SQLite the writers queue."""
    rng = random.Random(3)
    events = [  # few users and ads, so the writers keep touching the same chains
        AdImpressionEvent(1, uuid.uuid4(), e.ad_id[:4] + str(i % 2), f"u{i % 5}", e.timestamp)
        for i, e in enumerate(random_events(rng, 1200))
    ]
    chunks = [events[i::4] for i in range(4)]
    errors: list[BaseException] = []

    def write(chunk: list[AdImpressionEvent]) -> None:
        try:
            for start in range(0, len(chunk), 10):
                record_impressions(events=chunk[start : start + 10])
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    first, last = T0.date() - timedelta(days=3), T0.date() + timedelta(days=3)
    for ad_id in ("ad-0", "ad-1", ALL_ADS):
        expected = {e.user_id for e in events if ad_id in (ALL_ADS, e.ad_id)}
        daily = selectors.daily_unique_users(ad_id=ad_id, first=first, last=last)
        assert [d["unique_users"] for d in daily] == [
            len(
                {
                    e.user_id
                    for e in events
                    if ad_id in (ALL_ADS, e.ad_id) and e.timestamp.date() == d["day"]
                }
            )
            for d in daily
        ]
        page = selectors.ad_totals_get(ad_id=ad_id, start=None, end=None)
        assert page["unique_users"] == len(expected), ad_id
