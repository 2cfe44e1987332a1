"""Every stats read runs the same small number of SQL statements whatever the data size."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from impressions.contract import AdImpressionEvent
from stats.services import record_impressions

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 5, 1, tzinfo=UTC)
# (url, query) pairs; token authentication itself is one statement of each request.
READS = [
    ("/api/stats/ads/", {"from": "2026-05-01", "to": "2026-05-31"}),
    ("/api/stats/ads/", {"from": "2026-05-01T10:17:00Z", "ordering": "-unique_users"}),
    ("/api/stats/ads/", {"offset": "100000"}),  # past the end: the count needs a second look
    ("/api/stats/ads/ad-3/", {"from": "2026-05-02T03:04:05Z", "to": "2026-05-29T21:00:00Z"}),
    (
        "/api/stats/ads/ad-3/series/",
        {"interval": "minute", "from": "2026-05-02", "to": "2026-05-03"},
    ),
    ("/api/stats/ads/ad-3/series/", {"interval": "hour", "from": "2026-05-01", "to": "2026-05-31"}),
    ("/api/stats/ads/ad-3/series/", {"interval": "day", "from": "2026-05-01", "to": "2026-05-31"}),
]


def fill(ads: int, per_ad: int) -> None:
    events = [
        AdImpressionEvent(
            1, uuid.uuid4(), f"ad-{a}", f"u{(a * 7 + i) % 50}", T0 + timedelta(minutes=i * 97)
        )
        for a in range(ads)
        for i in range(per_ad)
    ]
    record_impressions(events=events)


def statements(client: APIClient, url: str, params: Any) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params).status_code == 200
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.parametrize(("url", "params"), READS)
def test_a_read_runs_the_same_statements_on_small_and_larger_data(
    stats_client: APIClient, url: str, params: Any
) -> None:
    fill(ads=4, per_ad=10)
    small = statements(stats_client, url, params)
    fill(ads=60, per_ad=300)  # 18,000 events over three weeks
    larger = statements(stats_client, url, params)
    assert larger == small  # the same statements, whatever the data
    # the token lookup, the read, at most one count, and complete_through
    assert len(larger) <= 4


def test_the_pipeline_read_is_two_statements_besides_the_token(
    stats_client: APIClient, django_assert_num_queries: Any, settings: Any
) -> None:
    settings.KAFKA_BOOTSTRAP_SERVERS = ["127.0.0.1:1"]  # the broker part is not SQL
    settings.KAFKA_ADMIN_TIMEOUT_SECONDS = 0.5
    # the ledger with progress and lag samples; completeness
    with django_assert_num_queries(3):
        assert stats_client.get("/api/stats/pipeline/").status_code == 200
