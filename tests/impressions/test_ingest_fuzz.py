"""Property-based fuzzing of both ingest endpoints with Hypothesis.

Bodies: random bytes, random JSON values, near-valid events with mutated fields, deep nesting,
huge numbers, NUL, lone surrogates (escaped and raw), duplicate keys, byte-level damage, and now
and then a wrong Content-Type. The properties:

- no answer is a 5xx, and every 4xx body names its problem (`detail` or `error`);
- every event that a 2xx answer accepted is counted exactly once: as-is, in the database at
  once (and `recorded` is what the request stored); to-be, after the consumer has drained the
  topic. No other event is counted. On SQLite an event is its id: each accepted id is stored
  once. On PostgreSQL (raw rows partitioned by day) copies of an id are one event when their
  times lie within the duplicate window: no two stored copies of an id lie within it, every
  accepted copy lies within it of a stored one, and every stored copy was accepted.
"""

from __future__ import annotations

import itertools
import json
import string
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from impressions.models import Impression
from stats import raw_partitions
from stats.models import AdMinuteCount

MAX_EVENTS = 8  # lowered from 1000 for these tests, so that 413s are cheap to reach
MAX_BODY_BYTES = 16 * 1024
SYNC, TO_BE = "/api/impressions/sync/", "/api/impressions/"
SUCCESS = {SYNC: 201, TO_BE: 202}

FUZZ_SETTINGS = hypothesis_settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# A few fixed ids, so that some events are resent (a retry: accepted, counted once).
RESENT_IDS = [str(uuid.UUID(int=i)) for i in range(1, 6)]
ZONES = [
    UTC,
    timezone(timedelta(hours=1)),
    timezone(timedelta(hours=-8, minutes=-30)),
    timezone(timedelta(hours=14)),
    timezone(timedelta(hours=-23, minutes=-59)),
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
surrogates = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3)


def _recent(seconds: int) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


@st.composite
def valid_timestamps(draw: st.DrawFn) -> str:
    """Up to 30 days ago, or up to the 5 minutes ahead that the contract allows, in any zone."""
    zone = draw(st.sampled_from(ZONES))
    text = _recent(draw(st.integers(-30 * 86400, 240))).astimezone(zone).isoformat()
    return text.replace("+00:00", "Z") if draw(st.booleans()) else text


@st.composite
def timestamps(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 5))
    if kind <= 1:
        return draw(valid_timestamps())
    if kind == 2:  # around the future limit, on both sides
        return _recent(draw(st.integers(280, 320))).isoformat()
    if kind == 3:  # anywhere in years 1-9999, in any zone: often out of range
        naive = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
        return naive.replace(tzinfo=draw(st.sampled_from(ZONES))).isoformat()
    if kind == 4:
        return draw(
            st.sampled_from(
                [
                    "1970-01-01T00:00:00Z",
                    "1969-12-31T23:59:59.999999Z",
                    "0001-01-01T00:30:00+01:00",
                    "9999-12-31T23:59:59-01:00",
                    "8999-12-31T23:59:59Z",
                    "9000-01-01T00:00:00Z",
                    "2026-11-25T11:00:00",  # no zone
                    "2026-02-30T00:00:00Z",
                    "2026-11-25T24:00:00Z",
                    "yesterday",
                    "",
                ]
            )
        )
    return draw(json_values)


ad_ids = st.sampled_from(["ad-1", "ad-2", "Campaign_7.banner:top-1", "x" * 64]) | st.from_regex(
    r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True
)
bad_ad_ids = st.sampled_from(["", "x" * 65, "a b", "a/b", "a\n", "ä", "a\x00"]) | json_values
user_ids = (
    st.text(min_size=1, max_size=128)
    | st.sampled_from(["u-1", "ü" * 128, "\U0001f600" * 128, " ", "\u2028", "\ufeff"])
    | st.text(string.printable, min_size=1, max_size=10)
)
bad_user_ids = st.sampled_from(["", "u" * 129, "nul\x00inside", "\x00"]) | surrogates | json_values
event_ids = (
    st.uuids().map(str)
    | st.sampled_from(RESENT_IDS)
    | st.uuids().map(lambda u: str(u).upper())
    | st.uuids().map(lambda u: u.hex)
    | st.sampled_from(["not-a-uuid", "", "{" + RESENT_IDS[0] + "}", "urn:uuid:" + RESENT_IDS[1]])
    | json_values
)
schema_versions = st.sampled_from([1, 1, 1, 2, 0, "1", 1.0, True, None])


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    item: dict[str, Any] = {"ad_id": draw(ad_ids), "user_id": draw(user_ids)}
    if draw(st.booleans()):
        item["event_id"] = draw(st.uuids().map(str) | st.sampled_from(RESENT_IDS))
    if draw(st.booleans()):
        item["timestamp"] = draw(valid_timestamps())
    if draw(st.booleans()):
        item["schema_version"] = 1
    return item


@st.composite
def events(draw: st.DrawFn) -> Any:
    """Near-valid events: most have one field broken, missing or added, or an odd timestamp."""
    item = draw(valid_events())
    if draw(st.booleans()):
        item["timestamp"] = draw(timestamps())
    if draw(st.integers(0, 4)) == 0:
        item["schema_version"] = draw(schema_versions)
    mutation = draw(st.integers(0, 6))
    if mutation == 0:
        del item[draw(st.sampled_from(sorted(item)))]
    elif mutation == 1:
        item["ad_id"] = draw(bad_ad_ids)
    elif mutation == 2:
        item["user_id"] = draw(bad_user_ids)
    elif mutation == 3:
        item["event_id"] = draw(event_ids)
    elif mutation == 4:
        item[draw(st.text(max_size=10))] = draw(json_values)
    elif mutation == 5:
        return draw(json_values)  # not an object at all
    return item


def _encode(payload: Any, ascii_only: bool) -> bytes:
    # surrogatepass: a lone surrogate becomes its (invalid) UTF-8 bytes instead of an error
    return json.dumps(payload, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@st.composite
def event_payloads(draw: st.DrawFn, items: st.SearchStrategy[Any]) -> bytes:
    """One event, or an array of them (sometimes more than MAX_EVENTS, sometimes empty)."""
    if draw(st.booleans()):
        payload: Any = draw(items)
    else:
        payload = draw(st.lists(items, max_size=draw(st.sampled_from([3, 3, MAX_EVENTS + 2]))))
    return _encode(payload, draw(st.booleans()))


def _object(pairs: list[tuple[str, Any]]) -> str:
    return "{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in pairs) + "}"


@st.composite
def duplicate_keys(draw: st.DrawFn) -> bytes:
    pairs: list[tuple[str, Any]] = [("ad_id", draw(ad_ids)), ("user_id", draw(user_ids))]
    key = draw(st.sampled_from(["ad_id", "user_id", "event_id", "timestamp", "x"]))
    value = draw(st.sampled_from(["ad-2", "u-2", RESENT_IDS[2], "2026-01-01T00:00:00Z", 1]))
    pairs.insert(draw(st.integers(0, len(pairs))), (key, value))
    if key not in ("ad_id", "user_id"):
        pairs.insert(draw(st.integers(0, len(pairs))), (key, value))
    text = _object(pairs)
    return (f"[{text}]" if draw(st.booleans()) else text).encode("utf-8", "surrogatepass")


@st.composite
def nested(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(0, 40) | st.integers(900, 3000) | st.sampled_from([999, 1000, 10_000]))
    shape = draw(st.integers(0, 2))
    if shape == 0:
        return b"[" * depth + b"]" * depth
    if shape == 1:
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b"[" * depth + _encode({"ad_id": "ad-1", "user_id": "u-1"}, True) + b"]" * depth


@st.composite
def odd_numbers(draw: st.DrawFn) -> bytes:
    number = draw(
        st.sampled_from(
            ["1e400", "-1e400", "9" * 5000, "1" + "0" * 30, "-0", "1E+2", "1.5", "0x10"]
        )
    )
    field = draw(st.sampled_from(["schema_version", "user_id", "event_id", "timestamp", "n"]))
    raw = f'{{"ad_id":"ad-1","user_id":"u-1","{field}":{number}}}'
    if field == "user_id":
        raw = f'{{"ad_id":"ad-1","user_id":{number}}}'
    return raw.encode()


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A valid body with a few bytes replaced, inserted or deleted, or cut short."""
    body = bytearray(_encode([{"ad_id": "ad-1", "user_id": draw(user_ids)}], False))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(body)))
        operation = draw(st.integers(0, 3))
        byte = draw(st.integers(0, 255))
        if operation == 0 and at < len(body):
            body[at] = byte
        elif operation == 1:
            body.insert(at, byte)
        elif operation == 2 and at < len(body):
            del body[at]
        else:
            del body[at:]
    return bytes(body)


bodies = st.one_of(
    event_payloads(valid_events()),
    event_payloads(valid_events()),
    event_payloads(valid_events()),
    event_payloads(events()),
    event_payloads(events()),
    event_payloads(events()),
    st.binary(max_size=300),
    json_values.map(lambda v: _encode(v, False)),
    surrogates.map(lambda s: _encode({"ad_id": "ad-1", "user_id": "u" + s}, False)),
    surrogates.map(lambda s: _encode({"ad_id": "ad-1", "user_id": "u" + s}, True)),
    st.sampled_from([b'{"ad_id":"ad-1","user_id":"\x00"}', b"\x00", b'{"ad_id":"ad-1"\x00}']),
    duplicate_keys(),
    nested(),
    nested(),
    odd_numbers(),
    damaged(),
    st.integers(MAX_BODY_BYTES - 40, MAX_BODY_BYTES + 40).map(
        lambda n: (b'{"ad_id":"ad-1","user_id":"' + b" " * n)[:n] + b'"}'
    ),
)
content_types = st.sampled_from(
    ["application/json"] * 30
    + [
        "application/json; charset=utf-8",
        "application/json; charset=UTF-8",
        "application/json; charset=latin-1",
        "*/*",
        "application/*",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
    ]
)


Copies = dict[str, list[tuple[datetime, datetime]]]
"""Accepted copies of each event id: the earliest and latest time each can carry (equal when
the body gave a timestamp; the request's span when the server stamped it)."""


def _accepted_copies(body: bytes, ids: list[str], sent: datetime, answered: datetime) -> Copies:
    payload = json.loads(body)
    items = payload if isinstance(payload, list) else [payload]
    assert len(items) == len(ids)
    copies: Copies = {}
    for item, event_id in zip(items, ids, strict=True):
        if item.get("timestamp") is not None:
            moment = datetime.fromisoformat(item["timestamp"])
            copies.setdefault(event_id, []).append((moment, moment))
        else:
            copies.setdefault(event_id, []).append((sent, answered))
    return copies


def fuzz_endpoint(client: Client, path: str, max_examples: int) -> tuple[Counter[int], Copies]:
    """Post generated bodies to `path`; check each answer; return status counts and the
    accepted copies of each id."""
    statuses: Counter[int] = Counter()
    accepted: Copies = {}

    @hypothesis_settings(FUZZ_SETTINGS, max_examples=max_examples)
    @given(body=bodies, content_type=content_types)
    def post_one(body: bytes, content_type: str) -> None:
        stored_before = Impression.objects.count()
        sent = datetime.now(UTC)
        response = client.generic("POST", path, body, content_type=content_type)
        answered = datetime.now(UTC)
        statuses[response.status_code] += 1
        assert response.status_code in (SUCCESS[path], 400, 413, 415), response.content
        answer = response.json()
        if response.status_code != SUCCESS[path]:
            problem = answer.get("detail") or answer.get("error")
            assert isinstance(problem, str) and problem, answer
            return
        ids = answer["event_ids"]
        assert answer["accepted"] == len(ids) >= 1
        new = [i for i in dict.fromkeys(ids) if i not in accepted]
        if path == SYNC:  # recorded in the request: every id is there now, the new ones counted
            assert answer["recorded"] == Impression.objects.count() - stored_before
            if not _partitioned():
                assert answer["recorded"] == len(new)
            assert Impression.objects.filter(event_id__in=ids).count() >= len(set(ids))
        for event_id, copies in _accepted_copies(body, ids, sent, answered).items():
            accepted.setdefault(event_id, []).extend(copies)

    post_one()
    return statuses, accepted


def _partitioned() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def assert_counted_exactly(accepted: Copies) -> None:
    stored_rows = list(Impression.objects.values_list("event_id", "occurred_at"))
    counted = sum(AdMinuteCount.objects.values_list("impressions", flat=True))
    assert counted == len(stored_rows)
    stored: dict[str, list[datetime]] = {}
    for event_id, moment in stored_rows:
        stored.setdefault(str(event_id), []).append(moment)
    assert set(stored) == set(accepted)
    if not _partitioned():
        assert len(stored_rows) == len(stored)  # an id is stored once
        return
    window = raw_partitions.duplicate_window()
    for key, times in stored.items():
        times.sort()
        assert all(b - a > window for a, b in itertools.pairwise(times)), (key, times)
        for low, high in accepted[key]:  # every accepted copy is one stored event
            assert any(low - window <= t <= high + window for t in times), (key, low, times)
        for t in times:  # every stored copy is an accepted one
            assert any(low <= t <= high for low, high in accepted[key]), (key, t)


@pytest.fixture
def ingest_settings(settings: Any) -> Any:
    settings.INGEST_THROTTLE_RATE = None
    settings.INGEST_MAX_EVENTS = MAX_EVENTS
    settings.INGEST_MAX_BODY_BYTES = MAX_BODY_BYTES
    return settings


@pytest.mark.django_db(transaction=True)  # each request commits on its own, as in production
def test_sync_ingest_never_fails_and_counts_what_it_accepts(ingest_settings: Any) -> None:
    statuses, accepted = fuzz_endpoint(APIClient(), SYNC, max_examples=300)
    assert statuses[201] and statuses[400]  # the generator reaches both sides of the contract
    assert_counted_exactly(accepted)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_to_be_ingest_never_fails_and_the_consumer_counts_what_it_accepted(
    ingest_settings: Any, topic: str, run_consumer: Callable[..., None]
) -> None:
    statuses, accepted = fuzz_endpoint(APIClient(), TO_BE, max_examples=300)
    assert statuses[202] and statuses[400]
    run_consumer()
    assert_counted_exactly(accepted)
