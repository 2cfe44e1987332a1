"""`GET /metrics` of the web: requests by URL pattern and status, publish latency and 503s, who
may read it, and gunicorn's workers adding up (Prometheus multiprocess mode)."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from impressions.publisher import close_publisher
from tests.test_slow_clients import ProdShape, prod_shape  # noqa: F401 (a fixture)
from tests.web_server import fetch, gunicorn, sample

REQUESTS = "adstats_http_requests_total"


def scrape(client: Client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return response.content.decode()


@pytest.mark.django_db
def test_requests_are_counted_by_url_pattern_and_status(
    client: Client, stats_client: APIClient
) -> None:
    before = scrape(client)
    for _ in range(2):
        assert client.get("/healthz").status_code == 200
    assert client.get("/api/stats/ads/").status_code == 401  # no token
    for ad in ("ad-metrics-1", "ad-metrics-2"):
        assert stats_client.get(f"/api/stats/ads/{ad}/").status_code in (200, 404)
    assert client.get("/no/such/page/").status_code == 404
    after = scrape(client)

    def counted(endpoint: str, status: str, method: str = "GET") -> float:
        labels = {"endpoint": endpoint, "method": method, "status": status}
        return sample(after, REQUESTS, **labels) - sample(before, REQUESTS, **labels)

    assert counted("/healthz", "200") == 2
    assert counted("/api/stats/ads/", "401") == 1
    detail = "/api/stats/ads/<str:ad_id>/"
    assert counted(detail, "200") + counted(detail, "404") == 2  # one series for both ads
    assert counted("unmatched", "404") == 1
    assert "ad-metrics-1" not in after and "/no/such/page/" not in after  # bounded labels
    duration = "adstats_http_request_duration_seconds_count"
    assert sample(after, duration, endpoint="/healthz") >= 2


@pytest.mark.django_db
def test_only_the_loopback_or_the_token_may_read_the_metrics(client: Client, settings: Any) -> None:
    assert client.get("/metrics").status_code == 200  # the test client comes from 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    through_nginx = client.get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert through_nginx.status_code == 403
    assert "METRICS_TOKEN" in through_nginx.content.decode()

    settings.METRICS_TOKEN = "a-scraper-token-0123456789"
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    allowed = client.get(
        "/metrics",
        REMOTE_ADDR="10.1.2.3",
        HTTP_X_FORWARDED_FOR="10.9.9.9",
        HTTP_AUTHORIZATION="Bearer a-scraper-token-0123456789",
    )
    assert allowed.status_code == 200


@pytest.mark.integration
@pytest.mark.django_db
def test_publish_latency_and_the_to_be_503s_are_measured(
    client: Client, api_client: APIClient, topic: str, settings: Any
) -> None:
    body = {"ad_id": "ad-metrics", "user_id": "u-1"}
    before = scrape(client)
    assert api_client.post("/api/impressions/", body, format="json").status_code == 202
    settings.KAFKA_BOOTSTRAP_SERVERS = ["127.0.0.1:1"]  # nothing listens there
    settings.KAFKA_PUBLISH_TIMEOUT_SECONDS = 0.5
    close_publisher()
    try:
        assert api_client.post("/api/impressions/", body, format="json").status_code == 503
        assert client.get("/i.gif", {"ad_id": "ad-metrics", "user_id": "u"}).status_code == 503
    finally:
        close_publisher()
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    publish = "adstats_publish_duration_seconds_count"
    assert grew(publish, outcome="acknowledged") == 1
    assert grew(publish, outcome="unavailable") == 2
    assert grew("adstats_publish_unavailable_total") == 2
    status_503 = {"method": "POST", "status": "503"}
    assert grew(REQUESTS, endpoint="/api/impressions/", **status_503) == 1
    assert grew(REQUESTS, endpoint="/i.gif", method="GET", status="503") == 1


@pytest.mark.django_db(transaction=True)
def test_gunicorn_workers_add_up_and_their_folder_is_removed(tmp_path: Path) -> None:
    with gunicorn(tmp_path, workers=2) as server:
        for _ in range(40):
            assert fetch(server.port, "GET", "/healthz").status == 200
        for _ in range(10):
            assert fetch(server.port, "GET", "/api/stats/ads/").status == 401
        served_by = server.worker_pids()
        assert len(served_by) == 2, "both workers must have served requests for this to prove"

        text = fetch(server.port, "GET", "/metrics").body.decode()
        ok = {"endpoint": "/healthz", "method": "GET", "status": "200"}
        assert sample(text, REQUESTS, **ok) == 40
        refused = {"endpoint": "/api/stats/ads/", "method": "GET", "status": "401"}
        assert sample(text, REQUESTS, **refused) == 10

        # A worker that exits (and is replaced) takes none of its counts with it.
        os.kill(int(sorted(served_by)[0]), signal.SIGTERM)
        deadline = time.monotonic() + 30
        while server.error_log.read_text().count("Booting worker") < 3:
            assert time.monotonic() < deadline, "gunicorn did not replace the worker"
            time.sleep(0.1)
        for _ in range(5):
            assert fetch(server.port, "GET", "/healthz").status == 200
        text = fetch(server.port, "GET", "/metrics").body.decode()
        assert sample(text, REQUESTS, **ok) == 45
        found = re.search(r"prometheus multiprocess folder: (\S+)", server.error_log.read_text())
        assert found, server.error_log.read_text()
        folder = Path(found.group(1))
        assert list(folder.glob("*.db"))
    assert not folder.exists(), "gunicorn's exit must remove the folder it made"


@pytest.mark.integration
def test_the_production_front_hides_metrics_that_gunicorn_adds_up(
    prod_shape: ProdShape,  # noqa: F811 (the fixture imported above)
) -> None:
    """scripts/prod-local (nginx before 3 gunicorn workers): /metrics is 404 through nginx;
    straight to gunicorn on its loopback port it answers with every worker's requests."""
    prod_shape.start()
    for _ in range(30):
        assert fetch(prod_shape.nginx_port, "GET", "/healthz").status == 200
    assert fetch(prod_shape.nginx_port, "GET", "/metrics").status == 404
    text = fetch(prod_shape.gunicorn_port, "GET", "/metrics").body.decode()
    # 30 through nginx, and prod-local's own start-up probes straight to gunicorn.
    assert sample(text, REQUESTS, endpoint="/healthz", method="GET", status="200") >= 30
    assert fetch(prod_shape.nginx_port, "GET", "/readyz").status in (200, 503)  # public
