"""Statistics filtered by placement (contract v2): exact, and no cost to the unfiltered path.

Events with and without a placement, recorded in shuffled batches (late events included, and
resent ones), are read back through the API with and without `?placement=`; every total must
equal the count computed from the events sent. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from msgspec import UNSET
from rest_framework.test import APIClient

from impressions.contract import AdImpressionEvent
from stats import selectors
from stats.bucketing import day_of, days_touched
from stats.placement_models import PLACEMENT_STATISTICS, PlacementDailyReach
from stats.services import record_impressions

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 9, 22, 0, tzinfo=UTC)
PLACEMENTS = ["home-top", "sidebar", "article:inline"]
RANGES = [
    (None, None),
    (T0, T0 + timedelta(days=3)),
    (T0 + timedelta(hours=1, minutes=17), T0 + timedelta(days=1, hours=2, minutes=3)),
    (T0 + timedelta(minutes=5), T0 + timedelta(minutes=50)),
    (T0 + timedelta(days=1), None),
]


def sent_events(seed: int = 12) -> list[AdImpressionEvent]:
    rng = random.Random(seed)
    events = []
    for _ in range(600):
        placement = rng.choice([*PLACEMENTS, None, None])
        events.append(
            AdImpressionEvent(
                2,
                uuid.UUID(int=rng.getrandbits(128)),
                f"ad-{rng.randrange(5)}",
                f"u{rng.randrange(40)}",
                T0 + timedelta(seconds=rng.randrange(3 * 86400)),
                placement=placement if placement is not None else UNSET,
                device=rng.choice(["mobile", "desktop"]),
            )
        )
    return events


def record_shuffled(events: list[AdImpressionEvent], seed: int = 3) -> None:
    """In batches of random size and order (so later days often arrive first), plus a resend."""
    rng = random.Random(seed)
    shuffled = events[:]
    rng.shuffle(shuffled)
    while shuffled:
        size = rng.randrange(1, 90)
        batch, shuffled = shuffled[:size], shuffled[size:]
        record_impressions(events=batch + rng.sample(events, 5))  # 5 already-sent events too


def brute(
    events: Sequence[AdImpressionEvent],
    start: datetime | None,
    end: datetime | None,
    placement: str | None,
    ad_id: str | None = None,
) -> tuple[int, int]:
    """(impressions in [start, end), distinct users over the UTC days the range touches)."""
    first, last = days_touched(start, end)
    chosen = [
        e
        for e in events
        if (placement is None or e.placement == placement) and (ad_id is None or e.ad_id == ad_id)
    ]
    impressions = sum(
        1
        for e in chosen
        if (start is None or e.timestamp >= start) and (end is None or e.timestamp < end)
    )
    users = {
        e.user_id
        for e in chosen
        if (first is None or day_of(e.timestamp) >= first)
        and (last is None or day_of(e.timestamp) <= last)
    }
    return impressions, len(users)


def query(start: datetime | None, end: datetime | None, placement: str | None) -> dict[str, str]:
    given = {"from": start, "to": end, "placement": placement}
    return {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in given.items()
        if v is not None
    }


@pytest.mark.parametrize("placement", [None, *PLACEMENTS, "never-used"])
def test_filtered_totals_equal_the_events_sent(
    stats_client: APIClient, placement: str | None
) -> None:
    events = sent_events()
    record_shuffled(events)
    for start, end in RANGES:
        params = query(start, end, placement)
        page = stats_client.get("/api/stats/ads/", {**params, "limit": "1000"}).json()
        listed = {
            row["ad_id"]: (row["impressions"], row["unique_users"]) for row in page["results"]
        }
        expected = {
            ad: brute(events, start, end, placement, ad) for ad in sorted({e.ad_id for e in events})
        }
        assert listed == {ad: counts for ad, counts in expected.items() if counts[0]}, params
        for ad in ("ad-0", "ad-4"):
            detail = stats_client.get(f"/api/stats/ads/{ad}/", params).json()
            assert (detail["impressions"], detail["unique_users"]) == expected[ad], params
        totals = selectors.overall_totals(start=start, end=end, placement=placement)
        assert (totals["impressions"], totals["unique_users"]) == brute(
            events, start, end, placement
        )


def test_filtered_series_and_daily_users_equal_the_events_sent(stats_client: APIClient) -> None:
    events = sent_events(seed=5)
    record_shuffled(events, seed=8)
    for interval, step in (("hour", timedelta(hours=1)), ("day", timedelta(days=1))):
        start = T0 - timedelta(hours=22) if interval == "day" else T0
        end = start + (timedelta(days=4) if interval == "day" else timedelta(hours=30))
        body = stats_client.get(
            "/api/stats/ads/ad-2/series/",
            {**query(start, end, "sidebar"), "interval": interval},
        ).json()
        for bucket in body["buckets"]:
            low = datetime.fromisoformat(bucket["start"].replace("Z", "+00:00"))
            assert bucket["impressions"] == brute(events, low, low + step, "sidebar", "ad-2")[0]
    first, last = day_of(T0), day_of(T0) + timedelta(days=3)
    daily = selectors.daily_unique_users(ad_id="ad-1", first=first, last=last, placement="home-top")
    for row in daily:
        day_start = datetime(row["day"].year, row["day"].month, row["day"].day, tzinfo=UTC)  # type: ignore[attr-defined]
        assert (
            row["unique_users"]
            == brute(events, day_start, day_start + timedelta(days=1), "home-top", "ad-1")[1]
        )
    assert not PlacementDailyReach.objects.filter(users__lte=0).exists()  # every row counts someone


def test_events_without_a_placement_touch_no_placement_table() -> None:
    plain = [
        AdImpressionEvent(1, uuid.uuid4(), "ad-1", f"u{i}", T0 + timedelta(minutes=i))
        for i in range(20)
    ]
    with CaptureQueriesContext(connection) as recorded:
        assert record_impressions(events=plain) == 20
    tables = [model._meta.db_table for model in PLACEMENT_STATISTICS]
    statements = " ".join(q["sql"] for q in recorded.captured_queries)
    assert not any(table in statements for table in tables)
    assert "rec_placed" not in statements
    assert all(not model.objects.exists() for model in PLACEMENT_STATISTICS)


@pytest.mark.parametrize("placement", [None, "home-top"])
def test_reads_run_one_statement_with_or_without_a_placement(
    placement: str | None, django_assert_num_queries: Any
) -> None:
    record_shuffled(sent_events(seed=1)[:100])
    start, end = T0 + timedelta(minutes=7), T0 + timedelta(days=2, hours=3)
    with django_assert_num_queries(1) as captured:
        selectors.ad_totals_page(start=start, end=end, placement=placement)
    with django_assert_num_queries(1):
        selectors.ad_totals_get(ad_id="ad-1", start=start, end=end, placement=placement)
    with django_assert_num_queries(1):
        selectors.overall_totals(start=start, end=end, placement=placement)
    uses_placement_tables = "placement" in captured.captured_queries[0]["sql"].lower()
    assert uses_placement_tables == (placement is not None)  # the unfiltered SQL is unchanged


@pytest.mark.parametrize("bad", ["", "a b", "x" * 65, "top\n", "*"])
def test_a_placement_that_breaks_the_contract_is_a_400(stats_client: APIClient, bad: str) -> None:
    for url in ("/api/stats/ads/", "/api/stats/ads/ad-1/", "/api/stats/ads/ad-1/series/"):
        response = stats_client.get(url, {"placement": bad})
        assert response.status_code == 400, url
        assert "placement" in response.json()


@pytest.fixture
def staff_client(staff_user: Any, settings: Any) -> Client:
    settings.KAFKA_BOOTSTRAP_SERVERS = ["127.0.0.1:1"]  # the pipeline panel: no broker needed
    settings.KAFKA_ADMIN_TIMEOUT_SECONDS = 0.5
    client = Client()
    client.force_login(staff_user)
    return client


def test_the_dashboard_filters_by_placement_and_keeps_it_in_its_links(
    staff_client: Client,
) -> None:
    events = sent_events(seed=9)
    record_shuffled(events)
    start, end = T0, T0 + timedelta(days=1)
    window = {"range": "custom", "from": "2026-03-09T22:00:00Z", "to": "2026-03-10T22:00:00Z"}
    for placement in (None, "sidebar"):
        given = {**window, "placement": placement} if placement else window
        html = staff_client.get("/admin/dashboard/", given).content.decode()
        impressions, users = brute(events, start, end, placement)
        assert f'<div class="card-value" data-value="{impressions}">' in html
        assert f'<div class="card-value" data-value="{users}">' in html
        detail = staff_client.get("/admin/dashboard/ads/ad-3/", given).content.decode()
        assert f'data-value="{brute(events, start, end, placement, "ad-3")[0]}"' in detail
    assert "&amp;placement=sidebar" in html  # the live part, exports and interval links keep it
    assert 'id="placement-active"' in html and "in placement sidebar" in html
    ads_csv = staff_client.get(
        "/admin/dashboard/", {**window, "placement": "sidebar", "export": "ads"}
    )
    rows = list(csv.reader(io.StringIO(ads_csv.content.decode())))[1:]
    assert {r[0]: int(r[1]) for r in rows} == {
        ad: n
        for ad in sorted({e.ad_id for e in events})
        if (n := brute(events, start, end, "sidebar", ad)[0])
    }
    refused = staff_client.get("/admin/dashboard/", {**window, "placement": "no spaces"})
    assert refused.status_code == 200
    assert 'id="range-errors"' in refused.content.decode()
