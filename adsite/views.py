"""Site-level pages: the landing page a newcomer meets at `/`, the liveness and readiness probes."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse

from adsite.readiness import READINESS_CHECKS, run_checks


def landing(request: HttpRequest) -> HttpResponse:
    """Links to everything there is to look at: dashboard, demo, API docs, health."""
    return TemplateResponse(
        request,
        "landing.html",
        {"topic": settings.IMPRESSIONS_TOPIC, "group": settings.STATS_CONSUMER_GROUP},
    )


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the web process answers. It checks nothing else, so a database or broker
    outage does not get healthy web processes restarted."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when every check of adsite.readiness passes; 503 naming those that
    failed, with their reasons. Answers within READINESS_CHECK_TIMEOUT_SECONDS."""
    result = run_checks(READINESS_CHECKS, timeout=settings.READINESS_CHECK_TIMEOUT_SECONDS)
    if result.ready:
        return JsonResponse({"status": "ready", "checks": result.checks})
    body = {"status": "not ready", "failed": result.failed, "checks": result.checks}
    return JsonResponse(body, status=503)
