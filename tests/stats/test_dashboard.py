"""The staff dashboard and its drill-down: contents, bad ranges, CSV, and fixed statement counts."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from impressions.contract import AdImpressionEvent
from stats.offset_update import OffsetUpdate
from stats.services import record_impressions

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
DAY = {"range": "custom", "from": "2026-11-25T00:00:00Z", "to": "2026-11-26T00:00:00Z"}


@pytest.fixture(autouse=True)
def broker_unreachable(settings: Any) -> None:
    settings.KAFKA_BOOTSTRAP_SERVERS = ["127.0.0.1:1"]  # nothing listens there
    settings.KAFKA_ADMIN_TIMEOUT_SECONDS = 0.5


@pytest.fixture
def staff_client(staff_user: Any) -> Client:
    client = Client()
    client.login(username="staff", password="staff-password")
    return client


def seed(ads: int = 2, per_ad: int = 0, day: datetime = T0) -> None:
    events = [
        AdImpressionEvent(1, uuid.uuid4(), ad, f"u{i % 3}", day + timedelta(minutes=i))
        for i, ad in enumerate(["ad-1"] * 5 + ["ad-2"] * 2)
    ] + [
        AdImpressionEvent(1, uuid.uuid4(), f"ad-x{a}", f"u{i}", day + timedelta(minutes=i * 7))
        for a in range(ads)
        for i in range(per_ad)
    ]
    record_impressions(
        events=events, offsets=[OffsetUpdate("stats-service", "ad-impressions", 0, 7)]
    )


def test_the_overview_shows_cards_chart_top_ads_and_the_ledger(staff_client: Client) -> None:
    seed()
    html = staff_client.get("/admin/dashboard/", DAY).content.decode()
    assert '<div class="card-value" data-value="7">7</div>' in html  # impressions
    assert '<div class="card-value" data-value="3">3</div>' in html  # unique users, site-wide
    assert 'href="/admin/dashboard/ads/ad-1/?range=custom' in html
    assert '<td class="num">5</td><td class="num">71.4%</td>' in html  # ad-1's share
    assert '<td>0</td><td class="num">?</td><td class="num">7</td>' in html  # broker down
    assert 'id="chart-data"' in html and 'src="/static/stats/vendor/chart.umd.min.js"' in html
    assert "<script>" not in html.replace('<script type="application/json"', "")  # CSP: no inline


@pytest.mark.parametrize(
    "query",
    [
        {"range": "custom", "from": "0001-01-01 00:00"},
        {"end": "0001-01-01 00:00"},
        {"range": "custom", "from": "garbage"},
        {"range": "custom", "from": "2026-11-25", "to": "2026-11-24"},
        {"range": "30d", "interval": "minute"},
        {"range": "forever"},
        {"range": "custom", "from": "2026-01-01", "interval": "minute"},
        {"range": "custom", "from": "1970-01-01", "to": "2026-01-01", "interval": "hour"},
    ],
)
def test_a_bad_range_is_a_form_error_on_the_page(staff_client: Client, query: Any) -> None:
    response = staff_client.get("/admin/dashboard/", query)
    assert response.status_code == 200
    assert 'id="range-errors"' in response.content.decode()


def test_csv_exports_add_up_to_what_the_api_returns(
    staff_client: Client, stats_client: APIClient
) -> None:
    seed(ads=3, per_ad=40)
    query = {**DAY, "interval": "hour"}
    series = staff_client.get("/admin/dashboard/", {**query, "export": "series"})
    assert series["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(series.content.decode())))
    assert len(rows) == 24 and rows[0]["bucket_start"] == "2026-11-25T00:00:00Z"
    listing = stats_client.get(
        "/api/stats/ads/", {"from": DAY["from"], "to": DAY["to"], "limit": "1000"}
    ).json()
    assert sum(int(r["impressions"]) for r in rows) == sum(
        r["impressions"] for r in listing["results"]
    )
    ads = staff_client.get("/admin/dashboard/", {**query, "export": "ads"})
    exported = list(csv.DictReader(io.StringIO(ads.content.decode())))
    assert [(r["ad_id"], int(r["impressions"]), int(r["unique_users"])) for r in exported] == [
        (r["ad_id"], r["impressions"], r["unique_users"]) for r in listing["results"]
    ]
    one = staff_client.get("/admin/dashboard/ads/ad-1/", {**query, "export": "series"})
    api = stats_client.get(
        "/api/stats/ads/ad-1/series/", {"from": DAY["from"], "to": DAY["to"], "interval": "hour"}
    ).json()
    assert [int(r["impressions"]) for r in csv.DictReader(io.StringIO(one.content.decode()))] == [
        b["impressions"] for b in api["buckets"]
    ]


def test_the_drill_down_shows_the_ad_and_its_daily_users(staff_client: Client) -> None:
    seed()
    html = staff_client.get("/admin/dashboard/ads/ad-1/", DAY).content.decode()
    assert '<div class="card-value" data-value="5">5</div>' in html
    assert '<tr><td>2026-11-25</td><td class="num">3</td></tr>' in html
    assert staff_client.get("/admin/dashboard/ads/%00/").status_code == 400  # NUL middleware
    assert staff_client.get("/admin/dashboard/ads/*/").status_code == 404


def test_the_live_part_is_served_alone_for_the_auto_refresh(staff_client: Client) -> None:
    seed()
    live = staff_client.get("/admin/dashboard/", {**DAY, "partial": "1"}).content.decode()
    assert 'id="top-ads"' in live and "<html" not in live
    assert (
        'data-live-url="?range=custom'
        in staff_client.get("/admin/dashboard/", DAY).content.decode()
    )


def test_the_sidebar_links_the_dashboard(staff_client: Client) -> None:
    html = staff_client.get("/admin/stats/adminutecount/").content.decode()
    assert '<a href="/admin/dashboard/">Dashboard</a>' in html


@pytest.mark.parametrize(
    "url", ["/admin/dashboard/?range=30d", "/admin/dashboard/ads/ad-x1/?range=7d"]
)
def test_a_dashboard_page_runs_the_same_statements_whatever_the_data(
    staff_client: Client, url: str
) -> None:
    seed(ads=2, per_ad=5, day=datetime.now(UTC) - timedelta(days=2))

    def statements() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(url).status_code == 200
        return len(captured)

    small = statements()
    seed(ads=40, per_ad=200, day=datetime.now(UTC) - timedelta(days=6))
    assert statements() == small
    assert small <= 12


def test_the_ads_export_holds_every_ad_and_defuses_formula_cells(staff_client: Client) -> None:
    t = T0 + timedelta(hours=1)
    record_impressions(
        events=[AdImpressionEvent(1, uuid.uuid4(), f"ad-{i:04d}", "u", t) for i in range(1005)]
        + [AdImpressionEvent(1, uuid.uuid4(), "-A1", "u", t)]
    )
    ads = staff_client.get("/admin/dashboard/", {**DAY, "export": "ads"})
    rows = list(csv.DictReader(io.StringIO(ads.content.decode())))
    assert len(rows) == 1006
    assert "'-A1" in {r["ad_id"] for r in rows}


def test_the_chart_compares_whole_buckets_with_whole_buckets(staff_client: Client) -> None:
    record_impressions(
        events=[
            AdImpressionEvent(1, uuid.uuid4(), "ad-1", "u", T0 + timedelta(minutes=m))
            for m in range(-600, 600)
        ]
    )  # one impression a minute, 10 hours either side of T0 (09:30)
    query = {"range": "custom", "from": "2026-11-25T09:30:00Z", "to": "2026-11-25T13:30:00Z"}
    html = staff_client.get("/admin/dashboard/", {**query, "interval": "hour"}).content.decode()
    data = json.loads(html.split('id="chart-data" type="application/json">', 1)[1].split("<", 1)[0])
    assert data["current"] == [60, 60, 60, 60, 30]  # 09:00-13:30, floored to 09:00
    assert data["previous"] == [60, 60, 60, 60, 60]  # 04:00-09:00: five whole buckets


def test_the_unique_users_card_shows_no_change_under_a_day(staff_client: Client) -> None:
    seed()
    hour = {"range": "custom", "from": "2026-11-25T09:00:00Z", "to": "2026-11-25T10:00:00Z"}
    html = staff_client.get("/admin/dashboard/", hour).content.decode()
    assert "no change for a range under a day" in html
