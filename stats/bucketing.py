"""Pure time bucketing in UTC: which minute and day an event counts in, and bucket starts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Literal

Interval = Literal["minute", "hour", "day"]
_ZERO = timedelta(0)
INTERVALS: dict[str, timedelta] = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}


def minute_of(moment: datetime) -> datetime:
    """The start of the UTC minute that holds `moment` (an aware datetime)."""
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def day_of(moment: datetime) -> date:
    """The UTC calendar day that holds `moment`."""
    return moment.astimezone(UTC).date()


def floor_to(moment: datetime, interval: Interval) -> datetime:
    """The start of the UTC bucket of `interval` that holds `moment`."""
    start = minute_of(moment)
    if interval in ("hour", "day"):
        start = start.replace(minute=0)
    if interval == "day":
        start = start.replace(hour=0)
    return start


def bucket_texts(moment: datetime) -> tuple[str, str, str, str]:
    """`moment` and the starts of its UTC minute, hour and day, in ISO 8601 (as `isoformat`
    writes `floor_to` and `day_of`): read off its UTC text, which is cheaper per event than
    building the three values (the recording function's COPY)."""
    if moment.tzinfo is None:  # a naive moment is local time to astimezone, as in floor_to
        moment = moment.astimezone(UTC)
    elif moment.utcoffset() != _ZERO:
        moment = moment.astimezone(UTC)
    text = moment.isoformat()  # YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00
    return text, f"{text[:16]}:00+00:00", f"{text[:13]}:00:00+00:00", text[:10]


def count_by_ad_minute(items: Iterable[tuple[str, datetime]]) -> Counter[tuple[str, datetime]]:
    """Impressions per (ad_id, UTC minute) for (ad_id, event time) pairs."""
    return Counter((ad_id, minute_of(moment)) for ad_id, moment in items)


def bucket_starts(start: datetime, end: datetime, interval: Interval) -> list[datetime]:
    """Starts of every bucket that overlaps [start, end), the first one floored to the interval."""
    step = INTERVALS[interval]
    current = floor_to(start, interval)
    starts = []
    while current < end:
        starts.append(current)
        current += step
    return starts


def days_touched(start: datetime | None, end: datetime | None) -> tuple[date | None, date | None]:
    """The first and last UTC day that [start, end) touches (None stays open-ended)."""
    first = day_of(start) if start is not None else None
    last = day_of(end - timedelta(microseconds=1)) if end is not None else None
    return first, last
