"""The read-only statistics API (token or session authentication; anonymous gets 401)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from impressions.contract import AD_ID_PATTERN
from stats import selectors
from stats.bucketing import INTERVALS, Interval, floor_to
from stats.ranges import RangeError, parse_range

MAX_SERIES_BUCKETS = 10_000
DEFAULT_SERIES_BUCKETS = {"minute": 60, "hour": 48, "day": 30}
_AD_ID = re.compile(AD_ID_PATTERN.strip("^$"))


def query_range(request: Request) -> tuple[datetime | None, datetime | None]:
    """`from` and `to` of the query string, or a 400 naming the bad one."""
    try:
        return parse_range(request.query_params.get("from"), request.query_params.get("to"))
    except RangeError as exc:
        raise ValidationError({exc.field: exc.message}) from None


def checked_ad_id(ad_id: str) -> str:
    """A path ad id that breaks the contract can have no statistics: 400, not a lookup."""
    if len(ad_id) > 64 or _AD_ID.fullmatch(ad_id) is None:
        raise ValidationError({"ad_id": "must be 1-64 characters of [A-Za-z0-9_.:-]"})
    return ad_id


class AdTotalsOutput(serializers.Serializer):
    ad_id = serializers.CharField()
    impressions = serializers.IntegerField()
    unique_users = serializers.IntegerField()


class AdTotalsPagination(LimitOffsetPagination):
    """limit (default 50, capped at 1000) and offset; a value that is not a whole number of
    the right sign is a 400 rather than silently replaced."""

    default_limit = 50
    max_limit = 1000

    def _number(self, request: Request, name: str, default: int, minimum: int) -> int:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return default
        if not raw.isascii() or not raw.isdigit() or int(raw) < minimum:
            raise ValidationError({name: f"must be a whole number of at least {minimum}"})
        return int(raw)

    def get_limit(self, request: Request) -> int:
        return min(self._number(request, "limit", self.default_limit, 1), self.max_limit)

    def get_offset(self, request: Request) -> int:
        return self._number(request, "offset", 0, 0)

    def paginate_page(self, request: Request, **query: Any) -> list[dict[str, Any]]:
        """Fetch one page from the selector (its own LIMIT/OFFSET, one statement)."""
        self.request = request
        self.limit = self.get_limit(request)
        self.offset = self.get_offset(request)
        page = selectors.ad_totals_page(limit=self.limit, offset=self.offset, **query)
        self.count = page.count
        return page.rows


class AdStatsListApi(APIView):
    """Per-ad totals over [from, to), ordered by `ordering`, paginated with limit/offset."""

    def get(self, request: Request) -> Response:
        start, end = query_range(request)
        ordering = request.query_params.get("ordering", "-impressions")
        if ordering not in selectors.ORDERINGS:
            raise ValidationError({"ordering": f"one of {', '.join(selectors.ORDERINGS)}"})
        paginator = AdTotalsPagination()
        rows = paginator.paginate_page(request, start=start, end=end, ordering=ordering)
        return paginator.get_paginated_response(AdTotalsOutput(rows, many=True).data)


class AdStatsDetailApi(APIView):
    """One ad's totals over [from, to)."""

    def get(self, request: Request, ad_id: str) -> Response:
        ad_id = checked_ad_id(ad_id)
        start, end = query_range(request)
        totals = selectors.ad_totals_get(ad_id=ad_id, start=start, end=end)
        return Response(AdTotalsOutput(totals).data)


def series_window(
    interval: Interval, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """The whole buckets a series covers: `to` defaults to the end of the current bucket,
    `from` to DEFAULT_SERIES_BUCKETS before it, floored. Raises RangeError."""
    step = INTERVALS[interval]
    end = end or floor_to(timezone.now(), interval) + step
    # Whole buckets only: a bucket labelled 10:00 always counts all of 10:00-11:00.
    start = floor_to(start or end - step * DEFAULT_SERIES_BUCKETS[interval], interval)
    if start >= end:
        raise RangeError("from", "must be before to (default: the current bucket's end)")
    if (end - start) / step > MAX_SERIES_BUCKETS:
        raise RangeError("interval", f"more than {MAX_SERIES_BUCKETS} buckets; narrow the range")
    return start, end


def query_interval(request: Request, default: str = "hour") -> Interval:
    interval = request.query_params.get("interval", default)
    if interval not in INTERVALS:
        raise ValidationError({"interval": "one of minute, hour, day"})
    return interval  # type: ignore[return-value]


class AdSeriesApi(APIView):
    """Zero-filled impressions per minute, hour or day; by default the latest 60/48/30 buckets."""

    class Output(serializers.Serializer):
        start = serializers.DateTimeField()
        impressions = serializers.IntegerField()

    def get(self, request: Request, ad_id: str) -> Response:
        ad_id = checked_ad_id(ad_id)
        interval = query_interval(request)
        try:
            start, end = series_window(interval, *query_range(request))
        except RangeError as exc:
            raise ValidationError({exc.field: exc.message}) from None
        series = selectors.ad_series(ad_id=ad_id, interval=interval, start=start, end=end)
        return Response(
            {
                "ad_id": ad_id,
                "interval": interval,
                "from": start,
                "to": end,
                "buckets": self.Output(series, many=True).data,
            }
        )


class PipelineApi(APIView):
    """The consumer group's progress: per partition end offset, processed offset and lag."""

    def get(self, request: Request) -> Response:
        state = selectors.pipeline_state(
            consumer_group=settings.STATS_CONSUMER_GROUP, topic=settings.IMPRESSIONS_TOPIC
        )
        body: dict[str, Any] = {
            "consumer_group": state.consumer_group,
            "topic": state.topic,
            "broker_available": state.broker_available,
            "total_lag": state.total_lag,
            "partitions": state.partitions,
        }
        if state.error:
            body["error"] = state.error
        return Response(body)
