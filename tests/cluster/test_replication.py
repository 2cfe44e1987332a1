"""Replication on a real three-broker cluster: SIGKILL a partition's leader while the to-be API
ingests, restart it, and every event answered 202 is counted exactly once; with two of the three
brokers down the API answers 503 within its bound, never 202. The pipeline API and dashboard flag
the under-replicated partitions meanwhile."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from impressions.models import Impression
from stats.kafka_admin import partition_replicas
from tests.cluster.conftest import min_insync_replicas, node_control, start_node_in_background
from tests.stats.topic_data import counted_per_ad, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

BATCH = 10  # events per request
BOUND = 3.0  # KAFKA_PUBLISH_TIMEOUT_SECONDS in this test
SLACK = 5.0  # generous: the machine is shared; the point is "bounded", not "fast"


@dataclass
class Sender:
    """Posts batches of new events to the to-be API and remembers every event's answer."""

    client: APIClient
    accepted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    ads: dict[str, str] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    slowest_refusal: float = 0.0

    def send(self) -> tuple[int, float]:
        n = len(self.ads)
        body = [
            {"event_id": str(uuid.uuid4()), "ad_id": f"ad-{(n + i) % 12}", "user_id": f"u-{i}"}
            for i in range(BATCH)
        ]
        started = time.monotonic()
        response = self.client.post("/api/impressions/", body, format="json")
        elapsed = time.monotonic() - started
        assert response.status_code in (202, 503), response.content[:300]
        ids = [event["event_id"] for event in body]
        self.ads.update((event["event_id"], event["ad_id"]) for event in body)
        (self.accepted if response.status_code == 202 else self.refused).extend(ids)
        self.statuses[response.status_code] += 1
        if response.status_code == 503:
            self.slowest_refusal = max(self.slowest_refusal, elapsed)
        return response.status_code, elapsed

    def send_until(self, done: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
        """Keep ingesting until `done()` holds (checked between requests)."""
        deadline = time.monotonic() + timeout_s
        while not done():
            assert time.monotonic() < deadline, f"gave up after {timeout_s}s waiting for {what}"
            self.send()
            time.sleep(0.05)


def pipeline(stats_client: APIClient) -> dict[str, Any]:
    response = stats_client.get("/api/stats/pipeline/")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def flagged(stats_client: APIClient, node: int) -> bool:
    """The pipeline API flags every partition as under-replicated, `node` out of every ISR."""
    parts = pipeline(stats_client)["partitions"]
    return (
        len(parts) == 3
        and all(p["under_replicated"] for p in parts)
        and all(node not in p["in_sync_replicas"] and p["leader"] != node for p in parts)
    )


def fully_replicated(stats_client: APIClient) -> bool:
    body = pipeline(stats_client)
    return body["under_replicated_partitions"] == 0 and all(
        p["in_sync_replicas"] == [1, 2, 3] for p in body["partitions"]
    )


def test_leader_killed_mid_ingest_loses_nothing_and_two_down_is_503(
    api_client: APIClient,
    stats_client: APIClient,
    staff_user: Any,
    cluster_topic: str,
    cluster_servers: list[str],
    cluster_consumer: Callable[..., subprocess.Popen[bytes]],
    settings: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings.INGEST_THROTTLE_RATE = None
    settings.KAFKA_PUBLISH_TIMEOUT_SECONDS = BOUND
    assert min_insync_replicas(cluster_servers, cluster_topic) == "2"
    # A topic just created elects its partitions' leaders a moment later.
    wait_for(lambda: fully_replicated(stats_client), "the new topic's replicas", timeout_s=30)
    consumer = cluster_consumer("--progress-interval", "60")
    sender = Sender(api_client)
    phases = [("start", time.monotonic())]
    for _ in range(20):
        assert sender.send()[0] == 202
    # Mid-run: the consumer has joined and is counting when the leader dies.
    sender.send_until(lambda: Impression.objects.exists(), "the consumer to count", 90)
    assert consumer.poll() is None

    # 1. SIGKILL the leader of partition 0 mid-run; ingest on while the cluster fences it.
    leader = partition_replicas(cluster_topic)[0]["leader"]
    node_control("kill", leader)
    sender.send_until(lambda: flagged(stats_client, leader), f"node {leader} out of the ISRs")
    phases.append((f"node {leader} killed and fenced", time.monotonic()))
    dashboard = Client()
    dashboard.force_login(staff_user)
    html = dashboard.get("/admin/dashboard/").content.decode()
    assert "3 under-replicated partitions" in html
    assert html.count('<strong class="flag">under-replicated</strong>') == 3
    # One node down: two replicas in sync = min.insync.replicas, so writes are acknowledged.
    for _ in range(10):
        assert sender.send()[0] == 202
    one_down = Counter(sender.statuses)

    # 2. A second node down: no write can reach two in-sync replicas: 503, never 202, and
    # within the request's bound.
    second = leader % 3 + 1
    node_control("kill", second)
    for _ in range(3):
        status, elapsed = sender.send()
        assert status == 503
        assert elapsed < BOUND + SLACK
    refused_two_down = sender.statuses[503] - one_down[503]
    phases.append((f"node {second} killed too, three 503s", time.monotonic()))

    # 3. Both restarted while ingesting (503 until a quorum and two replicas are back); the old
    # leader rejoins as a follower and catches up; the ISRs fill up and the flags clear.
    restarts = [start_node_in_background(node) for node in (leader, second)]
    sender.send_until(
        lambda: all(restart.poll() is not None for restart in restarts), "the restarts", 120
    )
    assert [restart.returncode for restart in restarts] == [0, 0]
    phases.append((f"nodes {leader} and {second} restarted", time.monotonic()))
    sender.send_until(
        lambda: fully_replicated(stats_client) and sender.send()[0] == 202,
        "full ISRs and ingest working again",
    )
    phases.append(("ISRs full, ingest back", time.monotonic()))

    # 3. Every 202 counted exactly once; a 503'd event at most once (the producer may still
    # have delivered it: the client's retry with the same id would then be absorbed).
    accepted = set(sender.accepted)
    wait_for(
        lambda: Impression.objects.filter(event_id__in=accepted).count() == len(accepted),
        "every accepted event to be counted",
        proc=consumer,
        timeout_s=120,
    )
    phases.append(("every 202 counted", time.monotonic()))
    # The group's offsets topic is replicated like the data (the cluster's defaults).
    offsets_topic = partition_replicas("__consumer_offsets")
    assert offsets_topic
    assert all(p["replicas"] == [1, 2, 3] for p in offsets_topic.values())
    rows = {str(e) for e in Impression.objects.values_list("event_id", flat=True)}
    assert accepted <= rows
    assert rows <= accepted | set(sender.refused)
    assert counted_per_ad() == dict(Counter(sender.ads[event] for event in rows))
    with capsys.disabled():
        print(
            f"\nthree-broker test: requests {sum(sender.statuses.values())} "
            f"(202: {sender.statuses[202]}, 503: {sender.statuses[503]}, of them "
            f"{refused_two_down} with two nodes down); events sent {len(sender.ads)}, "
            f"answered 202 {len(accepted)}, answered 503 {len(sender.refused)}; counted "
            f"{len(rows)} = all {len(accepted)} accepted + {len(rows - accepted)} of the 503s "
            f"the producer still delivered; slowest 503 {sender.slowest_refusal:.1f}s "
            f"(bound {BOUND:g}s); killed node {leader}, then node {second}"
        )
        print(
            "phases: "
            + ", ".join(
                f"{name} +{end - start:.0f}s"
                for (_, start), (name, end) in zip(phases, phases[1:], strict=False)
            )
        )
