"""The web server of the benchmark: the site's own WSGI application (`adsite.wsgi`), plus P4's
yardstick at `/bench/noop/`: a trivial DRF view that parses the JSON body and answers 202
without validating or publishing anything. Run as `gunicorn bench.noop:application` with
`--pythonpath scripts`; never part of the product's URLs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import path
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from adsite.wsgi import application

settings.ROOT_URLCONF = __name__


class NoopApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []
    parser_classes = [JSONParser]

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(
            {"accepted": len(request.data) if isinstance(request.data, list) else 1}, 202
        )


def _site_urls() -> list[Any]:
    from adsite.urls import urlpatterns

    return list(urlpatterns)


urlpatterns = [path("bench/noop/", NoopApi.as_view()), *_site_urls()]

__all__ = ["application"]
