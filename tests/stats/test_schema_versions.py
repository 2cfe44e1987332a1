"""Contract v1 and v2 on one topic, on the real broker: the consumer counts both, counts the v2
placements, and dead-letters a version it does not know with a reason that says so; the API
takes v1 and v2 bodies and publishes v2 (and so does the pixel)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import Client
from kafka import KafkaProducer
from rest_framework.test import APIClient

from stats import selectors
from stats.kafka_admin import dead_letter_topic
from tests.conftest import read_topic
from tests.stats.topic_data import counted_per_ad

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GOLDEN = Path(__file__).resolve().parents[1] / "impressions" / "golden"
# In the order they go on the topic (one partition): versions mixed, the unknown one between.
ON_THE_TOPIC = [
    "v1.json",
    "v2-full.json",
    "v3-unknown.json",
    "v2-without-options.json",
    "v1-offset-zone.json",
    "v2-device-only.json",
]


def test_the_consumer_reads_v1_and_v2_from_one_topic_and_dead_letters_v3(
    raw_producer: KafkaProducer,
    topic: str,
    run_consumer: Callable[..., None],
    kafka_servers: list[str],
) -> None:
    values = [(GOLDEN / name).read_bytes().rstrip(b"\n") for name in ON_THE_TOPIC]
    for value in values:
        raw_producer.send(topic, key=b"k", value=value, partition=0)
    raw_producer.flush()
    run_consumer()

    assert counted_per_ad() == {
        "ad-1": 1,
        "ad-2": 1,
        "ad-3": 1,
        "ad-4": 1,
        "Campaign_7.banner:top-1": 1,
    }
    home_top = selectors.overall_totals(placement="home-top")
    assert (home_top["impressions"], home_top["unique_users"], home_top["ads"]) == (1, 1, 1)
    assert selectors.ad_totals_get(ad_id="ad-3", placement="home-top")["impressions"] == 1
    assert selectors.ad_totals_get(ad_id="ad-1", placement="home-top")["impressions"] == 0

    dead = read_topic(kafka_servers, dead_letter_topic(topic), expect=1, timeout_s=10)
    assert [record.value for record in dead] == [values[2]]  # the v3 record, as it was
    reason = dict(dead[0].headers)["dlq.reason"].decode()
    assert reason == (
        "schema_version: unknown schema_version 3: this code reads versions 1 and 2 only"
    )


def test_the_api_takes_v1_and_v2_bodies_and_publishes_v2(
    api_client: APIClient,
    topic: str,
    run_consumer: Callable[..., None],
    kafka_servers: list[str],
) -> None:
    bodies = [
        {"ad_id": "ad-a", "user_id": "u1"},  # v1 without a version
        {"schema_version": 1, "ad_id": "ad-a", "user_id": "u2"},
        {"schema_version": 2, "ad_id": "ad-a", "user_id": "u3", "placement": "sidebar"},
        {"ad_id": "ad-b", "user_id": "u1", "placement": "sidebar", "device": "tablet"},
        {"ad_id": "ad-b", "user_id": "u4", "campaign_id": "c-1"},
    ]
    response = api_client.post("/api/impressions/", bodies, format="json")
    assert response.status_code == 202, response.content
    refused = api_client.post(
        "/api/impressions/", {"schema_version": 3, "ad_id": "x", "user_id": "u"}, format="json"
    )
    assert refused.status_code == 400
    assert refused.json()["field"] == "schema_version"
    assert "unknown schema_version 3" in refused.json()["error"]
    pixel = Client().get("/i.gif", {"ad_id": "ad-c", "user_id": "u5", "placement": "sidebar"})
    assert pixel.status_code == 200

    published = [json.loads(r.value) for r in read_topic(kafka_servers, topic, expect=6)]
    assert {record["schema_version"] for record in published} == {2}
    assert sorted(r.get("placement", "-") for r in published) == ["-", "-", "-"] + ["sidebar"] * 3
    assert all(None not in record.values() for record in published)  # absent, never null

    run_consumer()
    assert counted_per_ad() == {"ad-a": 3, "ad-b": 2, "ad-c": 1}
    sidebar = selectors.overall_totals(placement="sidebar")
    assert (sidebar["impressions"], sidebar["unique_users"], sidebar["ads"]) == (3, 3, 3)
    rows = selectors.ad_totals_page(placement="sidebar").rows
    assert {r["ad_id"]: (r["impressions"], r["unique_users"]) for r in rows} == {
        "ad-a": (1, 1),
        "ad-b": (1, 1),
        "ad-c": (1, 1),
    }
