"""The dashboard's range picker: quick picks or a custom from/to, the chart interval, and an
optional placement (contract v2) that every number of the page is then restricted to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from django import forms

from impressions.contract import PLACEMENT_RULE, is_ad_id
from stats.bucketing import INTERVALS, Interval, floor_to
from stats.ranges import RangeError, parse_range

QUICK_PICKS: dict[str, tuple[str, timedelta, Interval]] = {
    "1h": ("Last hour", timedelta(hours=1), "minute"),
    "24h": ("Last 24 hours", timedelta(days=1), "hour"),
    "7d": ("Last 7 days", timedelta(days=7), "hour"),
    "30d": ("Last 30 days", timedelta(days=30), "day"),
}
DEFAULT_PICK = "24h"
MINUTE_LIMIT = timedelta(days=1)  # minute buckets only for ranges up to 24 h
MAX_BUCKETS = 2000  # what one chart can show legibly


@dataclass(frozen=True)
class Window:
    """What a dashboard page shows: [start, end) in UTC with start floored to the interval,
    so every bucket is whole, and the previous period of the same length."""

    start: datetime
    end: datetime
    interval: Interval
    label: str
    pick: str  # a QUICK_PICKS key, or "custom"
    placement: str | None = None  # only what was shown in this placement (contract v2)

    @property
    def previous(self) -> tuple[datetime, datetime]:
        """The period of the same length just before: what the cards compare with."""
        return self.start - (self.end - self.start), self.start

    @property
    def previous_buckets(self) -> tuple[datetime, datetime]:
        """As many whole buckets just before `start` as the window has: what the chart's dashed
        line shows, bucket for bucket."""
        step = INTERVALS[self.interval]
        buckets = -((self.start - self.end) // step)  # the last one may still be filling
        return self.start - buckets * step, self.start

    @property
    def placement_query(self) -> str:
        """`&placement=...` when the window has one (for links that change the range)."""
        return f"&placement={quote(self.placement, safe='')}" if self.placement else ""

    def query(self) -> str:
        """The query string that shows this window again (for links and exports)."""
        if self.pick != "custom":
            return f"range={self.pick}&interval={self.interval}{self.placement_query}"
        return (
            f"range=custom&from={self.start:%Y-%m-%dT%H:%M:%SZ}"
            f"&to={self.end:%Y-%m-%dT%H:%M:%SZ}&interval={self.interval}{self.placement_query}"
        )


class RangeForm(forms.Form):
    """Parses the dashboard's query string; a bad value is a form error, never a 500."""

    range = forms.ChoiceField(
        choices=[*((key, label) for key, (label, *_) in QUICK_PICKS.items()), ("custom", "Custom")],
        required=False,
    )
    start = forms.CharField(required=False, label="From (UTC)")
    end = forms.CharField(required=False, label="To (UTC, exclusive)")
    interval = forms.ChoiceField(
        choices=[(i, i.capitalize()) for i in INTERVALS], required=False, label="Interval"
    )
    placement = forms.CharField(required=False, label="Placement")

    def clean_placement(self) -> str | None:
        placement = self.cleaned_data.get("placement") or None
        if placement is not None and not is_ad_id(placement):
            raise forms.ValidationError(PLACEMENT_RULE.removeprefix("placement "))
        return placement

    def __init__(self, data: Any, *, now: datetime) -> None:
        data = data.copy()
        for ours, theirs in (("start", "from"), ("end", "to")):  # the API's names work too
            if theirs in data and ours not in data:
                data[ours] = data[theirs]
        super().__init__(data)
        self.now = now

    def window(self) -> Window:
        """The validated window; call after is_valid() (falls back to the default pick)."""
        return self.cleaned_data.get("window") or default_window(self.now)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        given = cleaned.get("start") or cleaned.get("end")
        pick = cleaned.get("range") or ("custom" if given else DEFAULT_PICK)
        if pick == "custom":
            try:
                start, end = parse_range(cleaned.get("start"), cleaned.get("end"))
            except RangeError as exc:
                self.add_error("start" if exc.field == "from" else "end", exc.message)
                return cleaned
            if start is None:
                self.add_error("start", "a custom range needs a start")
                return cleaned
            end = end or self.now
            if start >= end:
                self.add_error("end", "must be after from (default: now)")
                return cleaned
            label, interval = "Custom range", cleaned.get("interval") or _fitting(end - start)
        else:
            label, span, default_interval = QUICK_PICKS[pick]
            end, start = self.now, self.now - span
            interval = cleaned.get("interval") or default_interval
        if interval == "minute" and end - start > MINUTE_LIMIT:
            self.add_error("interval", "minute buckets are for ranges up to 24 hours")
            return cleaned
        start = floor_to(start, interval)
        if (end - start) / INTERVALS[interval] > MAX_BUCKETS:
            self.add_error("interval", f"more than {MAX_BUCKETS} buckets; choose a longer one")
            return cleaned
        cleaned["window"] = Window(start, end, interval, label, pick, cleaned.get("placement"))
        return cleaned


def _fitting(span: timedelta) -> Interval:
    if span <= timedelta(hours=3):
        return "minute"
    return "hour" if span <= timedelta(days=7) else "day"


def default_window(now: datetime) -> Window:
    label, span, interval = QUICK_PICKS[DEFAULT_PICK]
    return Window(floor_to(now - span, interval), now, interval, label, DEFAULT_PICK)
