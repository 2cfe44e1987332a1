"""The read-only statistics API (token or session authentication; anonymous gets 401)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from stats import selectors
from stats.bucketing import INTERVALS, Interval, floor_to

MAX_SERIES_BUCKETS = 10_000
# Range ends far enough from datetime's limits that window arithmetic cannot overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
DEFAULT_SERIES_BUCKETS = {"minute": 60, "hour": 48, "day": 30}


def _moment(request: Request, name: str) -> datetime | None:
    """Query parameter as an aware UTC datetime: ISO 8601 datetime (naive = UTC) or a date."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
        if value is None:
            day = parse_date(raw)
            value = datetime(day.year, day.month, day.day) if day is not None else None
        if value is not None:
            value = value.replace(tzinfo=UTC) if timezone.is_naive(value) else value
            value = value.astimezone(UTC)
            if EARLIEST <= value <= LATEST:
                return value
            raise ValidationError(
                {name: f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}"}
            )
    except (ValueError, OverflowError):
        pass
    raise ValidationError({name: f"expected an ISO 8601 date or datetime, got {raw!r}"})


def _range(request: Request) -> tuple[datetime | None, datetime | None]:
    start, end = _moment(request, "from"), _moment(request, "to")
    if start is not None and end is not None and start >= end:
        raise ValidationError({"to": "must be after from"})
    return start, end


class AdTotalsOutput(serializers.Serializer):
    ad_id = serializers.CharField()
    impressions = serializers.IntegerField()
    unique_users = serializers.IntegerField()


class AdTotalsPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 1000


class AdStatsListApi(GenericAPIView):
    """Per-ad totals over [from, to), ordered by `ordering`, paginated with limit/offset."""

    serializer_class = AdTotalsOutput
    pagination_class = AdTotalsPagination

    def get(self, request: Request) -> Response:
        start, end = _range(request)
        ordering = request.query_params.get("ordering", "-impressions")
        if ordering not in selectors.ORDERINGS:
            raise ValidationError({"ordering": f"one of {', '.join(selectors.ORDERINGS)}"})
        rows = selectors.ad_totals_list(start=start, end=end, ordering=ordering)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(AdTotalsOutput(page, many=True).data)


class AdStatsDetailApi(APIView):
    """One ad's totals over [from, to)."""

    def get(self, request: Request, ad_id: str) -> Response:
        start, end = _range(request)
        totals = selectors.ad_totals_get(ad_id=ad_id, start=start, end=end)
        return Response(AdTotalsOutput(totals).data)


class AdSeriesApi(APIView):
    """Zero-filled impressions per minute, hour or day; by default the latest 60/48/30 buckets."""

    class Output(serializers.Serializer):
        start = serializers.DateTimeField()
        impressions = serializers.IntegerField()

    def get(self, request: Request, ad_id: str) -> Response:
        interval = request.query_params.get("interval", "hour")
        if interval not in INTERVALS:
            raise ValidationError({"interval": "one of minute, hour, day"})
        checked: Interval = interval  # type: ignore[assignment]
        start, end = _range(request)
        step = INTERVALS[interval]
        end = end or floor_to(timezone.now(), checked) + step
        # Whole buckets only: a bucket labelled 10:00 always counts all of 10:00-11:00.
        start = floor_to(start or end - step * DEFAULT_SERIES_BUCKETS[interval], checked)
        if start >= end:
            raise ValidationError({"from": "must be before to (default: the current bucket's end)"})
        if (end - start) / step > MAX_SERIES_BUCKETS:
            raise ValidationError(
                {"interval": f"more than {MAX_SERIES_BUCKETS} buckets; narrow the range"}
            )
        series = selectors.ad_series(ad_id=ad_id, interval=checked, start=start, end=end)
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
            consumer_group=request.query_params.get("group", settings.STATS_CONSUMER_GROUP),
            topic=request.query_params.get("topic", settings.IMPRESSIONS_TOPIC),
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
