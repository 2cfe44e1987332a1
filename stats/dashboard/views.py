"""Dashboard views (staff only: wrapped by admin_view in the root urls). Thin: parse the range,
gather the data, render a page, its live part (`?partial=1`, for auto-refresh) or CSV."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from impressions.contract import AD_ID_RULE, is_ad_id
from stats import progress_selectors, selectors
from stats.dashboard import data
from stats.dashboard.forms import QUICK_PICKS, RangeForm, Window, default_window


def _window(request: HttpRequest) -> tuple[RangeForm, Window]:
    now = timezone.now()
    form = RangeForm(request.GET, now=now)
    window = form.window() if form.is_valid() else default_window(now)
    return form, window


def _context(request: HttpRequest, form: RangeForm, window: Window, **extra: Any) -> dict[str, Any]:
    return {
        **admin.site.each_context(request),
        "form": form,
        "window": window,
        "quick_picks": [(key, label) for key, (label, *_) in QUICK_PICKS.items()],
        "intervals": ["minute", "hour", "day"],
        "as_of": timezone.now(),
        **extra,
    }


def _csv(name: str, header: list[str], rows: list[list[Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response


def _cell(text: str) -> str:
    """A text cell a spreadsheet will not read as a formula or reference (ad ids may start with
    `-`): prefixed with an apostrophe, as OWASP advises for CSV exports."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _all_ads(window: Window) -> list[dict[str, Any]]:
    """Every ad in the window, a page of 1000 per statement."""
    rows: list[dict[str, Any]] = []
    while True:
        page = selectors.ad_totals_page(
            start=window.start,
            end=window.end,
            limit=1000,
            offset=len(rows),
            placement=window.placement,
        )
        rows += page.rows
        if len(page.rows) < 1000 or len(rows) >= page.count:
            return rows


def _series_csv(name: str, ad_id: str | None, window: Window) -> HttpResponse:
    """The chart's buckets; `partial` and `final` as the API's series says them."""
    through = progress_selectors.completeness_get().complete_through
    chart = data.chart(ad_id=ad_id, window=window, complete_through=through)
    rows = zip(chart.starts, chart.ends, chart.current, chart.partial, chart.final, strict=True)
    return _csv(
        name,
        ["bucket_start", "bucket_end", "impressions", "partial", "final"],
        [
            [start, end, n, str(partial).lower(), str(final).lower()]
            for start, end, n, partial, final in rows
        ],
    )


def _in_placement(window: Window) -> str:
    return f" in placement {window.placement}" if window.placement else ""


def _render(request: HttpRequest, name: str, context: dict[str, Any]) -> HttpResponse:
    """The page, or with `?partial=1` only its live part (what the auto-refresh swaps in)."""
    live = f"{name}_live.html"
    template = live if request.GET.get("partial") else f"{name}.html"
    return TemplateResponse(request, template, {**context, "live_template": live})


def dashboard_view(request: HttpRequest) -> HttpResponse:
    """All ads: cards, impressions over time, top ads, the consumer group."""
    form, window = _window(request)
    if request.GET.get("export") == "series":
        name = f"impressions-{window.start:%Y%m%dT%H%M}-{window.interval}"
        return _series_csv(name, None, window)
    if request.GET.get("export") == "ads":
        return _csv(
            f"ads-{window.start:%Y%m%dT%H%M}",
            ["ad_id", "impressions", "unique_users"],
            [[_cell(r["ad_id"]), r["impressions"], r["unique_users"]] for r in _all_ads(window)],
        )
    title = "Impression statistics" + _in_placement(window)
    context = _context(request, form, window, title=title, **data.overview(window))
    return _render(request, "admin/stats/dashboard", context)


def ad_dashboard_view(request: HttpRequest, ad_id: str) -> HttpResponse:
    """One ad: cards, its impressions over time, its unique users per day."""
    if not is_ad_id(ad_id):
        raise Http404(f"no such ad: {AD_ID_RULE}")
    form, window = _window(request)
    if request.GET.get("export") == "series":
        return _series_csv(f"{ad_id}-{window.start:%Y%m%dT%H%M}-{window.interval}", ad_id, window)
    context = _context(
        request,
        form,
        window,
        title=f"Ad {ad_id}{_in_placement(window)}",
        ad_id=ad_id,
        **data.ad_detail(ad_id, window),
    )
    return _render(request, "admin/stats/ad_dashboard", context)
