"""The tracking pixel `/i.gif` and the demo page `/demo/` that embeds it.

The pixel goes through the to-be path (contract + publisher + consumer) on the real broker;
its refusals (bad parameters, throttle, no broker) are answered as text, never as a 500.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from impressions.demo import CATALOGUE, SLOTS
from impressions.models import Impression
from impressions.pixel import DEMO_USER_COOKIE, TRANSPARENT_GIF
from impressions.publisher import close_publisher
from stats.kafka_admin import end_offsets

# The throttle keeps its counts in the database cache.
pytestmark = pytest.mark.django_db

NO_STORE = "no-cache, no-store, must-revalidate"


def pixel(client: Client, method: str = "get", **params: str) -> Any:
    return getattr(client, method)("/i.gif", params)


def assert_gif(response: Any, *, body: bool = True) -> None:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "image/gif"
    assert response["Cache-Control"] == NO_STORE
    assert response["Pragma"] == "no-cache"
    assert response["Expires"] == "0"
    assert response["Content-Length"] == "43"
    assert response.content == (TRANSPARENT_GIF if body else b"")


def ad_totals(stats_client: APIClient, ad_id: str) -> dict[str, Any]:
    """One ad's counts from the API (without `complete_through`, which depends on the clock)."""
    response = stats_client.get(f"/api/stats/ads/{ad_id}/")
    assert response.status_code == 200, response.content
    body = dict(response.json())
    body.pop("complete_through")
    return body


@pytest.fixture
def no_broker(settings: Any) -> Any:
    """Nothing listens on the broker address: a request that wrongly publishes gets a 503."""
    settings.KAFKA_BOOTSTRAP_SERVERS = ["127.0.0.1:1"]
    settings.KAFKA_PUBLISH_TIMEOUT_SECONDS = 0.5
    close_publisher()
    yield settings
    close_publisher()


# --- through the broker and the consumer ---------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_pixel_is_counted_once_per_event_id(
    api_client: APIClient,
    stats_client: APIClient,
    topic: str,
    run_consumer: Callable[..., None],
) -> None:
    ad = f"px-{uuid.uuid4().hex[:8]}"
    first, second = str(uuid.uuid4()), str(uuid.uuid4())

    response = pixel(api_client, ad_id=ad, event_id=first, user_id="u-1")
    assert_gif(response)
    assert response["X-Event-Id"] == first
    assert_gif(pixel(api_client, ad_id=ad, event_id=first, user_id="u-1"))  # a resend
    assert_gif(pixel(api_client, ad_id=ad, event_id=second, user_id="u-2"))
    run_consumer()

    assert ad_totals(stats_client, ad) == {"ad_id": ad, "impressions": 2, "unique_users": 2}
    assert Impression.objects.filter(ad_id=ad).count() == 2


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_cookie_gives_the_user(
    api_client: APIClient,
    stats_client: APIClient,
    topic: str,
    run_consumer: Callable[..., None],
) -> None:
    ad = f"px-{uuid.uuid4().hex[:8]}"
    event_id = str(uuid.uuid4())
    api_client.cookies[DEMO_USER_COOKIE] = "visitor-from-cookie"

    assert_gif(pixel(api_client, ad_id=ad, event_id=event_id))
    run_consumer()

    assert ad_totals(stats_client, ad)["impressions"] == 1
    assert Impression.objects.get(event_id=event_id).user_id == "visitor-from-cookie"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_head_counts_nothing_and_publishes_nothing(
    api_client: APIClient,
    stats_client: APIClient,
    topic: str,
    kafka_servers: list[str],
    run_consumer: Callable[..., None],
) -> None:
    """Link-preview bots send HEAD: the GIF's headers, no record on the topic, no impression."""
    ad = f"px-{uuid.uuid4().hex[:8]}"
    for _ in range(3):
        head = pixel(api_client, "head", ad_id=ad, event_id=str(uuid.uuid4()), user_id="bot")
        assert_gif(head, body=False)
        assert "X-Event-Id" not in head
    counted = str(uuid.uuid4())
    assert_gif(pixel(api_client, ad_id=ad, event_id=counted, user_id="u-1"))  # then one view

    # The topic holds exactly the GET's record, and the consumer counts exactly that one.
    assert sum(end_offsets(topic).values()) == 1
    run_consumer()
    assert ad_totals(stats_client, ad)["impressions"] == 1
    assert [str(i.event_id) for i in Impression.objects.filter(ad_id=ad)] == [counted]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_demo_page_view_counts_one_impression_per_slot(
    client: Client,
    stats_client: APIClient,
    topic: str,
    run_consumer: Callable[..., None],
) -> None:
    """What a browser does: load /demo/, then each pixel it embeds (with the cookie)."""
    for _ in range(2):  # two views: twice the impressions, one user
        for url in pixel_urls(client.get("/demo/").content.decode()):
            assert_gif(client.get(url))
    run_consumer()

    rows = list(Impression.objects.values_list("ad_id", "user_id"))
    assert len(rows) == 2 * SLOTS
    assert len({user for _, user in rows}) == 1
    assert {user for _, user in rows} == {client.cookies[DEMO_USER_COOKIE].value}
    for ad_id in {ad for ad, _ in rows}:
        expected = sum(1 for ad, _ in rows if ad == ad_id)
        assert ad_totals(stats_client, ad_id)["impressions"] == expected


# --- refusals: never a 500 ---------------------------------------------------------------------


def test_unreachable_broker_is_503_with_retry_after(api_client: APIClient, no_broker: Any) -> None:
    event_id = str(uuid.uuid4())
    started = time.monotonic()
    response = pixel(api_client, ad_id="ad-1", event_id=event_id, user_id="u-1")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response["Retry-After"] == str(no_broker.INGEST_RETRY_AFTER_SECONDS)
    assert response["Content-Type"].startswith("text/plain")
    assert response["Cache-Control"] == NO_STORE
    assert event_id in response.content.decode()  # retry with the same id: counted once
    assert elapsed < no_broker.KAFKA_PUBLISH_TIMEOUT_SECONDS + 2.0, f"took {elapsed:.1f}s"
    # HEAD publishes nothing, so it does not need the broker either.
    head = pixel(api_client, "head", ad_id="ad-1", event_id=event_id, user_id="u-1")
    assert_gif(head, body=False)


UUID = "6f1c8a52-5d7e-4b8e-9a51-0d6f3c2b9a10"


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("user_id=u", "ad_id: required"),
        ("ad_id=&user_id=u", "ad_id: "),
        ("ad_id=a%20b&user_id=u", "ad_id: must be 1-64 characters of [A-Za-z0-9_.:-]"),
        ("ad_id=a%0A&user_id=u", "ad_id: must be 1-64 characters"),
        ("ad_id=a%00&user_id=u", "ad_id: "),
        ("ad_id=%FF%FE&user_id=u", "ad_id: "),  # not UTF-8: decoded to U+FFFD, then refused
        (f"ad_id={'a' * 65}&user_id=u", "ad_id: "),
        (f"ad_id={'a' * 100_000}&user_id=u", "ad_id: "),
        ("ad_id=a&ad_id=b&user_id=u", "ad_id: given 2 times"),
        ("ad_id=a", "user_id: required"),
        ("ad_id=a&user_id=", "user_id: "),
        ("ad_id=a&user_id=u%00", "user_id: must not contain NUL characters"),
        (f"ad_id=a&user_id={'u' * 129}", "user_id: "),
        ("ad_id=a&user_id=u&event_id=nope", "event_id: Invalid UUID"),
        ("ad_id=a&user_id=u&event_id=", "event_id: "),
        (f"ad_id=a&user_id=u&event_id={UUID}%00", "event_id: "),
        (f"ad_id=a&user_id=u&event_id={UUID * 1000}", "event_id: "),
        ("&".join(f"p{i}=x" for i in range(1500)) + "&ad_id=a&user_id=u", "query: "),
    ],
)
@pytest.mark.parametrize("method", ["get", "head"])
def test_bad_parameters_are_400_with_the_reason_as_text(
    client: Client, no_broker: Any, query: str, reason: str, method: str
) -> None:
    response = getattr(client, method)(f"/i.gif?{query}")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Cache-Control"] == NO_STORE
    if method == "get":
        assert response.content.decode().startswith(reason), response.content


def test_the_pixel_shares_the_ingest_throttle(client: Client, settings: Any) -> None:
    settings.INGEST_THROTTLE_RATE = "2/minute"
    cache.clear()
    try:
        codes = [client.get("/i.gif", {"user_id": "u"}).status_code for _ in range(3)]
        throttled = client.get("/i.gif", {"user_id": "u"})
    finally:
        cache.clear()
    assert codes == [400, 400, 429]
    assert throttled["Content-Type"].startswith("text/plain")
    assert int(throttled["Retry-After"]) >= 1


def test_other_methods_are_refused(client: Client) -> None:
    assert client.post("/i.gif", {"ad_id": "a", "user_id": "u"}).status_code == 405


# --- the demo page -------------------------------------------------------------------------------


def pixel_urls(html: str) -> list[str]:
    return [unescape(src) for src in re.findall(r'<img class="pixel" src="([^"]+)"', html)]


def test_demo_page_sets_the_cookie_and_embeds_one_pixel_per_slot(client: Client) -> None:
    response = client.get("/demo/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    cookie = response.cookies[DEMO_USER_COOKIE]
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == 365 * 24 * 60 * 60
    assert cookie["httponly"]
    user_id = cookie.value

    urls = pixel_urls(response.content.decode())
    assert len(urls) == SLOTS
    queries = [parse_qs(urlsplit(url).query, strict_parsing=True) for url in urls]
    assert all(urlsplit(url).path == "/i.gif" for url in urls)
    assert {q["user_id"][0] for q in queries} == {user_id}
    event_ids = [q["event_id"][0] for q in queries]
    assert len(set(event_ids)) == SLOTS
    assert all(uuid.UUID(e).version == 7 for e in event_ids)  # made by the server, in order
    ads = [q["ad_id"][0] for q in queries]
    assert len(set(ads)) == SLOTS
    assert set(ads) <= {ad.ad_id for ad in CATALOGUE}
    assert [q["placement"][0] for q in queries] == [f"demo-slot-{i}" for i in range(1, SLOTS + 1)]

    # The next view keeps the user (no new cookie) and makes new event ids.
    again = client.get("/demo/")
    assert DEMO_USER_COOKIE not in again.cookies
    again_queries = [parse_qs(urlsplit(u).query) for u in pixel_urls(again.content.decode())]
    assert {q["user_id"][0] for q in again_queries} == {user_id}
    assert not {q["event_id"][0] for q in again_queries} & set(event_ids)


def test_demo_page_replaces_an_unusable_cookie(client: Client) -> None:
    client.cookies[DEMO_USER_COOKIE] = "not a valid id\x7f"
    response = client.get("/demo/")
    assert response.cookies[DEMO_USER_COOKIE].value.startswith("visitor-")


def test_demo_page_is_self_contained_and_script_free(client: Client) -> None:
    html = client.get("/demo/").content.decode()
    assert "<script" not in html.lower()
    assert re.search(r"\son[a-z]+\s*=", html, re.IGNORECASE) is None  # no inline handlers
    assert "style=" not in html
    links = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert links, html
    for link in links:
        assert not re.match(r"^([a-z][a-z0-9+.-]*:|//)", link, re.IGNORECASE), link
    for path in ("/", "/admin/dashboard/"):
        assert f'href="{path}"' in html
    assert "Reload the page for more impressions" in html
    # Every same-origin resource it loads exists (creatives and stylesheet).
    for link in re.findall(
        r'(?:<img class="creative" src|<link rel="stylesheet" href)="([^"]+)"', html
    ):
        assert client.get(link).status_code == 200, link
