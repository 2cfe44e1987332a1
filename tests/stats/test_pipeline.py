"""End to end on the real broker: the to-be path counts exactly what the as-is path counts."""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from impressions.models import Impression
from stats.models import STATISTICS, PartitionOffset
from tests.conftest import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

T0 = datetime(2026, 11, 24, 23, 40, tzinfo=UTC)  # the events span midnight UTC


def make_events(n: int, *, ads: int, users: int, minutes: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "ad_id": f"ad-{rng.randrange(ads)}",
            "user_id": f"user-{rng.randrange(users)}",
            "timestamp": (T0 + timedelta(seconds=rng.randrange(minutes * 60))).isoformat(),
        }
        for _ in range(n)
    ]


def post_all(client: APIClient, path: str, events: list[dict[str, Any]], expect: int) -> None:
    for start in range(0, len(events), 1000):
        response = client.post(path, events[start : start + 1000], format="json")
        assert response.status_code == expect, response.content


def api_snapshot(client: APIClient, ads: list[str]) -> dict[str, Any]:
    """What an API user sees: per-ad totals, and per-ad minute series around T0.

    Without `final`: completeness is reported by the consumer, so only a to-be run has it.
    """
    listing = client.get("/api/stats/ads/", {"limit": "1000", "ordering": "ad_id"}).json()
    series = {
        ad: [
            {key: value for key, value in bucket.items() if key != "final"}
            for bucket in client.get(
                f"/api/stats/ads/{ad}/series/",
                {
                    "interval": "minute",
                    "from": "2026-11-24T23:30:00Z",
                    "to": "2026-11-25T00:40:00Z",
                },
            ).json()["buckets"]
        ]
        for ad in ads
    }
    return {"totals": listing["results"], "series": series}


def wipe_statistics() -> None:
    for model in (Impression, *STATISTICS, PartitionOffset):
        model.objects.all().delete()


def test_as_is_and_to_be_give_identical_statistics(
    api_client: APIClient, stats_client: APIClient, topic: str, run_consumer: Callable[..., None]
) -> None:
    events = make_events(1500, ads=5, users=40, minutes=45, seed=1)
    ads = sorted({e["ad_id"] for e in events})

    post_all(api_client, "/api/impressions/sync/", events, expect=201)
    as_is = api_snapshot(stats_client, ads)
    wipe_statistics()

    post_all(api_client, "/api/impressions/", events, expect=202)
    run_consumer()
    to_be = api_snapshot(stats_client, ads)

    assert sum(row["impressions"] for row in as_is["totals"]) == 1500
    assert to_be == as_is


def test_thousands_of_events_are_counted_exactly(
    api_client: APIClient, stats_client: APIClient, topic: str, run_consumer: Callable[..., None]
) -> None:
    events = make_events(6000, ads=12, users=300, minutes=50, seed=2)
    post_all(api_client, "/api/impressions/", events, expect=202)
    run_consumer()

    per_ad = Counter(e["ad_id"] for e in events)
    users_per_ad: dict[str, set[str]] = defaultdict(set)
    per_minute: Counter[tuple[str, str]] = Counter()
    for e in events:
        users_per_ad[e["ad_id"]].add(e["user_id"])
        moment = datetime.fromisoformat(e["timestamp"]).replace(second=0)
        per_minute[(e["ad_id"], moment.strftime("%Y-%m-%dT%H:%M:%SZ"))] += 1

    listing = stats_client.get("/api/stats/ads/", {"limit": 100}).json()
    assert listing["count"] == len(per_ad)
    assert {r["ad_id"]: r["impressions"] for r in listing["results"]} == dict(per_ad)
    assert {r["ad_id"]: r["unique_users"] for r in listing["results"]} == {
        ad: len(users) for ad, users in users_per_ad.items()
    }
    for ad in ("ad-0", "ad-7"):
        buckets = stats_client.get(
            f"/api/stats/ads/{ad}/series/",
            {"interval": "minute", "from": "2026-11-24T23:40:00Z", "to": "2026-11-25T00:30:00Z"},
        ).json()["buckets"]
        assert len(buckets) == 50
        assert {b["start"]: b["impressions"] for b in buckets if b["impressions"]} == {
            minute: n for (a, minute), n in per_minute.items() if a == ad
        }
    hourly = stats_client.get(
        "/api/stats/ads/ad-3/series/",
        {"interval": "hour", "from": "2026-11-24T23:00:00Z", "to": "2026-11-25T01:00:00Z"},
    ).json()["buckets"]
    assert sum(b["impressions"] for b in hourly) == per_ad["ad-3"]

    # Resending a batch with the same event ids changes nothing.
    before = listing["results"]
    post_all(api_client, "/api/impressions/", events[:1000], expect=202)
    run_consumer()
    assert stats_client.get("/api/stats/ads/", {"limit": 100}).json()["results"] == before
    assert Impression.objects.count() == 6000

    pipeline = stats_client.get("/api/stats/pipeline/", {"topic": topic}).json()
    assert pipeline["broker_available"] is True
    assert pipeline["total_lag"] == 0
    assert sum(p["processed_offset"] for p in pipeline["partitions"]) == 7000


def test_one_ad_stays_in_one_partition(
    api_client: APIClient, topic: str, run_consumer: Callable[..., None], kafka_servers: list[str]
) -> None:

    events = make_events(300, ads=6, users=10, minutes=5, seed=3)
    post_all(api_client, "/api/impressions/", events, expect=202)
    records = read_topic(kafka_servers, topic, expect=300)
    partitions: dict[bytes, set[int]] = defaultdict(set)
    for record in records:
        partitions[record.key].add(record.partition)
    assert len(records) == 300
    assert all(len(p) == 1 for p in partitions.values())
    assert set(partitions) == {e["ad_id"].encode() for e in events}
