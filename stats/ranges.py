"""Time ranges of the read side: parsing `from`/`to` (shared by the API and the dashboard),
splitting a range into the day, hour and minute rows that cover it, and the buckets of a series
(where each starts and ends, whether the range cuts it short, whether it is final).

Pure functions: no database, no Django request objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from django.utils.dateparse import parse_date, parse_datetime

from stats.bucketing import INTERVALS, Interval, bucket_starts, floor_to
from stats.moment_syntax import is_moment_text
from stats.watermark import is_final

# Range ends far enough from datetime's limits that window arithmetic (a previous period of the
# same length, a bucket added to the end) cannot overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class RangeError(ValueError):
    """A range parameter cannot be used; `field` names it (`from`, `to`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def parse_moment(raw: str | None, *, field: str) -> datetime | None:
    """An ISO 8601 date (midnight UTC) or datetime (naive = UTC) as an aware UTC datetime.

    Empty or None gives None. Raises RangeError for text outside the language of
    `stats.moment_syntax` (the OpenAPI document's pattern for `from`/`to`: no surrounding
    spaces, real calendar dates), or that falls outside EARLIEST..LATEST once moved to UTC.
    """
    if raw is None or raw == "":
        return None
    expected = RangeError(field, f"expected an ISO 8601 date or datetime, got {raw[:60]!r}")
    if len(raw) > 64 or not is_moment_text(raw):
        if len(raw) <= 64 and is_moment_text(raw.strip()):
            expected = RangeError(field, f"no spaces around the date or datetime, got {raw!r}")
        elif len(raw) <= 64 and raw[:4].isdigit() and not 1970 <= int(raw[:4]) <= 9000:
            expected = RangeError(
                field, f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}"
            )
        raise expected
    try:
        value = parse_datetime(raw)
        if value is None:
            day = parse_date(raw)
            if day is None:
                raise expected
            value = datetime(day.year, day.month, day.day)
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise expected from None
    if not EARLIEST <= value <= LATEST:
        raise RangeError(field, f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return value


def parse_range(
    raw_from: str | None, raw_to: str | None
) -> tuple[datetime | None, datetime | None]:
    """`from` (inclusive) and `to` (exclusive); raises RangeError unless from < to."""
    start, end = parse_moment(raw_from, field="from"), parse_moment(raw_to, field="to")
    if start is not None and end is not None and start >= end:
        raise RangeError("to", "must be after from")
    return start, end


def _ceil(moment: datetime, interval: Interval) -> datetime:
    floored = floor_to(moment, interval)
    return floored if floored == moment else floored + INTERVALS[interval]


Span = tuple[datetime | None, datetime | None]
"""[start, end) with None for an open end."""


@dataclass
class RangeCover:
    """Rows that cover a range exactly: day rows for whole days, hour rows for whole hours at
    the edges, minute rows for the rest. Minutes count when their start lies in the range."""

    days: list[tuple[date | None, date | None]] = field(default_factory=list)  # [first, end)
    hours: list[Span] = field(default_factory=list)
    minutes: list[Span] = field(default_factory=list)

    def extend(self, other: RangeCover) -> None:
        self.days += other.days
        self.hours += other.hours
        self.minutes += other.minutes


def _lt(a: datetime | None, b: datetime | None) -> bool:
    """a < b where None is -infinity for a and +infinity for b."""
    return a is None or b is None or a < b


def cover(start: datetime | None, end: datetime | None, coarsest: Interval = "day") -> RangeCover:
    """The rows no coarser than `coarsest` whose sum is the impressions of minutes in
    [start, end) (a minute counts when its start is in the range, as before rollups existed)."""
    s = _ceil(start, "minute") if start is not None else None
    e = _ceil(end, "minute") if end is not None else None
    result = RangeCover()
    if not _lt(s, e):
        return result
    if coarsest == "minute":
        result.minutes.append((s, e))
        return result
    if coarsest == "hour":
        hs = _ceil(s, "hour") if s is not None else None
        he = floor_to(e, "hour") if e is not None else None
        if not _lt(hs, he):
            result.minutes.append((s, e))
            return result
        result.hours.append((hs, he))
        if s is not None and hs is not None and s < hs:
            result.minutes.append((s, hs))
        if e is not None and he is not None and he < e:
            result.minutes.append((he, e))
        return result
    ds = _ceil(s, "day") if s is not None else None
    de = floor_to(e, "day") if e is not None else None
    if not _lt(ds, de):
        return cover(s, e, "hour")
    result.days.append((ds.date() if ds else None, de.date() if de else None))
    if s is not None and ds is not None and s < ds:
        result.extend(cover(s, ds, "hour"))
    if e is not None and de is not None and de < e:
        result.extend(cover(de, e, "hour"))
    return result


@dataclass(frozen=True)
class SeriesBucket:
    """One bucket of a series: it counts the minutes in [start, end).

    `partial`: the range's end cuts the bucket short, so `end` comes before start + interval and
    the bucket holds only part of its time (the series keeps it, marked, rather than drop what
    was asked for; the API, the chart and the CSV all show this flag). `final`: all of
    [start, end) lies before `complete_through` (stats.watermark.is_final).
    """

    start: datetime
    end: datetime
    partial: bool
    final: bool

    def as_dict(self) -> dict[str, object]:
        return {"start": self.start, "end": self.end, "partial": self.partial, "final": self.final}


def series_buckets(
    start: datetime, end: datetime, interval: Interval, *, complete_through: datetime | None
) -> list[SeriesBucket]:
    """The buckets of `interval` that overlap [start, end), the first floored to the interval.

    A bucket ends at the next bucket's start or at the range's end rounded up to a whole
    minute (minutes count when their start lies in the range), whichever comes first.
    """
    step, stop = INTERVALS[interval], _ceil(end, "minute")
    buckets = []
    for bucket in bucket_starts(start, end, interval):
        bucket_end = min(bucket + step, stop)
        buckets.append(
            SeriesBucket(
                bucket,
                bucket_end,
                partial=bucket_end < bucket + step,
                final=is_final(bucket_end, complete_through),
            )
        )
    return buckets
