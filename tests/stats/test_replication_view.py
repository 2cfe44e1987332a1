"""The pipeline API and dashboard show each partition's leader, replicas and in-sync replicas on
the one-broker default (the three-broker cluster's case, a node down and flagged, is in
tests/cluster/test_replication.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.stats.topic_data import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_one_broker_leads_every_partition_and_none_is_under_replicated(
    stats_client: APIClient, topic: str, staff_user: Any, kafka_servers: list[str]
) -> None:
    def pipeline() -> dict[str, Any]:
        body: dict[str, Any] = stats_client.get("/api/stats/pipeline/").json()
        return body

    # A topic just created elects its partitions' leaders a moment later.
    wait_for(lambda: [p["leader"] for p in pipeline()["partitions"]] == [1, 1, 1], "leaders")
    body = pipeline()
    assert body["broker_available"] is True
    assert [
        (p["partition"], p["leader"], p["replicas"], p["in_sync_replicas"], p["under_replicated"])
        for p in body["partitions"]
    ] == [(partition, 1, [1], [1], False) for partition in range(3)]
    assert body["under_replicated_partitions"] == 0

    dashboard = Client()
    dashboard.force_login(staff_user)
    html = dashboard.get("/admin/dashboard/").content.decode()
    assert "every partition fully in sync" in html
    assert '<table id="replication">' in html
    assert "under-replicated</strong>" not in html


def test_without_a_broker_replication_is_unknown(stats_client: APIClient, settings: Any) -> None:
    settings.KAFKA_BOOTSTRAP_SERVERS = ["127.0.0.1:1"]  # nothing listens there
    settings.KAFKA_ADMIN_TIMEOUT_SECONDS = 1.0
    body = stats_client.get("/api/stats/pipeline/").json()
    assert body["broker_available"] is False
    assert body["under_replicated_partitions"] is None
