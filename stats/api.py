"""The read-only statistics API (token or session authentication; anonymous gets 401)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from impressions.contract import AD_ID_RULE, PLACEMENT_RULE, is_ad_id
from stats import progress_selectors, selectors
from stats.bucketing import INTERVALS, Interval, floor_to
from stats.openapi import (
    AD_ID,
    LIST_PARAMETERS,
    PIPELINE,
    PLACEMENT,
    RANGE,
    READ_ERRORS,
    SERIES_PARAMETERS,
    STATS_TAG,
    UNAUTHORIZED,
    complete_through,
    paginated,
    series,
)
from stats.ranges import RangeError, parse_range

MAX_SERIES_BUCKETS = 10_000
MAX_PAGE_NUMBER = 999_999_999_999  # the largest limit or offset accepted
DEFAULT_SERIES_BUCKETS = {"minute": 60, "hour": 48, "day": 30}


def query_range(request: Request) -> tuple[datetime | None, datetime | None]:
    """`from` and `to` of the query string, or a 400 naming the bad one."""
    try:
        return parse_range(request.query_params.get("from"), request.query_params.get("to"))
    except RangeError as exc:
        raise ValidationError({exc.field: exc.message}) from None


def checked_ad_id(ad_id: str) -> str:
    """A path ad id that breaks the contract can have no statistics: 400, not a lookup."""
    if not is_ad_id(ad_id):
        raise ValidationError({"ad_id": AD_ID_RULE.removeprefix("ad_id ")})
    return ad_id


def query_placement(request: Request) -> str | None:
    """`placement` of the query string (contract v2), None when absent; a value that breaks
    the contract is a 400, since no event can carry it."""
    placement = request.query_params.get("placement")
    if placement is None:
        return None
    if not is_ad_id(placement):  # the same rule as an ad id
        raise ValidationError({"placement": PLACEMENT_RULE.removeprefix("placement ")})
    return placement


class AdTotalsOutput(serializers.Serializer):
    ad_id = serializers.CharField()
    impressions = serializers.IntegerField()
    unique_users = serializers.IntegerField()


class AdDetailOutput(AdTotalsOutput):
    complete_through = complete_through()


class AdTotalsPagination(LimitOffsetPagination):
    """limit (default 50, capped at 1000) and offset; a value that is not a whole number of
    the right sign is a 400 rather than silently replaced."""

    default_limit = 50
    max_limit = 1000

    def _number(self, request: Request, name: str, default: int, minimum: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:  # an empty value is not a number (the document says integer): a 400
            return default
        # Bounded so that no value reaches the database as an out-of-range integer.
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 12 and int(raw) >= minimum):
            raise ValidationError(
                {name: f"must be a whole number from {minimum} to {MAX_PAGE_NUMBER}"}
            )
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

    @extend_schema(
        operation_id="stats_ads_list",
        tags=[STATS_TAG],
        summary="Per-ad totals over a range",
        description=(
            "`impressions` counts the minutes in [from, to); `unique_users` is exact over the "
            "whole UTC days the range touches. Only ads with impressions in the range are "
            "listed. Without `from`/`to` the range is open on that side."
        ),
        parameters=LIST_PARAMETERS,
        responses={200: paginated("PaginatedAdTotalsList", AdTotalsOutput), **READ_ERRORS},
    )
    def get(self, request: Request) -> Response:
        start, end = query_range(request)
        ordering = request.query_params.get("ordering", "-impressions")
        if ordering not in selectors.ORDERINGS:
            raise ValidationError({"ordering": f"one of {', '.join(selectors.ORDERINGS)}"})
        paginator = AdTotalsPagination()
        rows = paginator.paginate_page(
            request, start=start, end=end, ordering=ordering, placement=query_placement(request)
        )
        response = paginator.get_paginated_response(AdTotalsOutput(rows, many=True).data)
        response.data["complete_through"] = progress_selectors.completeness_get().complete_through
        return response


class AdStatsDetailApi(APIView):
    """One ad's totals over [from, to)."""

    @extend_schema(
        operation_id="stats_ads_retrieve",
        tags=[STATS_TAG],
        summary="One ad's totals over a range",
        description=(
            "`impressions` counts the minutes in [from, to); `unique_users` is exact and counts "
            "the distinct users over the whole UTC days the range touches, so a range shorter "
            "than a day can show users and no impressions. Zeros for an ad never seen."
        ),
        parameters=[AD_ID, *RANGE, PLACEMENT],
        responses={200: AdDetailOutput, **READ_ERRORS},
    )
    def get(self, request: Request, ad_id: str) -> Response:
        ad_id = checked_ad_id(ad_id)
        start, end = query_range(request)
        totals = selectors.ad_totals_get(
            ad_id=ad_id, start=start, end=end, placement=query_placement(request)
        )
        through = progress_selectors.completeness_get().complete_through
        return Response(AdDetailOutput({**totals, "complete_through": through}).data)


def series_window(
    interval: Interval, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """The range a series covers: `to` defaults to the end of the current bucket, `from` to
    DEFAULT_SERIES_BUCKETS before it, floored so that the first bucket is whole. A `to` inside
    a bucket is kept: that last bucket is partial and says so (ranges.series_buckets).
    Raises RangeError."""
    step = INTERVALS[interval]
    end = end or floor_to(timezone.now(), interval) + step
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

    @extend_schema_serializer(component_name="SeriesBucket")
    class Output(serializers.Serializer):
        start = serializers.DateTimeField()
        end = serializers.DateTimeField(help_text="exclusive; before start + interval if partial")
        impressions = serializers.IntegerField()
        # DRF takes declared fields off the class, so this does not shadow Serializer.partial.
        partial = serializers.BooleanField(  # type: ignore[assignment]
            help_text="`to` cuts this bucket short: it counts [start, end) only"
        )
        final = serializers.BooleanField(help_text="end <= complete_through: no more expected")

    @extend_schema(
        operation_id="stats_ads_series",
        tags=[STATS_TAG],
        summary="One ad's impressions per minute, hour or day",
        description=(
            "Zero-filled buckets of event time in UTC. Without `to` the series ends with the "
            "current bucket; without `from` it covers the last 60 minutes, 48 hours or 30 days. "
            "A `to` inside a bucket makes the last bucket `partial`: it counts [start, end) "
            "only. A bucket is `final` when it ends at or before `complete_through`."
        ),
        parameters=SERIES_PARAMETERS,
        responses={200: series(Output), **READ_ERRORS},
    )
    def get(self, request: Request, ad_id: str) -> Response:
        ad_id = checked_ad_id(ad_id)
        interval = query_interval(request)
        try:
            start, end = series_window(interval, *query_range(request))
        except RangeError as exc:
            raise ValidationError({exc.field: exc.message}) from None
        through = progress_selectors.completeness_get().complete_through
        series = selectors.ad_series(
            ad_id=ad_id,
            interval=interval,
            start=start,
            end=end,
            complete_through=through,
            placement=query_placement(request),
        )
        return Response(
            {
                "ad_id": ad_id,
                "interval": interval,
                "from": start,
                "to": end,
                "complete_through": through,
                "buckets": self.Output(series, many=True).data,
            }
        )


class PipelineApi(APIView):
    """The consumer group's progress: per partition end offset, processed offset and lag."""

    @extend_schema(
        operation_id="stats_pipeline",
        tags=[STATS_TAG],
        summary="Consumer progress and lag per partition",
        description=(
            "End offsets come from the broker, processed offsets from the database. If the "
            "broker is unreachable the answer is still 200, with `broker_available: false`, "
            "`error`, and null end offsets, lag and verdicts. `complete_through` says up to "
            "which instant the statistics are final, `late_events` how many events arrived "
            "after their time was final. `verdict` judges the lag by Burrow's rules (OK, WARN, "
            "STALL, STOP, REWIND) over each partition's recent samples. Each partition's "
            "`leader`, `replicas` and `in_sync_replicas` (broker node ids) come from the "
            "cluster's metadata; `under_replicated` flags fewer replicas in sync than assigned."
        ),
        responses={200: PIPELINE, 401: UNAUTHORIZED},
    )
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
            "members": state.members,
            "dead_letter_records": state.dead_letter_records,
            "last_recorded_at": state.last_recorded_at,
            "verdict": state.verdict,
            "under_replicated_partitions": state.under_replicated_partitions,
            "complete_through": state.completeness.complete_through,
            "allowed_lateness_seconds": state.allowed_lateness_seconds,
            "late_events": state.completeness.late_events,
        }
        if state.error:
            body["error"] = state.error
        return Response(body)
