"""The tracking pixel: `GET /i.gif?ad_id=...&event_id=...&user_id=...` reports one impression.

It is the to-be path for an `<img>`: the query becomes an event through the same contract
(`event_from_input`) and is published with the same publisher as `POST /api/impressions/`, so an
event id sent twice is counted once by the consumer. Answers:

- 200: the 43-byte transparent GIF, once the broker has acknowledged the event;
- 400: a parameter breaks the contract; the reason as plain text, e.g.
  `ad_id: must be 1-64 characters of [A-Za-z0-9_.:-]`;
- 429: over INGEST_THROTTLE_RATE (the ingest API's throttle and budget), with Retry-After;
- 503: the broker did not acknowledge within KAFKA_PUBLISH_TIMEOUT_SECONDS, with Retry-After.

Every answer forbids caching, so each page view reaches the server. HEAD (link-preview bots,
crawlers checking the URL) counts nothing: it answers what GET would (the GIF's headers, or the
400 of a bad parameter) without throttling or publishing. `user_id` falls back to the demo
page's cookie (DEMO_USER_COOKIE); `event_id` is optional (the server assigns one, and then a
repeated request counts again). `placement`, `campaign_id` and `device` are contract v2's
optional fields, published like the API's. Other query parameters (e.g. a cache-buster) are
ignored.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views import View

from impressions.contract import AdImpressionEvent, ContractError, event_from_input
from impressions.publisher import PublishUnavailable, publish_events
from impressions.throttling import IngestRateThrottle

# 1x1 transparent GIF89a.
TRANSPARENT_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
    b"!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
# The first-party cookie that keeps the demo visitor's user id (set by impressions.demo).
DEMO_USER_COOKIE = "demo_uid"
PARAMS = ("ad_id", "event_id", "user_id", "placement", "campaign_id", "device")

_NO_STORE = {
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
    "Expires": "0",
}


class _BadParameter(ValueError):
    pass


def _text(status: int, message: str, **headers: str) -> HttpResponse:
    response = HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    for name, value in {**_NO_STORE, **headers}.items():
        response[name] = value
    return response


def _reason(error: ContractError) -> str:
    """`field: message`, without the field named twice (`ad_id: ad_id must be ...`)."""
    message = error.message
    if error.field and message.startswith(f"{error.field} "):
        message = message[len(error.field) + 1 :]
    return f"{error.field}: {message}" if error.field else message


def _pixel_input(request: HttpRequest) -> dict[str, str]:
    try:
        query = request.GET
    except SuspiciousOperation as exc:  # e.g. more than DATA_UPLOAD_MAX_NUMBER_FIELDS parameters
        raise _BadParameter(f"query: {exc}") from None
    given: dict[str, str] = {}
    for name in PARAMS:
        values = query.getlist(name)
        if len(values) > 1:
            raise _BadParameter(f"{name}: given {len(values)} times; give it once")
        if values:
            given[name] = values[0]
    if "user_id" not in given and DEMO_USER_COOKIE in request.COOKIES:
        given["user_id"] = request.COOKIES[DEMO_USER_COOKIE]
    if "ad_id" not in given:
        raise _BadParameter("ad_id: required (the ad that was shown)")
    if "user_id" not in given:
        raise _BadParameter(f"user_id: required (as a parameter or the {DEMO_USER_COOKIE} cookie)")
    return given


def _gif() -> HttpResponse:
    response = HttpResponse(TRANSPARENT_GIF, content_type="image/gif")
    for name, value in _NO_STORE.items():
        response[name] = value
    return response


def _event_or_refusal(request: HttpRequest) -> AdImpressionEvent | HttpResponse:
    """The event the query describes, or the 400 that names the parameter at fault."""
    try:
        return event_from_input(_pixel_input(request), now=timezone.now())
    except _BadParameter as exc:
        return _text(400, str(exc))
    except ContractError as exc:
        return _text(400, _reason(exc))


class PixelView(View):
    """GET: validate, publish, answer the GIF. HEAD: validate, answer the GIF's headers, and
    publish nothing."""

    http_method_names = ["get", "head"]

    def head(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """A HEAD is no view of the ad (a link-preview bot looking at the URL): it counts
        nothing and is not throttled. The server sends the headers only (Content-Length as
        for GET); a bad parameter is the same 400 as for GET."""
        event = _event_or_refusal(request)
        return event if isinstance(event, HttpResponse) else _gif()

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        throttle = IngestRateThrottle()
        if not throttle.allow_request(request, self):  # type: ignore[arg-type]
            wait = throttle.wait()
            retry_after = str(max(1, math.ceil(wait))) if wait is not None else "1"
            return _text(429, "too many requests; slow down", **{"Retry-After": retry_after})
        event = _event_or_refusal(request)
        if isinstance(event, HttpResponse):
            return event
        try:
            publish_events([event])
        except PublishUnavailable as exc:
            return _text(
                503,
                f"not recorded, retry later with the same event_id ({event.event_id}): {exc}",
                **{"Retry-After": str(settings.INGEST_RETRY_AFTER_SECONDS)},
            )
        response = _gif()
        response["X-Event-Id"] = str(event.event_id)
        return response


pixel = PixelView.as_view()
