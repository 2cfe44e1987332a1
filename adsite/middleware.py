"""A Content-Type header that Django cannot parse is a 400 with a plain reason, never a 500.

Django parses Content-Type while it builds the request object, before any middleware runs, and
raises ValueError on some headers, e.g. `application/json; charset*=bogus''utf-8` (an RFC 2231
parameter in an unknown encoding): the server answers 500 and no view or middleware sees the
request. So this is done in two steps. A `request_started` receiver, which Django calls with the
WSGI environ just before it builds the request (in the WSGI handler and in the test client alike),
moves an unparsable header aside to `INVALID_CONTENT_TYPE`. The middleware, near the top of
MIDDLEWARE, then answers such a request 400 before anything else reads it: JSON
`{"detail": ...}` under /api/, plain text elsewhere (like the pixel's refusals).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from django.core.signals import request_started
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.http import parse_header_parameters

# The environ (request.META) key that holds a Content-Type header moved aside, and why.
INVALID_CONTENT_TYPE = "adsite.invalid_content_type"


def _set_aside_unparsable_content_type(sender: Any, environ: Any = None, **kwargs: Any) -> None:
    if not isinstance(environ, dict) or not environ.get("CONTENT_TYPE"):
        return
    try:
        parse_header_parameters(environ["CONTENT_TYPE"])  # as WSGIRequest.__init__ will
    except (ValueError, LookupError) as exc:
        environ[INVALID_CONTENT_TYPE] = (environ.pop("CONTENT_TYPE"), str(exc))


request_started.connect(
    _set_aside_unparsable_content_type, dispatch_uid="adsite.unparsable_content_type"
)


class RejectUnparsableContentTypeMiddleware:
    """400 for a request whose Content-Type header the receiver above had to set aside."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        invalid = request.META.get(INVALID_CONTENT_TYPE)
        if invalid is None:
            return self.get_response(request)
        header, reason = invalid
        detail = f"Content-Type header {header[:200]!r} cannot be parsed: {reason}"
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": detail}, status=400)
        return HttpResponse(detail + "\n", status=400, content_type="text/plain; charset=utf-8")


# Paths whose views refuse a NUL themselves, with the parameter's name.
SELF_CHECKING_PATHS = ("/api/", "/i.gif")


class RejectNulMiddleware:
    """400 for a NUL byte in the path or the query string of a page (the admin's filters and
    search included): no view can use one, and PostgreSQL refuses it in a text parameter, which
    would be a 500. The APIs and the pixel check their parameters themselves and name the one
    at fault, so they are left to it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(SELF_CHECKING_PATHS):
            return self.get_response(request)
        query = unquote_plus(request.META.get("QUERY_STRING", ""))
        if "\x00" not in request.path and "\x00" not in query:
            return self.get_response(request)
        detail = "NUL characters are not allowed in the path or the query string"
        return HttpResponse(detail + "\n", status=400, content_type="text/plain; charset=utf-8")
