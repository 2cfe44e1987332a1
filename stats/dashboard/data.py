"""What the dashboard pages show, gathered through the selectors (a fixed number of
statements per page, whatever the data size)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from stats import progress_selectors, selectors
from stats.bucketing import Interval
from stats.dashboard.forms import Window

TOP_ADS = 20
MAX_DAILY_ROWS = 62
LABELS = {"minute": "%H:%M", "hour": "%m-%d %H:00", "day": "%Y-%m-%d"}


def change(now: int, before: int) -> dict[str, Any]:
    """The change against the previous period, for a card or a table cell."""
    if before == 0:
        return {"percent": None, "text": "new" if now else "–", "direction": "up" if now else ""}
    percent = (now - before) * 100 / before
    text = f"{percent:+.1f}%" if abs(percent) < 10 else f"{percent:+.0f}%"
    if text in ("+0.0%", "-0.0%"):
        return {"percent": percent, "text": "±0%", "direction": ""}
    return {"percent": percent, "text": text, "direction": "up" if percent > 0 else "down"}


CARD_LABELS = {
    "impressions": "Impressions",
    "unique_users": "Unique users (exact, whole UTC days)",
    "ads": "Ads with impressions",
}


# Unique users count whole UTC days; a window shorter than a day shares its days with the
# previous period, so a change would compare a count with itself.
WHOLE_DAYS_ONLY = {
    "percent": None,
    "text": "",
    "direction": "",
    "note": "counted over whole UTC days, so no change for a range under a day",
}


def cards(
    now: dict[str, Any], before: dict[str, Any], keys: list[str], *, window: Window
) -> list[dict[str, Any]]:
    """One card per total: its value and its change against the previous period."""
    short = window.end - window.start < timedelta(days=1)
    return [
        {
            "id": key.replace("_", "-"),
            "label": CARD_LABELS[key],
            "value": now[key],
            "change": WHOLE_DAYS_ONLY
            if key == "unique_users" and short
            else change(now[key], before[key]),
        }
        for key in keys
    ]


@dataclass
class Chart:
    """A series and the same-length series before it, as Chart.js wants them; each current
    bucket's end and whether it is partial and final, as ranges.series_buckets decided."""

    labels: list[str]
    current: list[int]
    previous: list[int | None]
    starts: list[str]
    ends: list[str]
    partial: list[bool]
    final: list[bool]
    complete_through: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "current": self.current,
            "previous": self.previous,
            "starts": self.starts,
            "ends": self.ends,
            "partial": self.partial,
            "final": self.final,
        }


def chart(*, ad_id: str | None, window: Window, complete_through: datetime | None) -> Chart:
    interval: Interval = window.interval
    now = selectors.ad_series(
        ad_id=ad_id,
        interval=interval,
        start=window.start,
        end=window.end,
        complete_through=complete_through,
        placement=window.placement,
    )
    before_start, before_end = window.previous_buckets
    before = selectors.ad_series(
        ad_id=ad_id,
        interval=interval,
        start=before_start,
        end=before_end,
        placement=window.placement,
    )
    previous: list[int | None] = [int(b["impressions"]) for b in before]
    previous += [None] * (len(now) - len(previous))
    return Chart(
        labels=[b["start"].strftime(LABELS[interval]) for b in now],
        current=[int(b["impressions"]) for b in now],
        previous=previous[: len(now)],
        starts=[f"{b['start']:%Y-%m-%dT%H:%M:%SZ}" for b in now],
        ends=[f"{b['end']:%Y-%m-%dT%H:%M:%SZ}" for b in now],
        partial=[bool(b["partial"]) for b in now],
        final=[bool(b["final"]) for b in now],
        complete_through=complete_through,
    )


def overview(window: Window) -> dict[str, Any]:
    """Cards, chart, top ads and pipeline of the overview page."""
    before_start, before_end = window.previous
    placement = window.placement
    totals = selectors.overall_totals(start=window.start, end=window.end, placement=placement)
    before = selectors.overall_totals(start=before_start, end=before_end, placement=placement)
    top = selectors.ad_totals_page(
        start=window.start, end=window.end, limit=TOP_ADS, placement=placement
    ).rows
    earlier_page = selectors.ad_totals_page(
        start=before_start,
        end=before_end,
        limit=TOP_ADS,
        ads=[row["ad_id"] for row in top],
        placement=placement,
    )
    earlier = {row["ad_id"]: row["impressions"] for row in earlier_page.rows}
    pipeline = selectors.pipeline_state(
        consumer_group=settings.STATS_CONSUMER_GROUP, topic=settings.IMPRESSIONS_TOPIC
    )
    for row in top:
        row["share"] = (
            row["impressions"] * 100 / totals["impressions"] if totals["impressions"] else 0
        )
        row["change"] = change(row["impressions"], earlier.get(row["ad_id"], 0))
    return {
        "cards": cards(totals, before, ["impressions", "unique_users", "ads"], window=window),
        "chart": chart(
            ad_id=None, window=window, complete_through=pipeline.completeness.complete_through
        ),
        "top_ads": top,
        "pipeline": pipeline,
        "completeness": pipeline.completeness,
    }


def ad_detail(ad_id: str, window: Window) -> dict[str, Any]:
    """Cards, chart and unique users per day of one ad."""
    before_start, before_end = window.previous
    placement = window.placement
    totals = selectors.ad_totals_get(
        ad_id=ad_id, start=window.start, end=window.end, placement=placement
    )
    before = selectors.ad_totals_get(
        ad_id=ad_id, start=before_start, end=before_end, placement=placement
    )
    last = (window.end - timedelta(microseconds=1)).date()
    first = max(window.start.date(), last - timedelta(days=MAX_DAILY_ROWS - 1))
    completeness = progress_selectors.completeness_get()
    return {
        "cards": cards(totals, before, ["impressions", "unique_users"], window=window),
        "chart": chart(ad_id=ad_id, window=window, complete_through=completeness.complete_through),
        "completeness": completeness,
        "daily_users": list(
            reversed(
                selectors.daily_unique_users(
                    ad_id=ad_id, first=first, last=last, placement=placement
                )
            )
        ),
    }
