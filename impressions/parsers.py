"""The ingest body: read it however it is framed, refuse it early if hostile, parse it strictly.

Every refusal is a 4xx whose body names the problem, never a 500:

- a Content-Type other than `application/json` (optionally `; charset=utf-8`) is 415, `*/*` too;
- a body larger than INGEST_MAX_BODY_BYTES is 413, whether it declares a Content-Length or comes
  chunked (a chunked body is read from the server's de-chunked `wsgi.input`, see `IngestRequest`);
- JSON nested deeper than MAX_JSON_DEPTH is 400 before it is decoded (a valid body needs 2);
- invalid UTF-8 is 400, and so is an object that names a key twice (JSON leaves that open; here
  the last value would silently win).
"""

from __future__ import annotations

import io
import json
import re
from itertools import accumulate
from typing import IO, Any

import msgspec
from django.conf import settings
from django.http import HttpRequest
from django.utils.http import parse_header_parameters
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError, UnsupportedMediaType
from rest_framework.parsers import BaseParser
from rest_framework.request import Request

# An array of event objects is 2 levels deep; the margin lets a wrong body get a contract error
# naming its field instead of a nesting error. msgspec recurses per level and fails near 1000.
MAX_JSON_DEPTH = 32
JSON_MEDIA_TYPE = "application/json"


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "request body too large"
    default_code = "payload_too_large"


class LengthRequired(APIException):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_detail = (
        "this server cannot read a chunked request body (no Content-Length); "
        "send the body with a Content-Length"
    )
    default_code = "length_required"


def _unframed_body(request: HttpRequest) -> IO[bytes]:
    """The body of a request without a Content-Length, e.g. `Transfer-Encoding: chunked`.

    Django's WSGIRequest reads at most CONTENT_LENGTH bytes, so without one it sees an empty
    body. A server that de-chunks the body itself and ends `wsgi.input` at its end says so with
    `wsgi.input_terminated` (gunicorn does); then `wsgi.input` is the whole body. A server that
    does not (Django's runserver) cannot give the body at all: 411 rather than a wrong "empty".
    """
    meta = request.META
    if meta.get("CONTENT_LENGTH"):  # declared, and 0 (or not a number): there is no body
        return io.BytesIO(b"")
    if meta.get("wsgi.input_terminated"):
        stream: IO[bytes] = meta["wsgi.input"]
        return stream
    if "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        raise LengthRequired()
    return io.BytesIO(b"")


class IngestRequest(Request):
    """A DRF request whose body always reaches the parser.

    DRF treats a request without a Content-Length as bodiless and answers with empty data
    without calling the parser; here such a body is read from the server (see
    `_unframed_body`), and the parser then checks its media type, size and content as usual.
    """

    def _load_stream(self) -> None:
        super()._load_stream()  # type: ignore[misc]  # private in DRF, so not in its stubs
        if self._stream is None:
            self._stream = _unframed_body(self._request)


def check_media_type(content_type: str) -> None:
    """Accept `application/json`, optionally with `charset=utf-8`; anything else is 415."""
    try:
        media_type, params = parse_header_parameters(content_type)
        charset = params.pop("charset", "utf-8").strip().lower()
        acceptable = media_type == JSON_MEDIA_TYPE and charset == "utf-8" and not params
    except ValueError:  # e.g. an RFC 2231 parameter in an unknown encoding
        acceptable = False
    if not acceptable:
        raise UnsupportedMediaType(
            content_type,
            detail=f'Unsupported media type "{content_type}" in request: '
            "send Content-Type: application/json (charset utf-8, if any)",
        )


def _read_at_most(stream: Any, size: int) -> bytes:
    """Up to `size` bytes; a stream may return fewer than asked before its end."""
    if stream is None:
        return b""
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        part = stream.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


# A JSON string (to the closing quote, or to the end of an unterminated one). It never fails to
# match at a quote, so the scan is linear however the quotes and backslashes are arranged.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_STRUCTURAL = b"[]{}:"
_NOT_STRUCTURAL = bytes(c for c in range(256) if c not in _STRUCTURAL)
_OPEN_CLOSE = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 and -1 as signed bytes


def scan_structure(body: bytes) -> tuple[int, int]:
    """(deepest nesting, number of `:`) outside strings, without decoding: linear and cheap.

    In valid JSON every object member has exactly one `:` outside strings, so the count is the
    number of members as written, duplicates included. An unmatched closing bracket counts the
    depth down; the decoder stops with an error there, so what follows is never nested deeper.
    """
    structure = _STRING.sub(b"", body).translate(_OPEN_CLOSE, _NOT_STRUCTURAL)
    colons = structure.count(b":")
    brackets = structure.replace(b":", b"") if colons else structure
    depth = max(accumulate(memoryview(brackets).cast("b")), default=0)
    return depth, colons


def _members(value: Any) -> int:
    """Object members after decoding, where a repeated key counts once."""
    if isinstance(value, dict):
        nested = (v for v in value.values() if isinstance(v, dict | list))
        return len(value) + sum(_members(v) for v in nested)
    if isinstance(value, list):
        return sum(_members(v) for v in value if isinstance(v, dict | list))
    return 0


def _duplicate_key(text: str) -> str | None:
    """The first key that some object of `text` (valid JSON) names twice."""
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen and not found:
                found.append(key)
            seen.add(key)
        return dict(items)

    try:
        json.loads(text, object_pairs_hook=pairs)
    except ValueError:
        return None
    return found[0] if found else None


def _shown(text: str, limit: int = 64) -> str:
    return json.dumps(text if len(text) <= limit else text[:limit] + "...", ensure_ascii=False)


def _utf8_problem(body: bytes) -> str:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"byte 0x{body[exc.start]:02x} at offset {exc.start}: {exc.reason}"
    return "invalid UTF-8"


def decode_json(body: bytes) -> Any:
    """Decode an ingest body, or raise ParseError saying what is wrong with it."""
    if not body.strip():
        raise ParseError("request body is empty: send an event object or an array of them")
    depth, colons = scan_structure(body)
    if depth > MAX_JSON_DEPTH:
        raise ParseError(
            f"body is nested more than {MAX_JSON_DEPTH} levels deep; "
            "an event body is an object or an array of objects"
        )
    try:
        payload = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise ParseError(f"body is not valid JSON: {exc}") from None
    except UnicodeDecodeError:
        raise ParseError(f"body is not valid UTF-8: {_utf8_problem(body)}") from None
    if colons != _members(payload):
        key = _duplicate_key(body.decode("utf-8"))
        named = f"key {_shown(key)}" if key is not None else "a key"
        raise ParseError(f"body names {named} twice in one object; send each field once")
    return payload


class LimitedJSONParser(BaseParser):
    """application/json in UTF-8, at most INGEST_MAX_BODY_BYTES, with or without Content-Length."""

    media_type = JSON_MEDIA_TYPE

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        request = (parser_context or {}).get("request")
        # DRF picks this parser for any type that matches application/json, "*/*" included.
        check_media_type(request.content_type if request is not None else media_type or "")
        limit = settings.INGEST_MAX_BODY_BYTES
        too_large = PayloadTooLarge(f"request body is larger than {limit} bytes")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise too_large
        body = _read_at_most(stream, limit + 1)
        if len(body) > limit:
            raise too_large
        return decode_json(body)
