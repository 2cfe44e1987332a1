"""The read side: stats endpoints need authentication; admin pages and the dashboard render."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from impressions.contract import AdImpressionEvent
from stats.offset_update import OffsetUpdate
from stats.services import record_impressions

pytestmark = pytest.mark.django_db

STATS_URLS = [
    "/api/stats/ads/",
    "/api/stats/ads/ad-1/",
    "/api/stats/ads/ad-1/series/",
    "/api/stats/pipeline/",
]


@pytest.mark.parametrize("url", STATS_URLS)
def test_anonymous_requests_are_refused(api_client: APIClient, url: str) -> None:
    response = api_client.get(url)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("url", STATS_URLS)
def test_a_bad_token_is_refused(api_client: APIClient, url: str) -> None:
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert api_client.get(url).status_code == 401


def test_session_login_works_too(staff_user: Any) -> None:
    client = APIClient()
    client.login(username="staff", password="staff-password")
    assert client.get("/api/stats/ads/").status_code == 200


def test_drf_create_token_command_issues_a_working_token(staff_user: Any, capsys: Any) -> None:
    call_command("drf_create_token", "staff")
    key = Token.objects.get(user=staff_user).key
    assert key in capsys.readouterr().out
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/stats/ads/").status_code == 200


def broker_unreachable(settings: Any) -> None:
    settings.KAFKA_BOOTSTRAP_SERVERS = ["127.0.0.1:1"]  # nothing listens there
    settings.KAFKA_ADMIN_TIMEOUT_SECONDS = 1.0


def seed() -> None:
    t = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    events = [
        AdImpressionEvent(1, uuid.uuid4(), ad, f"u{i % 3}", t + timedelta(minutes=i))
        for i, ad in enumerate(["ad-1"] * 5 + ["ad-2"] * 2)
    ]
    record_impressions(
        events=events, offsets=[OffsetUpdate("stats-service", "ad-impressions", 0, 7)]
    )


def test_range_ordering_and_pagination(stats_client: APIClient) -> None:
    seed()
    everything = stats_client.get("/api/stats/ads/").json()
    assert [(r["ad_id"], r["impressions"]) for r in everything["results"]] == [
        ("ad-1", 5),
        ("ad-2", 2),
    ]
    ranged = stats_client.get(
        "/api/stats/ads/", {"from": "2026-11-25T09:31:00Z", "to": "2026-11-25T09:33:00Z"}
    ).json()
    assert [(r["ad_id"], r["impressions"]) for r in ranged["results"]] == [("ad-1", 2)]
    by_id = stats_client.get("/api/stats/ads/", {"ordering": "-ad_id", "limit": "1"}).json()
    assert by_id["count"] == 2
    assert [r["ad_id"] for r in by_id["results"]] == ["ad-2"]
    detail = stats_client.get("/api/stats/ads/ad-1/", {"from": "2026-11-25"}).json()
    assert detail == {
        "ad_id": "ad-1",
        "impressions": 5,
        "unique_users": 3,
        "complete_through": None,
    }
    assert stats_client.get("/api/stats/ads/never-seen/").json()["impressions"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"from": "last tuesday"},
        {"from": "2026-11-25T10:00:00Z", "to": "2026-11-25T09:00:00Z"},
        {"ordering": "colour"},
    ],
)
def test_bad_query_parameters_are_400(stats_client: APIClient, params: dict[str, str]) -> None:
    response = stats_client.get("/api/stats/ads/", params)
    assert response.status_code == 400
    assert set(response.json()) & {"from", "to", "ordering"}


def test_series_defaults_and_limits(stats_client: APIClient) -> None:
    seed()
    daily = stats_client.get("/api/stats/ads/ad-1/series/", {"interval": "day"}).json()
    assert len(daily["buckets"]) == 30
    too_many = stats_client.get(
        "/api/stats/ads/ad-1/series/", {"interval": "minute", "from": "2020-01-01"}
    )
    assert too_many.status_code == 400
    assert stats_client.get("/api/stats/ads/ad-1/series/", {"interval": "week"}).status_code == 400


def test_pipeline_without_a_broker_still_shows_the_ledger(
    stats_client: APIClient, settings: Any
) -> None:
    seed()
    broker_unreachable(settings)
    body = stats_client.get("/api/stats/pipeline/").json()
    assert body["broker_available"] is False
    assert "kafka-local start" in body["error"]
    assert body["partitions"] == [
        {
            "partition": 0,
            "end_offset": None,
            "processed_offset": 7,
            "lag": None,
            "read_through": None,
            "verdict": None,
            "samples": 0,
            "expired_unrecorded": 0,
            "leader": None,
            "replicas": [],
            "in_sync_replicas": [],
            "under_replicated": None,
        }
    ]
    assert body["under_replicated_partitions"] is None
    assert body["verdict"] is None  # no lag without a broker, so no verdict


@pytest.fixture
def admin_client_logged_in(staff_user: Any) -> Client:
    client = Client()
    client.login(username="staff", password="staff-password")
    return client


def test_admin_index_links_the_dashboard(admin_client_logged_in: Client) -> None:
    assert b'href="/admin/dashboard/"' in admin_client_logged_in.get("/admin/").content


@pytest.mark.parametrize(
    ("url", "column", "expected"),
    [
        ("/admin/impressions/impression/", "ad_id", {"ad-1": 5, "ad-2": 2}),
        ("/admin/stats/adminutecount/", "ad_id", {"ad-1": 5, "ad-2": 2}),  # one minute each
        ("/admin/stats/addailyuser/", "ad_id", {"ad-1": 3, "ad-2": 2, "*": 3}),  # * = site-wide
        ("/admin/stats/partitionoffset/", "consumer_group", {"stats-service": 1}),
        ("/admin/impressions/impression/?q=ad-1", "ad_id", {"ad-1": 5}),
        ("/admin/stats/adminutecount/?q=ad-2", "ad_id", {"ad-2": 2}),
        ("/admin/stats/addailyuser/?q=u1", "user_id", {"u1": 2}),  # ad-1 and site-wide
    ],
)
def test_admin_pages_render_read_only(
    admin_client_logged_in: Client, url: str, column: str, expected: dict[str, int]
) -> None:
    seed()
    response = admin_client_logged_in.get(url)
    assert response.status_code == 200
    assert b"to view | " in response.content  # Django titles read-only changelists "... to view"
    html = response.content.decode()
    rows = html.split('id="result_list"')[1].split("<tbody>")[1].split("</tbody>")[0]
    cells = re.findall(rf'class="field-{column}[^"]*">(?:<a [^>]*>)?([^<]*)<', rows)
    assert Counter(cells) == expected  # every row listed, and nothing the search excludes
    assert rows.count("<tr") == sum(expected.values())


def test_dashboard_is_staff_only(api_client: APIClient, db: Any) -> None:
    response = Client().get("/admin/dashboard/")
    assert response.status_code == 302
    assert "/admin/login/" in response.headers["Location"]


def test_series_buckets_are_whole_and_ranges_must_be_ordered(stats_client: APIClient) -> None:
    seed()  # ad-1 at 09:30..09:34
    hourly = stats_client.get(
        "/api/stats/ads/ad-1/series/",
        {"interval": "hour", "from": "2026-11-25T09:33:00Z", "to": "2026-11-25T11:00:00Z"},
    ).json()
    assert hourly["from"] == "2026-11-25T09:00:00Z"
    assert hourly["buckets"][0] == {
        "start": "2026-11-25T09:00:00Z",
        "end": "2026-11-25T10:00:00Z",
        "impressions": 5,
        "partial": False,
        "final": False,  # no consumer has reported completeness
    }
    future = stats_client.get("/api/stats/ads/ad-1/series/", {"from": "2999-01-01"})
    assert future.status_code == 400


def test_page_size_is_capped(stats_client: APIClient) -> None:
    t = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    record_impressions(
        events=[AdImpressionEvent(1, uuid.uuid4(), f"ad-{i}", "u", t) for i in range(1005)]
    )
    response = stats_client.get("/api/stats/ads/", {"limit": "100000000"})
    assert response.status_code == 200
    assert response.json()["count"] == 1005
    assert len(response.json()["results"]) == 1000
    assert (
        stats_client.get("/api/stats/ads/", {"from": "0001-01-01T00:00:00+01:00"}).status_code
        == 400
    )


@pytest.mark.parametrize("params", [{"to": "0001-01-01T00:00:00Z"}, {"from": "9999-12-31"}])
def test_range_ends_near_the_calendar_limits_are_400(
    stats_client: APIClient, params: dict[str, str]
) -> None:
    for url in ("/api/stats/ads/", "/api/stats/ads/x/", "/api/stats/ads/x/series/"):
        assert stats_client.get(url, params).status_code == 400, url


@pytest.mark.parametrize("url", [*STATS_URLS, "/api/stats/ads/?ordering=ad_id&limit=1"])
def test_the_browsable_api_works_with_a_browser_session(
    admin_client_logged_in: Client, url: str
) -> None:
    seed()
    response = admin_client_logged_in.get(url, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"Log out" in response.content or b"logout" in response.content


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/stats/ads/?limit=abc", "limit"),
        ("/api/stats/ads/?limit=0", "limit"),
        ("/api/stats/ads/?offset=-1", "offset"),
        ("/api/stats/ads/?offset=9471087682236242824058311278592", "offset"),  # schemathesis
        ("/api/stats/ads/?from=2026-01-01%00", "from"),
        ("/api/stats/ads/%00/", "ad_id"),
        ("/api/stats/ads/%00/series/", "ad_id"),
        ("/api/stats/ads/" + "x" * 65 + "/", "ad_id"),
        ("/api/stats/ads/ad%0A/", "ad_id"),
        ("/api/stats/ads/*/", "ad_id"),  # the site-wide pseudo ad is not an ad
    ],
)
def test_bad_values_are_400_naming_the_parameter(
    stats_client: APIClient, url: str, field: str
) -> None:
    response = stats_client.get(url)
    assert response.status_code == 400
    assert field in response.json()


def test_the_pipeline_shows_only_the_configured_group_and_topic(
    stats_client: APIClient, settings: Any
) -> None:
    seed()
    broker_unreachable(settings)
    body = stats_client.get(
        "/api/stats/pipeline/", {"group": "other", "topic": "__consumer_offsets"}
    ).json()
    assert (body["consumer_group"], body["topic"]) == ("stats-service", "ad-impressions")


def test_the_landing_page_links_everything_a_newcomer_needs(client: Client, db: Any) -> None:
    html = client.get("/").content.decode()
    for href in ("/admin/dashboard/", "/demo/", "/api/docs/", "/healthz", "/admin/"):
        assert f'href="{href}"' in html
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize(
    "url",
    [
        "/admin/impressions/impression/?ad_id=%00",
        "/admin/stats/adminutecount/?q=a%00b",
        "/admin/dashboard/ads/a%00/",
    ],
)
def test_a_nul_in_a_page_address_is_a_400(admin_client_logged_in: Client, url: str) -> None:
    response = admin_client_logged_in.get(url)
    assert response.status_code == 400
    assert b"NUL" in response.content
