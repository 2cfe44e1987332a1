"""Hostile and careless clients on both ingest endpoints: each gets a 4xx that names the problem.

None of these requests reaches the broker (they are refused before publishing), so the to-be path
is tested here without one; a body that is accepted is only sent to the as-is path.
"""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client
from gunicorn.http.body import Body, ChunkedReader  # type: ignore[import-untyped]
from gunicorn.http.unreader import IterUnreader  # type: ignore[import-untyped]
from rest_framework.test import APIClient

from impressions.models import Impression
from impressions.parsers import MAX_JSON_DEPTH

pytestmark = pytest.mark.django_db

PATHS = ["/api/impressions/", "/api/impressions/sync/"]
SYNC = "/api/impressions/sync/"


def post(client: Client, path: str, body: bytes, content_type: str = "application/json") -> Any:
    return client.generic("POST", path, body, content_type=content_type)


def chunked(body: bytes, size: int = 1000) -> bytes:
    """`body` framed as HTTP/1.1 chunks of `size` bytes, with the last-chunk and no trailers."""
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def post_chunked(client: Client, path: str, body: bytes, *, server: str = "gunicorn") -> Any:
    """POST `body` with `Transfer-Encoding: chunked` and no Content-Length, as a server hands it
    to Django: gunicorn de-chunks it itself (its own Body/ChunkedReader as `wsgi.input`) and
    says so with `wsgi.input_terminated`; Django's runserver gives an empty stream and no flag.
    """
    environ: dict[str, Any] = {
        "PATH_INFO": path,
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/json",
        "HTTP_TRANSFER_ENCODING": "chunked",
    }
    if server == "gunicorn":
        framed = chunked(body)
        received = [framed[i : i + 8192] for i in range(0, len(framed), 8192)]  # as recv() gives
        reader = ChunkedReader(SimpleNamespace(), IterUnreader(received))
        environ["wsgi.input"] = Body(reader)
        environ["wsgi.input_terminated"] = True
    else:
        environ["wsgi.input"] = io.BytesIO(b"")
    return client.request(**environ)


def event(**fields: Any) -> dict[str, Any]:
    return {"ad_id": "fz-1", "user_id": "u-1", **fields}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (b"\xff\xfe", "byte 0xff at offset 27"),
        (b"\xc3\x28", "byte 0xc3 at offset 27"),  # a lead byte without its continuation
        (b"\xed\xa0\x80", "byte 0xed at offset 27"),  # an encoded surrogate (U+D800)
        (b"ok\x80", "byte 0x80 at offset 29"),
    ],
)
def test_invalid_utf8_is_400(api_client: APIClient, path: str, bad: bytes, problem: str) -> None:
    response = post(api_client, path, b'{"ad_id":"fz-1","user_id":"' + bad + b'"}')
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"body is not valid UTF-8: {problem}")
    assert Impression.objects.count() == 0


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 940, 950, 1000, 100_000])
def test_deep_nesting_is_400_before_decoding(api_client: APIClient, path: str, depth: int) -> None:
    response = post(api_client, path, b"[" * depth + b"]" * depth)
    assert response.status_code == 400
    assert f"nested more than {MAX_JSON_DEPTH} levels" in response.json()["detail"]


def test_nesting_up_to_the_cap_is_decoded_and_judged_by_the_contract(api_client: APIClient) -> None:
    response = post(api_client, SYNC, b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    assert response.status_code == 400
    assert response.json()["error"] == "each event must be a JSON object"


def test_brackets_inside_strings_do_not_count_as_nesting(api_client: APIClient) -> None:
    user_id = '[{"\\"' * 25  # 100 characters of brackets, quotes and escaped quotes
    response = post(api_client, SYNC, json.dumps([event(user_id=user_id)]).encode())
    assert response.status_code == 201
    assert Impression.objects.get().user_id == user_id


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b'{"ad_id":"fz-1","user_id":"a","user_id":"b"}', "user_id"),
        (b'[{"ad_id":"fz-1","user_id":"a"},{"ad_id":"x","ad_id":"y","user_id":"b"}]', "ad_id"),
        (b'{"ad_id":"fz-1","user_id":"a","\\u0061d_id":"fz-2"}', "ad_id"),  # same key once decoded
        (b'{"ad_id":"fz-1","user_id":"a","x":{"k":1,"k":1}}', "k"),
    ],
)
def test_duplicate_keys_are_400_naming_the_key(
    api_client: APIClient, path: str, body: bytes, key: str
) -> None:
    response = post(api_client, path, body)
    assert response.status_code == 400
    assert f'key "{key}" twice' in response.json()["detail"]
    assert Impression.objects.count() == 0


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "content_type",
    [
        "*/*",
        "application/*",
        "text/plain",
        "application/json; charset=utf-16",
        "application/json; charset=latin-1",
        "application/json; version=2",
        "application/x-www-form-urlencoded",
    ],
)
def test_other_media_types_are_415(api_client: APIClient, path: str, content_type: str) -> None:
    response = post(api_client, path, json.dumps(event()).encode(), content_type=content_type)
    assert response.status_code == 415
    assert response.json()["detail"].startswith(f'Unsupported media type "{content_type}"')
    assert Impression.objects.count() == 0


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", 'Application/JSON;charset="UTF-8"'],
)
def test_json_in_utf8_is_accepted(api_client: APIClient, content_type: str) -> None:
    response = post(api_client, SYNC, json.dumps(event()).encode(), content_type=content_type)
    assert response.status_code == 201


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("body", [b"", b" \r\n\t"])
def test_empty_body_is_400(api_client: APIClient, path: str, body: bytes) -> None:
    response = post(api_client, path, body)
    assert response.status_code == 400
    assert "body is empty" in response.json()["detail"]


def test_chunked_body_is_read_and_recorded(api_client: APIClient) -> None:
    events = [event(user_id=f"u-{i}") for i in range(300)]  # about 10 KB: several chunks
    response = post_chunked(api_client, SYNC, json.dumps(events).encode())
    assert response.status_code == 201, response.content
    assert response.json()["accepted"] == 300
    assert Impression.objects.count() == 300


@pytest.mark.parametrize("path", PATHS)
def test_chunked_body_over_the_limit_is_413(api_client: APIClient, path: str) -> None:
    body = (b"[" + b'{"ad_id":"fz-1","user_id":"u-1"},' * 65_000)[: 2 * 1024 * 1024]
    response = post_chunked(api_client, path, body)
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


@pytest.mark.parametrize("path", PATHS)
def test_chunked_bad_input_is_judged_like_any_body(api_client: APIClient, path: str) -> None:
    response = post_chunked(api_client, path, b'{"ad_id":"fz-1","user_id":"\xff"}')
    assert response.status_code == 400
    assert "UTF-8" in response.json()["detail"]


def test_chunked_body_on_a_server_that_cannot_give_it_is_411(api_client: APIClient) -> None:
    response = post_chunked(api_client, SYNC, json.dumps(event()).encode(), server="runserver")
    assert response.status_code == 411
    assert "Content-Length" in response.json()["detail"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "timestamp",
    [
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59.999999Z",
        "1970-01-01T00:30:00+01:00",  # 1969-12-31T23:30:00Z
        "9000-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    ],
)
def test_timestamps_outside_the_range_are_400(
    api_client: APIClient, path: str, timestamp: str
) -> None:
    response = post(api_client, path, json.dumps(event(timestamp=timestamp)).encode())
    assert response.status_code == 400
    assert response.json() == {
        "error": "timestamp is out of range (1970-01-01 to 9000-01-01 UTC)",
        "field": "timestamp",
    }


def test_the_first_timestamp_of_the_range_is_accepted(api_client: APIClient) -> None:
    response = post(api_client, SYNC, json.dumps(event(timestamp="1970-01-01T00:00:00Z")).encode())
    assert response.status_code == 201
