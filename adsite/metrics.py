"""Prometheus metrics of the web processes, and `GET /metrics` that exposes them.

Under gunicorn every worker is its own process: `adsite/gunicorn_conf.py` points
PROMETHEUS_MULTIPROC_DIR at a fresh folder before anything imports prometheus_client, each
worker writes its samples there, and `/metrics` adds them up (prometheus_client's
multiprocess mode), so any worker answers with the totals of all of them. Without that
variable (runserver, tests) the samples live in this process's memory.

Labels stay bounded: a request is counted by its URL pattern (`api/stats/ads/<str:ad_id>/`),
never by its raw path, by a known method name and by its status.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

HTTP_REQUESTS = Counter(
    "adstats_http_requests",
    "HTTP requests answered, by URL pattern, method and status.",
    ["endpoint", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "adstats_http_request_duration_seconds",
    "Time from the request reaching Django to its answer, by URL pattern.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PUBLISH_DURATION = Histogram(
    "adstats_publish_duration_seconds",
    "To-be path: time from publishing to the broker's acknowledgement (or giving up), by outcome.",
    ["outcome"],  # acknowledged | unavailable
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PUBLISH_UNAVAILABLE = Counter(
    "adstats_publish_unavailable",
    "To-be path (API and pixel): requests answered 503 because the broker did not acknowledge.",
)
STATEMENT_TIMEOUTS = Counter(
    "adstats_statement_timeouts",
    "Web requests answered 503 because PostgreSQL cancelled a statement (DB_STATEMENT_TIMEOUT_MS).",
)

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def endpoint_label(request: HttpRequest) -> str:
    """The request's URL pattern; `static` for WhiteNoise's files, `unmatched` otherwise."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return "/" + match.route if match.route is not None else match.view_name
    if request.path.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return "static"
    return "unmatched"


class RequestMetricsMiddleware:
    """Counts and times every answer (first in MIDDLEWARE, so refusals count too)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        endpoint = endpoint_label(request)
        method = request.method if request.method in KNOWN_METHODS else "other"
        HTTP_REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
        HTTP_REQUEST_DURATION.labels(endpoint).observe(time.perf_counter() - started)
        return response


def metrics_registry() -> CollectorRegistry:
    """All workers' samples in multiprocess mode, else this process's own."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def metrics_allowed(request: HttpRequest) -> bool:
    """With METRICS_TOKEN: the right bearer token. Without: a loopback client, not proxied."""
    token = settings.METRICS_TOKEN
    if token:
        given = request.META.get("HTTP_AUTHORIZATION", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    if "HTTP_X_FORWARDED_FOR" in request.META:
        return False  # through a proxy (nginx): the address below is the proxy's
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def metrics_view(request: HttpRequest) -> HttpResponse:
    """`GET /metrics`: the Prometheus text format; 403 for a client `metrics_allowed` refuses."""
    if not metrics_allowed(request):
        reason = (
            "send Authorization: Bearer <METRICS_TOKEN>"
            if settings.METRICS_TOKEN
            else "/metrics answers loopback clients of the app server only (or set METRICS_TOKEN)"
        )
        return HttpResponse(reason + "\n", status=403, content_type="text/plain; charset=utf-8")
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)
