"""Brute force over the raw impressions: the counters, user rows and reach rows the recording
function (and a rebuild) must hold, and the stored state to compare them with."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from typing import Any

from impressions.models import Impression
from stats.bucketing import floor_to
from stats.models import ALL_ADS, AdDailyReach, AdDailyUser, AdDayCount, AdHourCount, AdMinuteCount


def expected_state() -> dict[str, Any]:
    """Every derived table as it must be for the raw rows stored now."""
    minutes: Counter[tuple[str, datetime]] = Counter()
    hours: Counter[tuple[str, datetime]] = Counter()
    days: Counter[tuple[str, date]] = Counter()
    user_days: dict[tuple[str, str], set[date]] = defaultdict(set)
    for ad_id, user_id, at in Impression.objects.values_list("ad_id", "user_id", "occurred_at"):
        minutes[ad_id, floor_to(at, "minute")] += 1
        hours[ad_id, floor_to(at, "hour")] += 1
        day = at.astimezone(UTC).date()
        days[ad_id, day] += 1
        user_days[ad_id, user_id].add(day)
        user_days[ALL_ADS, user_id].add(day)
    reach: Counter[tuple[str, date, date]] = Counter()
    for (ad_id, _), seen in user_days.items():
        ordered = sorted(seen)
        for previous, day in zip([ordered[0], *ordered], ordered, strict=False):
            reach[ad_id, day, previous] += 1
    return {
        "minutes": dict(minutes),
        "hours": dict(hours),
        "days": dict(days),
        "users": {(a, u, d) for (a, u), seen in user_days.items() for d in seen},
        "reach": dict(reach),
    }


def stored_state() -> dict[str, Any]:
    """The derived tables as stored."""
    return {
        "minutes": {(r.ad_id, r.minute): r.impressions for r in AdMinuteCount.objects.all()},
        "hours": {(r.ad_id, r.hour): r.impressions for r in AdHourCount.objects.all()},
        "days": {(r.ad_id, r.day): r.impressions for r in AdDayCount.objects.all()},
        "users": set(AdDailyUser.objects.values_list("ad_id", "user_id", "day")),
        "reach": {(r.ad_id, r.day, r.previous_day): r.users for r in AdDailyReach.objects.all()},
    }


def distinct_users(first: date, last: date) -> dict[str, int]:
    """COUNT(DISTINCT user) per ad (and ALL_ADS) over the days first..last, from raw rows."""
    users: dict[str, set[str]] = defaultdict(set)
    for ad_id, user_id, at in Impression.objects.values_list("ad_id", "user_id", "occurred_at"):
        if first <= at.astimezone(UTC).date() <= last:
            users[ad_id].add(user_id)
            users[ALL_ADS].add(user_id)
    return {ad: len(found) for ad, found in users.items()}


def reach_users(first: date, last: date) -> dict[str, int]:
    """The same from the stored reach rows, as the read side sums them (AdDailyReach)."""
    totals: Counter[str] = Counter()
    for r in AdDailyReach.objects.filter(day__gte=first, day__lte=last):
        if r.previous_day < first or r.previous_day == r.day:
            totals[r.ad_id] += r.users
    return {ad: n for ad, n in totals.items() if n}
