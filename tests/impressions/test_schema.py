"""The committed JSON Schema file and the code's contract must say the same thing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from impressions.contract import (
    AdImpressionEvent,
    ContractError,
    decode_event,
    encode_event,
    json_schema,
)

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "impressions/schema/ad_impression_event.v2.json"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_schema_file_is_the_generated_schema() -> None:
    committed = json.loads(SCHEMA_FILE.read_text())
    assert committed == json_schema(), (
        "the contract changed: regenerate with "
        "`python -m impressions.contract > impressions/schema/ad_impression_event.v2.json`"
    )


def test_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_FILE.read_text()))


GOOD = {
    "schema_version": 1,
    "event_id": str(uuid.UUID(int=7)),
    "ad_id": "ad-1",
    "user_id": "u-1",
    "timestamp": "2026-11-25T11:00:00Z",
}


@pytest.mark.parametrize(
    "record",
    [
        GOOD,
        {**GOOD, "ad_id": "a:b.c_d-e"},
        {**GOOD, "ad_id": ""},
        {**GOOD, "ad_id": "a b"},
        {**GOOD, "ad_id": "x" * 65},
        {**GOOD, "user_id": ""},
        {**GOOD, "user_id": "u" * 129},
        {**GOOD, "user_id": 3},
        {**GOOD, "schema_version": 2},
        {**GOOD, "schema_version": 3},
        {**GOOD, "schema_version": "1"},
        {**GOOD, "placement": "home-top", "campaign_id": "c.1", "device": "tablet"},
        {**GOOD, "placement": ""},
        {**GOOD, "placement": None},
        {**GOOD, "campaign_id": "a b"},
        {**GOOD, "device": "fridge"},
        {**GOOD, "device": None},
        {**GOOD, "extra": True},
        {k: v for k, v in GOOD.items() if k != "event_id"},
        {k: v for k, v in GOOD.items() if k != "timestamp"},
    ],
)
def test_schema_and_decoder_agree(record: dict[str, object]) -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    schema_ok = validator.is_valid(record)
    try:
        decode_event(json.dumps(record).encode(), now=NOW)
        code_ok = True
    except ContractError:
        code_ok = False
    assert schema_ok == code_ok


def test_encoded_events_validate_against_the_schema() -> None:
    event = AdImpressionEvent(1, uuid.uuid4(), "ad-9", "u-9", NOW)
    jsonschema.validate(json.loads(encode_event(event)), json.loads(SCHEMA_FILE.read_text()))


def test_schema_says_what_the_code_checks_beyond_it() -> None:
    timestamp = json.loads(SCHEMA_FILE.read_text())["$defs"]["AdImpressionEvent"]["properties"][
        "timestamp"
    ]
    assert "1970-01-01T00:00:00Z (inclusive)" in timestamp["description"]
    assert "9000-01-01T00:00:00Z (exclusive)" in timestamp["description"]
    assert "5 minutes in the future" in timestamp["description"]
