"""The two ingest APIs side by side: as-is (write the database now) and to-be (publish to Kafka)."""

from __future__ import annotations

from typing import Any

import msgspec
from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from impressions.contract import (
    AdImpressionEvent,
    ContractError,
    TooManyEvents,
    events_from_payload,
)
from impressions.openapi import (
    INGEST_ERRORS,
    INGEST_TAG,
    PUBLISH_UNAVAILABLE,
    PUBLISHED,
    RECORDED,
    RETRY_AFTER_HEADERS,
    ImpressionBatch,
    IngestAutoSchema,
)
from impressions.parsers import IngestRequest, LimitedJSONParser, PayloadTooLarge
from impressions.publisher import PublishUnavailable, publish_events
from impressions.throttling import IngestRateThrottle
from stats.services import record_impressions


class InvalidEvent(APIException):
    """400 with `error`, `field` and, for arrays, `index` (kept as a number)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_event"

    def __init__(self, error: ContractError):
        super().__init__()
        self.detail = error.as_dict()


class _IngestApi(APIView):
    """Public, like a tracking pixel: no authentication, but validated, size-limited, throttled."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [IngestRateThrottle]
    parser_classes = [LimitedJSONParser]
    schema = IngestAutoSchema()

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        """As DRF's, but the body reaches the parser even without a Content-Length (chunked)."""
        return IngestRequest(
            request,
            parsers=self.get_parsers(),
            authenticators=self.get_authenticators(),
            negotiator=self.get_content_negotiator(),
            parser_context=self.get_parser_context(request),
        )

    def validated_events(self, request: Request) -> list[AdImpressionEvent]:
        try:
            return events_from_payload(
                request.data, now=timezone.now(), max_events=settings.INGEST_MAX_EVENTS
            )
        except TooManyEvents as exc:
            raise PayloadTooLarge(str(exc)) from None
        except ContractError as exc:
            raise InvalidEvent(exc) from None


def _accepted(events: list[AdImpressionEvent], **extra: Any) -> dict[str, Any]:
    return {"accepted": len(events), "event_ids": [str(e.event_id) for e in events], **extra}


class ImpressionCreateApi(_IngestApi):
    """To-be: 202 once the broker has acknowledged every event; 503 + Retry-After otherwise."""

    @extend_schema(
        operation_id="impressions_publish",
        tags=[INGEST_TAG],
        summary="Report impressions (to-be: published to Kafka)",
        description=(
            "Validates every event, publishes them to the impressions topic (key `ad_id`) and "
            "answers 202 once the broker has acknowledged all of them. Public: no "
            "authentication, but throttled and size-limited."
        ),
        request=ImpressionBatch,
        responses={202: PUBLISHED, **INGEST_ERRORS, 503: PUBLISH_UNAVAILABLE},
        parameters=RETRY_AFTER_HEADERS,
    )
    def post(self, request: Request) -> Response:
        events = self.validated_events(request)
        try:
            publish_events(events)
        except PublishUnavailable as exc:
            body = {
                "accepted": 0,
                "event_ids": [str(e.event_id) for e in events],
                "error": str(exc),
                "hint": "resend retry_body later: same event ids and times, counted once",
                "retry_body": [msgspec.to_builtins(e) for e in events],
            }
            return Response(
                body,
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": str(settings.INGEST_RETRY_AFTER_SECONDS)},
            )
        return Response(_accepted(events), status=status.HTTP_202_ACCEPTED)


class ImpressionSyncCreateApi(_IngestApi):
    """As-is: record in the database inside the request, 201 after the commit."""

    @extend_schema(
        operation_id="impressions_record",
        tags=[INGEST_TAG],
        summary="Report impressions (as-is: written to the database in the request)",
        description=(
            "The same body and validation as the to-be path, but the events are recorded in the "
            "database inside the request; 201 after the commit. Public: no authentication, but "
            "throttled and size-limited."
        ),
        request=ImpressionBatch,
        responses={201: RECORDED, **INGEST_ERRORS},
        parameters=RETRY_AFTER_HEADERS,
    )
    def post(self, request: Request) -> Response:
        events = self.validated_events(request)
        recorded = record_impressions(events=events)
        return Response(_accepted(events, recorded=recorded), status=status.HTTP_201_CREATED)
