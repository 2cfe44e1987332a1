"""The ingest body parser's pieces: media type check, the structure scan, strict decoding."""

from __future__ import annotations

import json
import re

import pytest
from rest_framework.exceptions import ParseError, UnsupportedMediaType

from impressions.parsers import MAX_JSON_DEPTH, check_media_type, decode_json, scan_structure


@pytest.mark.parametrize(
    ("body", "depth", "colons"),
    [
        (b"", 0, 0),
        (b"{}", 1, 0),
        (b'[{"a":1},{"b":[2,{"c":3}]}]', 4, 3),
        (b'{"a":"[[[{{{:::]]"}', 1, 1),  # brackets and colons in strings do not count
        (b'{"a\\"[[":"\\\\"}', 1, 1),  # escaped quote inside, escaped backslash at the end
        (b'"[[[', 0, 0),  # an unterminated string runs to the end
        (b"]][[[", 1, 0),  # an unmatched closer counts down: the decoder stops at it anyway
        (b"[" * 5000, 5000, 0),
    ],
)
def test_scan_structure(body: bytes, depth: int, colons: int) -> None:
    assert scan_structure(body) == (depth, colons)


def test_scan_is_linear_on_quote_and_backslash_runs() -> None:
    hostile = b'"' + b'\\"' * 500_000  # one long unterminated string of escaped quotes
    assert scan_structure(hostile) == (0, 0)
    assert scan_structure(b'"a",' * 250_000) == (0, 0)


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON; CHARSET=UTF-8"],
)
def test_json_media_types(content_type: str) -> None:
    check_media_type(content_type)


@pytest.mark.parametrize(
    "content_type",
    [
        "",
        "*/*",
        "application/*",
        "application/json-patch+json",
        "application/json; charset=utf-16",
        "application/json; charset=utf-8; q=1",
        "application/json; charset*=bogus''utf-8",
    ],
)
def test_other_media_types(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType):
        check_media_type(content_type)


def test_decode_json_accepts_json() -> None:
    value = [{"ad_id": "a", "user_id": "ü\u0000", "n": [1, 2.5, None, True]}]
    assert decode_json(json.dumps(value).encode()) == value
    assert decode_json(json.dumps(value, ensure_ascii=False).encode()) == value


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "body is empty"),
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "nested more than"),
        (b'{"a":"\xff"}', "not valid UTF-8: byte 0xff at offset 6"),
        (b'{"a":"\\ud800"}', "not valid JSON"),  # a lone surrogate escape
        (b'{"a":1,"b":{"c":2,"c":3}}', 'key "c" twice'),
        (b'{"a":NaN}', "not valid JSON"),
        (b'{"a":1' + b"0" * 5000 + b"}", "not valid JSON"),
        (b'{"a":1}]', "not valid JSON"),
    ],
)
def test_decode_json_refuses(body: bytes, problem: str) -> None:
    with pytest.raises(ParseError, match=re.escape(problem)):
        decode_json(body)
