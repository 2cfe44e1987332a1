"""The event contract (v1 and v2): every rule, accepted and rejected, and the wire encoding."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from impressions.contract import (
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    AdImpressionEvent,
    ContractError,
    TooManyEvents,
    decode_event,
    encode_event,
    event_from_input,
    event_key,
    events_from_payload,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def valid(**changes: Any) -> dict[str, Any]:
    item = {
        "event_id": "6f1c8a52-5d7e-4b8e-9a51-0d6f3c2b9a10",
        "ad_id": "ad-42",
        "user_id": "user-7",
        "timestamp": "2026-11-25T11:59:00Z",
    }
    item.update(changes)
    return {k: v for k, v in item.items() if v is not None}


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"ad_id": "a"},
        {"ad_id": "x" * 64},
        {"ad_id": "Campaign_7.banner:top-1"},
        {"user_id": "u"},
        {"user_id": "ü" * 128},
        {"user_id": "user with spaces and / slashes"},
        {"timestamp": "2026-11-25T13:04:59+01:00"},  # 4m59s ahead: within the allowed skew
        {"timestamp": "2020-01-01T00:00:00.123456+00:00"},  # old events are fine (late arrivals)
        {"timestamp": "1970-01-01T00:00:00Z"},  # the first instant of the range
        {"timestamp": "1970-01-01T01:00:00+01:00"},  # the same instant
        {"schema_version": 1},
        {"schema_version": 2},
        {"placement": "home-top", "campaign_id": "c-7", "device": "mobile"},
        {"schema_version": 1, "placement": "x"},  # published as v2 whatever the body says
    ],
)
def test_accepts_valid_events(changes: dict[str, Any]) -> None:
    event = event_from_input(valid(**changes), now=NOW)
    assert event.ad_id == valid(**changes)["ad_id"]
    assert event.timestamp.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ad_id": ""}, "ad_id"),
        ({"ad_id": "x" * 65}, "ad_id"),
        ({"ad_id": "has space"}, "ad_id"),
        ({"ad_id": "slash/no"}, "ad_id"),
        ({"ad_id": "newline\n"}, "ad_id"),
        ({"ad_id": 42}, "ad_id"),
        ({"user_id": ""}, "user_id"),
        ({"user_id": "u" * 129}, "user_id"),
        ({"user_id": ["u"]}, "user_id"),
        ({"user_id": "nul\x00inside"}, "user_id"),  # PostgreSQL text cannot hold NUL
        ({"timestamp": "0001-01-01T00:30:00+01:00"}, "timestamp"),  # before year 1 in UTC
        ({"timestamp": "0001-01-01T00:00:00Z"}, "timestamp"),  # before 1970
        ({"timestamp": "1969-12-31T23:59:59.999999Z"}, "timestamp"),
        ({"timestamp": "1970-01-01T00:59:59+01:00"}, "timestamp"),  # 1969 in UTC
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"event_id": 12}, "event_id"),
        ({"timestamp": "2026-11-25T11:00:00"}, "timestamp"),  # no zone
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": 1764072000}, "timestamp"),
        ({"timestamp": "2026-11-25T12:05:01Z"}, "timestamp"),  # more than 5 minutes ahead
        ({"schema_version": 3}, "schema_version"),
        ({"schema_version": "2"}, "schema_version"),
        ({"placement": ""}, "placement"),
        ({"placement": "a b"}, "placement"),
        ({"placement": "top\n"}, "placement"),
        ({"campaign_id": "c" * 65}, "campaign_id"),
        ({"device": "fridge"}, "device"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_rejects_each_broken_rule_naming_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ContractError) as caught:
        event_from_input(valid(**changes), now=NOW)
    assert caught.value.field == field


@pytest.mark.parametrize("missing", ["ad_id", "user_id"])
def test_required_fields(missing: str) -> None:
    item = valid()
    del item[missing]
    with pytest.raises(ContractError) as caught:
        event_from_input(item, now=NOW)
    assert caught.value.field == missing


def test_server_assigns_event_id_and_timestamp_when_absent() -> None:
    event = event_from_input({"ad_id": "ad-1", "user_id": "u-1"}, now=NOW)
    assert isinstance(event.event_id, uuid.UUID)
    assert event.timestamp == NOW
    other = event_from_input({"ad_id": "ad-1", "user_id": "u-1"}, now=NOW)
    assert other.event_id != event.event_id
    # Time-ordered (version 7, made at the request's time): see impressions.event_ids.
    assert event.event_id.version == 7 and event.event_id.int >> 80 == NOW.timestamp() * 1000
    later = event_from_input({"ad_id": "ad-1", "user_id": "u-1"}, now=NOW + timedelta(seconds=1))
    assert later.event_id > event.event_id


def test_a_client_id_is_kept_whatever_its_version() -> None:
    for given in ("6f1c8a52-5d7e-4b8e-9a51-0d6f3c2b9a10", "00000000-0000-1000-8000-000000000001"):
        assert str(event_from_input(valid(event_id=given), now=NOW).event_id) == given


def test_timestamps_are_normalised_to_utc() -> None:
    event = event_from_input(valid(timestamp="2026-11-25T13:30:00+02:00"), now=NOW)
    assert event.timestamp == datetime(2026, 11, 25, 11, 30, tzinfo=UTC)
    assert event.timestamp.tzinfo == UTC


def test_payload_object_or_array() -> None:
    assert len(events_from_payload(valid(), now=NOW, max_events=10)) == 1
    two = [valid(), valid(event_id=None)]  # no event_id: the server assigns one
    assert len(events_from_payload(two, now=NOW, max_events=10)) == 2
    with pytest.raises(ContractError) as repeated:
        events_from_payload([valid(), valid(ad_id="ad-43")], now=NOW, max_events=10)
    assert (repeated.value.index, repeated.value.field) == (1, "event_id")


def test_payload_error_names_the_array_index() -> None:
    with pytest.raises(ContractError) as caught:
        payload = [valid(), valid(event_id=None), valid(event_id=None, user_id="")]
        events_from_payload(payload, now=NOW, max_events=10)
    assert (caught.value.index, caught.value.field) == (2, "user_id")
    assert caught.value.as_dict()["index"] == 2


@pytest.mark.parametrize("payload", [[], "text", 5, None, [valid(), "not an object"]])
def test_payload_shapes_rejected(payload: Any) -> None:
    with pytest.raises(ContractError):
        events_from_payload(payload, now=NOW, max_events=10)


def test_payload_too_many_events() -> None:
    with pytest.raises(TooManyEvents):
        events_from_payload([valid()] * 11, now=NOW, max_events=10)


def test_encoding_round_trip() -> None:
    event = event_from_input(valid(timestamp="2026-11-25T10:00:00.5+03:00"), now=NOW)
    wire = encode_event(event)
    assert json.loads(wire) == {
        "schema_version": 2,  # what the server writes now (a v2 event without its options)
        "event_id": "6f1c8a52-5d7e-4b8e-9a51-0d6f3c2b9a10",
        "ad_id": "ad-42",
        "user_id": "user-7",
        "timestamp": "2026-11-25T07:00:00.500000Z",
    }
    assert decode_event(wire, now=NOW) == event
    assert event_key(event) == b"ad-42"


def test_decode_normalises_foreign_zones() -> None:
    wire = json.dumps({**valid(timestamp="2026-11-25T13:00:00+02:00"), "schema_version": 1})
    assert decode_event(wire.encode(), now=NOW).timestamp == datetime(2026, 11, 25, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (None, "no value"),
        (json.dumps(valid()).encode(), "schema_version"),  # the wire form needs every field
        (json.dumps({**valid(), "schema_version": 1, "user_id": 7}).encode(), "str"),
        (b"[1, 2]", "object"),
    ],
)
def test_decode_rejects_with_a_reason(value: bytes | None, reason: str) -> None:
    with pytest.raises(ContractError) as caught:
        decode_event(value, now=NOW)
    assert reason in str(caught.value) or reason == caught.value.field


def test_decode_applies_the_future_rule() -> None:
    future = AdImpressionEvent(1, uuid.uuid4(), "ad", "u", NOW + timedelta(minutes=6))
    with pytest.raises(ContractError, match="future"):
        decode_event(encode_event(future), now=NOW)
    later = NOW + timedelta(minutes=2)
    assert decode_event(encode_event(future), now=later).timestamp == future.timestamp


def test_any_zone_is_accepted_and_compared_in_utc() -> None:
    tz = timezone(timedelta(hours=-8))
    ahead = (NOW + timedelta(minutes=4)).astimezone(tz).isoformat()
    assert event_from_input(valid(timestamp=ahead), now=NOW).timestamp == NOW + timedelta(minutes=4)


def test_timestamp_range_is_the_stats_apis() -> None:
    assert EARLIEST_TIMESTAMP == datetime(1970, 1, 1, tzinfo=UTC)
    assert LATEST_TIMESTAMP == datetime(9000, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "moment",
    [
        EARLIEST_TIMESTAMP - timedelta(microseconds=1),
        LATEST_TIMESTAMP,
        datetime(9999, 1, 1, tzinfo=UTC),
    ],
)
def test_timestamps_out_of_range_are_refused_by_api_and_consumer(moment: datetime) -> None:
    message = "timestamp is out of range (1970-01-01 to 9000-01-01 UTC)"
    far_future = datetime(9999, 12, 31, tzinfo=UTC)  # so that only the range rule applies
    with pytest.raises(ContractError, match=re.escape(message)) as api:
        event_from_input(valid(timestamp=moment.isoformat()), now=far_future)
    assert api.value.field == "timestamp"
    wire = encode_event(AdImpressionEvent(1, uuid.uuid4(), "ad", "u", moment))
    with pytest.raises(ContractError) as consumer:
        decode_event(wire, now=far_future)
    assert consumer.value.reason() == f"timestamp: {message}"


def test_decode_rejects_invalid_utf8_as_a_contract_error() -> None:
    wire = encode_event(AdImpressionEvent(1, uuid.uuid4(), "ad", "u-\u00e9", NOW))
    broken = wire.replace("é".encode(), b"\xc3\x28")
    with pytest.raises(ContractError, match="not valid UTF-8"):
        decode_event(broken, now=NOW)


def test_v1_and_v2_bodies_are_published_as_v2_without_unknown_fields() -> None:
    v1 = event_from_input(valid(schema_version=1), now=NOW)
    v2 = event_from_input(valid(placement="home-top", device="ctv"), now=NOW)
    assert json.loads(encode_event(v1))["schema_version"] == 2
    assert "placement" not in json.loads(encode_event(v1))  # absent, not null: no byte more
    assert json.loads(encode_event(v2))["placement"] == "home-top"
    assert decode_event(encode_event(v2), now=NOW) == v2


@pytest.mark.parametrize("version", [3, 0, 99, "2", True, None, 1.5])
def test_an_unknown_schema_version_is_refused_saying_so(version: object) -> None:
    record = json.dumps({**valid(), "schema_version": version}).encode()
    with pytest.raises(ContractError) as caught:
        decode_event(record, now=NOW)
    assert caught.value.field == "schema_version"
    assert caught.value.reason().startswith("schema_version: unknown schema_version ")
    assert "reads versions 1 and 2 only" in caught.value.reason()
