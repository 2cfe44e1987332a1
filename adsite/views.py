"""Site-level pages: the landing page a newcomer meets at `/`, and the liveness probe."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse


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
