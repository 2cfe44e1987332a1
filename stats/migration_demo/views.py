"""`/demo/migration/`: the page, its live data (JSON), and its controls (POST).

Staff only (wrapped by admin_view in the root urls) and CSRF-protected like every form of the
site. With DEMO_CONTROLS off the page still shows both paths, the lag and the totals, without
controls, and a POST is a 404: nothing can be started.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache

from impressions.db_stall import MAX_STALL_SECONDS, MIN_STALL_SECONDS, StallRefused, stall_start
from impressions.simulation import live
from stats.migration_demo.data import migration_snapshot

STALL_CHOICES = (5, 10, 20, 30)
DEFAULT_RATE = 20


def _control(request: HttpRequest) -> None:
    """Run the one control the form names; say what happened as a message."""
    action = request.POST.get("action", "")
    if action == "traffic-start":
        try:
            rate = int(request.POST.get("rate", ""))
            live.traffic_start(base_url=request.build_absolute_uri("/"), rate=rate)
        except ValueError:
            choices = ", ".join(map(str, live.RATES))
            messages.error(request, f"Choose a rate of {choices} events/s per path.")
            return
        messages.success(request, f"Traffic started: {rate} events/s on each path.")
    elif action == "traffic-stop":
        live.traffic_stop()
        messages.success(request, "Traffic stopped. The totals settle once the lag is 0.")
    elif action == "stall":
        try:
            seconds = int(request.POST.get("seconds", ""))
        except ValueError:
            seconds = 0
        try:
            stall_start(seconds=seconds)
        except StallRefused as exc:
            messages.error(request, f"No stall: {exc}.")
            return
        messages.warning(request, f"Database stalled for {seconds} s: watch both paths.")
    else:
        messages.error(request, "Unknown action.")


@never_cache
def migration_view(request: HttpRequest) -> HttpResponse:
    """GET: the page. POST (DEMO_CONTROLS on only): a control, then back to the page."""
    if request.method == "POST":
        if not settings.DEMO_CONTROLS:
            raise Http404("the demo controls are off (DEMO_CONTROLS)")
        _control(request)
        return redirect("demo-migration")
    run = live.current_run()
    context = {
        **admin.site.each_context(request),
        "is_nav_sidebar_enabled": False,  # the page needs the width
        "title": "The migration, live: as-is and to-be side by side",
        "controls": settings.DEMO_CONTROLS,
        "rates": live.RATES,
        "default_rate": run.rate if run and run.running else DEFAULT_RATE,
        "stall_choices": STALL_CHOICES,
        "min_stall": MIN_STALL_SECONDS,
        "max_stall": MAX_STALL_SECONDS,
        "max_traffic_minutes": live.MAX_TRAFFIC_SECONDS // 60,
        "paths": live.LIVE_PATHS,
    }
    return TemplateResponse(request, "stats/migration_demo.html", context)


@never_cache
def migration_data_view(request: HttpRequest) -> JsonResponse:
    """The live figures the page's script draws, refreshed every second."""
    return JsonResponse(migration_snapshot())
