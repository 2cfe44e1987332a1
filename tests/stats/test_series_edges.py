"""A series whose `to` falls inside a bucket keeps that bucket, marked partial, and says which
buckets are final: the same in the API, the dashboard's chart and its CSV (ranges.series_buckets
decides it once)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from impressions.contract import AdImpressionEvent
from stats.models import TopicCompleteness
from stats.ranges import SeriesBucket, series_buckets
from stats.services import record_impressions

TEN = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
HALF_HOUR = {"from": "2026-11-25T10:00:00Z", "to": "2026-11-25T10:30:00Z"}


def test_a_to_inside_a_bucket_makes_it_partial_and_final_needs_its_whole_span() -> None:
    end = TEN + timedelta(minutes=30)
    assert series_buckets(TEN, end, "hour", complete_through=end) == [
        SeriesBucket(TEN, end, partial=True, final=True)  # all it counts is complete
    ]
    (bucket,) = series_buckets(TEN, end, "hour", complete_through=end - timedelta(seconds=1))
    assert not bucket.final
    whole = series_buckets(TEN, TEN + timedelta(hours=2), "hour", complete_through=None)
    assert [(b.end - b.start, b.partial, b.final) for b in whole] == [
        (timedelta(hours=1), False, False)
    ] * 2


def test_the_range_end_counts_the_minute_it_falls_in() -> None:
    (bucket,) = series_buckets(
        TEN, TEN + timedelta(minutes=30, seconds=5), "hour", complete_through=None
    )
    assert bucket.end == TEN + timedelta(minutes=31) and bucket.partial


@pytest.fixture
def two_events(db: Any) -> None:
    record_impressions(
        events=[
            AdImpressionEvent(1, uuid.uuid4(), "ad-1", "u1", TEN + timedelta(minutes=10)),
            AdImpressionEvent(1, uuid.uuid4(), "ad-1", "u2", TEN + timedelta(minutes=40)),
        ]
    )


def complete_through(moment: datetime, settings: Any) -> None:
    TopicCompleteness.objects.create(
        consumer_group=settings.STATS_CONSUMER_GROUP,
        topic=settings.IMPRESSIONS_TOPIC,
        partitions=1,
        complete_through=moment,
        updated_at=timezone.now(),
    )


def test_the_api_marks_the_cut_bucket_partial(
    two_events: None, stats_client: APIClient, settings: Any
) -> None:
    complete_through(TEN + timedelta(minutes=45), settings)
    body = stats_client.get("/api/stats/ads/ad-1/series/", {"interval": "hour", **HALF_HOUR}).json()
    assert body["complete_through"] == "2026-11-25T10:45:00Z"
    assert body["buckets"] == [
        {
            "start": "2026-11-25T10:00:00Z",
            "end": "2026-11-25T10:30:00Z",
            "impressions": 1,  # 1 of the hour's 2 events: only 10:00-10:30 was asked for
            "partial": True,
            "final": True,
        }
    ]
    minutes = stats_client.get(
        "/api/stats/ads/ad-1/series/",
        {"interval": "minute", "from": "2026-11-25T10:39:00Z", "to": "2026-11-25T10:47:00Z"},
    ).json()["buckets"]
    assert [(b["start"][11:16], b["impressions"], b["final"]) for b in minutes] == [
        ("10:39", 0, True), ("10:40", 1, True), ("10:41", 0, True), ("10:42", 0, True),
        ("10:43", 0, True), ("10:44", 0, True), ("10:45", 0, False), ("10:46", 0, False),
    ]  # fmt: skip
    detail = stats_client.get("/api/stats/ads/ad-1/").json()
    listing = stats_client.get("/api/stats/ads/").json()
    assert detail["complete_through"] == listing["complete_through"] == body["complete_through"]


def test_the_chart_and_the_csv_say_the_same_as_the_api(
    two_events: None, staff_user: Any, stats_client: APIClient, settings: Any
) -> None:
    complete_through(TEN + timedelta(minutes=20), settings)
    client = Client()
    client.login(username="staff", password="staff-password")
    query = {"range": "custom", **HALF_HOUR, "interval": "hour"}
    html = client.get("/admin/dashboard/ads/ad-1/", query).content.decode()
    chart = json.loads(
        html.split('id="chart-data" type="application/json">', 1)[1].split("<", 1)[0]
    )
    assert (chart["current"], chart["partial"], chart["final"]) == ([1], [True], [False])
    assert chart["ends"] == ["2026-11-25T10:30:00Z"]
    assert "complete through" in html and "2026-11-25 10:20:00 UTC" in html
    assert "The last bucket is partial" in html
    exported = client.get("/admin/dashboard/ads/ad-1/", {**query, "export": "series"})
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert rows == [
        {
            "bucket_start": "2026-11-25T10:00:00Z",
            "bucket_end": "2026-11-25T10:30:00Z",
            "impressions": "1",
            "partial": "true",
            "final": "false",
        }
    ]
    api = stats_client.get("/api/stats/ads/ad-1/series/", {"interval": "hour", **HALF_HOUR}).json()
    assert [(b["impressions"], b["partial"], b["final"]) for b in api["buckets"]] == [
        (1, True, False)
    ]
