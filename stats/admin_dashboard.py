"""The staff dashboard: totals and top ads over a chosen range, and the consumer's lag."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from stats import selectors

TOP_ADS = 20


class RangeForm(forms.Form):
    start = forms.DateTimeField(required=False, label="From (UTC)")
    end = forms.DateTimeField(required=False, label="To (UTC, exclusive)")


def dashboard_view(request: HttpRequest) -> HttpResponse:
    """Staff only (wrapped by admin_view in the root urls)."""
    now = timezone.now()
    form = RangeForm(request.GET or None)
    start, end = now - timedelta(days=1), None
    if form.is_valid():
        start = form.cleaned_data["start"] or start
        end = form.cleaned_data["end"]
    elif not request.GET:
        form = RangeForm(initial={"start": start.strftime("%Y-%m-%d %H:%M")})
    context = {
        **admin.site.each_context(request),
        "title": "Impression statistics",
        "form": form,
        "start": start,
        "end": end,
        "totals": selectors.overall_totals(start=start, end=end),
        "top_ads": selectors.ad_totals_page(start=start, end=end, limit=TOP_ADS).rows,
        "pipeline": selectors.pipeline_state(
            consumer_group=settings.STATS_CONSUMER_GROUP, topic=settings.IMPRESSIONS_TOPIC
        ),
    }
    return TemplateResponse(request, "admin/stats/dashboard.html", context)
