"""Both ingest endpoints: status codes, error bodies, limits; the to-be path with a dead broker."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from impressions.models import Impression
from impressions.publisher import close_publisher
from stats.models import AdMinuteCount

pytestmark = pytest.mark.django_db


def test_sync_records_in_the_request(api_client: APIClient) -> None:
    response = api_client.post(
        "/api/impressions/sync/", [{"ad_id": "ad-1", "user_id": "u1"}] * 3, format="json"
    )
    assert response.status_code == 201
    assert response.json()["accepted"] == 3
    assert Impression.objects.count() == 3
    assert sum(AdMinuteCount.objects.values_list("impressions", flat=True)) == 3


@pytest.mark.parametrize("path", ["/api/impressions/", "/api/impressions/sync/"])
def test_invalid_event_is_400_naming_field_and_index(api_client: APIClient, path: str) -> None:
    body = [{"ad_id": "ad-1", "user_id": "u1"}, {"ad_id": "ad 2", "user_id": "u2"}]
    response = api_client.post(path, body, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "ad_id"
    assert response.json()["index"] == 1
    assert Impression.objects.count() == 0  # nothing of a rejected request is kept


@pytest.mark.parametrize("path", ["/api/impressions/", "/api/impressions/sync/"])
def test_malformed_json_is_400(api_client: APIClient, path: str) -> None:
    response = api_client.post(path, "{oops", content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/api/impressions/", "/api/impressions/sync/"])
def test_too_many_events_is_413(api_client: APIClient, path: str, settings: Any) -> None:
    settings.INGEST_MAX_EVENTS = 5
    response = api_client.post(path, [{"ad_id": "a", "user_id": "u"}] * 6, format="json")
    assert response.status_code == 413
    assert "limit is 5" in response.json()["detail"]


def test_too_large_body_is_413(api_client: APIClient, settings: Any) -> None:
    settings.INGEST_MAX_BODY_BYTES = 1000
    body = [{"ad_id": "a", "user_id": "u" * 100}] * 20
    response = api_client.post("/api/impressions/sync/", body, format="json")
    assert response.status_code == 413
    assert Impression.objects.count() == 0


def test_ingest_is_throttled(api_client: APIClient, settings: Any) -> None:
    settings.INGEST_THROTTLE_RATE = "2/minute"

    cache.clear()
    codes = [
        api_client.post(
            "/api/impressions/sync/", {"ad_id": "a", "user_id": "u"}, format="json"
        ).status_code
        for _ in range(3)
    ]
    cache.clear()
    assert codes == [201, 201, 429]


def test_unreachable_broker_is_503_within_the_bound(api_client: APIClient, settings: Any) -> None:
    settings.KAFKA_BOOTSTRAP_SERVERS = ["127.0.0.1:1"]  # nothing listens there
    settings.KAFKA_PUBLISH_TIMEOUT_SECONDS = 2.0
    close_publisher()
    try:
        started = time.monotonic()
        response = api_client.post(
            "/api/impressions/", {"ad_id": "ad-1", "user_id": "u1"}, format="json"
        )
        elapsed = time.monotonic() - started
    finally:
        close_publisher()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(settings.INGEST_RETRY_AFTER_SECONDS)
    assert response.json()["accepted"] == 0
    assert len(response.json()["event_ids"]) == 1  # so the client can retry idempotently
    assert elapsed < settings.KAFKA_PUBLISH_TIMEOUT_SECONDS + 2.0, f"took {elapsed:.1f}s"


def test_503_body_can_be_resent_as_is(api_client: APIClient, settings: Any) -> None:
    settings.KAFKA_BOOTSTRAP_SERVERS = ["127.0.0.1:1"]
    settings.KAFKA_PUBLISH_TIMEOUT_SECONDS = 1.0
    close_publisher()
    try:
        refused = api_client.post(
            "/api/impressions/", [{"ad_id": "a", "user_id": "u1"}] * 2, format="json"
        )
    finally:
        close_publisher()
    assert refused.status_code == 503
    retry_body = refused.json()["retry_body"]
    assert [e["event_id"] for e in retry_body] == refused.json()["event_ids"]
    # Resent through the as-is path here (no broker needed): same ids and times, all valid.
    resent = api_client.post("/api/impressions/sync/", retry_body, format="json")
    assert resent.status_code == 201
    assert resent.json()["event_ids"] == refused.json()["event_ids"]
    stored = Impression.objects.get(event_id=retry_body[0]["event_id"])
    assert stored.occurred_at.isoformat().replace("+00:00", "Z") == retry_body[0]["timestamp"]


def test_a_made_up_forwarded_for_header_does_not_dodge_the_throttle(
    api_client: APIClient, settings: Any
) -> None:
    settings.INGEST_THROTTLE_RATE = "2/minute"
    cache.clear()
    codes = [
        api_client.post(
            "/api/impressions/sync/",
            {"ad_id": "a", "user_id": "u"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"10.0.0.{i}",
        ).status_code
        for i in range(3)
    ]
    cache.clear()
    assert codes == [201, 201, 429]


@pytest.mark.parametrize("path", ["/api/impressions/sync/", "/api/impressions/"])
def test_an_event_id_repeated_within_one_request_is_refused(
    api_client: APIClient, path: str
) -> None:
    event_id = str(uuid.uuid4())
    body = [
        {"event_id": event_id, "ad_id": "ad-1", "user_id": "u"},
        {"event_id": event_id, "ad_id": "ad-2", "user_id": "u"},
    ]
    response = api_client.post(path, body, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "error": "event_id repeats the event at index 0",
        "field": "event_id",
        "index": 1,
    }
