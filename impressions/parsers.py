"""A JSON body parser that refuses oversized bodies before reading them whole."""

from __future__ import annotations

from typing import Any

import msgspec
from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "request body too large"
    default_code = "payload_too_large"


class LimitedJSONParser(BaseParser):
    """application/json, at most INGEST_MAX_BODY_BYTES, whether or not Content-Length is sent."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.INGEST_MAX_BODY_BYTES
        too_large = PayloadTooLarge(f"request body is larger than {limit} bytes")
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise too_large
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise too_large
        try:
            return msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise ParseError(f"body is not valid JSON: {exc}") from None
