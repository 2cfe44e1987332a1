"""`GET /readyz`: 200 while the database and the broker answer; 503 naming what failed, within
READINESS_CHECK_TIMEOUT_SECONDS; one more check is one more line in READINESS_CHECKS."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from django.test import Client

from adsite import readiness
from stats.dead_letter_services import breaker_open, breakers_clear
from stats.kafka_admin import _clients


def readyz(client: Client) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    response = client.get("/readyz")
    return response.status_code, response.json(), time.monotonic() - started


@pytest.mark.integration
@pytest.mark.django_db
def test_ready_when_the_database_and_the_broker_answer(client: Client, topic: str) -> None:
    status, body, _ = readyz(client)
    assert status == 200, body
    assert body == {
        "status": "ready",
        "checks": {"database": "ok", "broker": "ok", "dead_letter_breakers": "ok"},
    }
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.django_db
def test_an_unreachable_broker_is_a_503_naming_it_within_the_bound(
    client: Client, settings: Any
) -> None:
    settings.KAFKA_BOOTSTRAP_SERVERS = ["127.0.0.1:1"]  # nothing listens there
    settings.READINESS_CHECK_TIMEOUT_SECONDS = 1.0
    status, body, elapsed = readyz(client)
    assert status == 503
    assert body["status"] == "not ready"
    assert body["failed"] == ["broker"]
    assert body["checks"]["database"] == "ok"
    assert elapsed < 1.0 + 1.0, f"took {elapsed:.1f}s"
    with _clients.lock:  # the abandoned check gives up on its own bound; the next test waits
        pass


@pytest.mark.integration
@pytest.mark.django_db
def test_a_missing_topic_is_not_ready(
    client: Client, kafka_servers: list[str], settings: Any
) -> None:
    settings.IMPRESSIONS_TOPIC = f"test-absent-{uuid.uuid4().hex[:10]}"
    status, body, _ = readyz(client)
    assert status == 503
    assert body["failed"] == ["broker"]
    assert "does not exist yet" in body["checks"]["broker"]


@pytest.mark.django_db
def test_a_check_that_hangs_fails_at_the_bound(
    client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.READINESS_CHECK_TIMEOUT_SECONDS = 0.5
    checks = [("database", readiness.database_answers), ("slow", lambda: time.sleep(3))]
    monkeypatch.setattr("adsite.views.READINESS_CHECKS", checks)
    status, body, elapsed = readyz(client)
    assert status == 503
    assert body["checks"] == {"database": "ok", "slow": "no answer within 0.5s"}
    assert elapsed < 1.5, f"took {elapsed:.1f}s"


@pytest.mark.django_db
def test_one_more_check_is_one_more_line(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """As the lead adds the consumer's dead-letter breakers at merge."""

    def breakers_closed() -> None:
        open_ones = ["ad-impressions[1]"]
        if open_ones:
            raise RuntimeError(f"dead-letter breaker open for {', '.join(open_ones)}")

    checks = [("database", readiness.database_answers), ("dead_letter_breakers", breakers_closed)]
    monkeypatch.setattr("adsite.views.READINESS_CHECKS", checks)
    status, body, _ = readyz(client)
    assert status == 503
    assert body["failed"] == ["dead_letter_breakers"]
    assert body["checks"]["dead_letter_breakers"] == (
        "RuntimeError: dead-letter breaker open for ad-impressions[1]"
    )


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)  # the checks run in threads, on their own connections
def test_an_open_dead_letter_breaker_is_not_ready_until_cleared(
    client: Client, topic: str, group: str
) -> None:
    breaker_open(consumer_group=group, topic=topic, partition=1, held_at=7, reason="600 of 1000")
    status, body, _ = readyz(client)
    assert status == 503
    assert body["failed"] == ["dead_letter_breakers"]
    assert "600 of 1000" in body["checks"]["dead_letter_breakers"]
    breakers_clear(consumer_group=group, topic=topic, partitions=[1])
    status, body, _ = readyz(client)
    assert status == 200, body
