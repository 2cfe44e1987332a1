"""Golden record values of every committed version, decoded by the current code.

Each file under `golden/` is a record value byte for byte as a writer of that version put it on
the topic. They never change: a new version adds files. A v1 or v2 record must decode to the
same event forever (and validate against its own committed schema and every later one); a
version the code does not know must be refused with a reason that names it.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from msgspec import UNSET

from impressions.contract import ContractError, decode_event, encode_event
from impressions.schema_checks import SCHEMA_DIR, committed_versions

GOLDEN = Path(__file__).resolve().parent / "golden"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

EXPECTED: dict[str, dict[str, Any]] = {
    "v1.json": {
        "schema_version": 1,
        "event_id": uuid.UUID("0b7e4c52-3f7d-4a39-9d1e-5a1f0c2e8b11"),
        "ad_id": "ad-1",
        "user_id": "u-1",
        "timestamp": datetime(2026, 11, 25, 10, 15, 30, 250000, tzinfo=UTC),
        "placement": UNSET,
        "campaign_id": UNSET,
        "device": UNSET,
    },
    "v1-offset-zone.json": {
        "schema_version": 1,
        "event_id": uuid.UUID("4c2a1e9f-7b3d-4f6a-8e5c-2d9b0a1f3e22"),
        "ad_id": "Campaign_7.banner:top-1",
        "user_id": "user with spaces / ü",
        "timestamp": datetime(2026, 11, 25, 10, 15, 30, tzinfo=UTC),  # normalised to UTC
        "placement": UNSET,
        "campaign_id": UNSET,
        "device": UNSET,
    },
    "v2-without-options.json": {
        "schema_version": 2,
        "event_id": uuid.UUID("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c33"),
        "ad_id": "ad-2",
        "user_id": "u-2",
        "timestamp": datetime(2026, 11, 25, 10, 16, tzinfo=UTC),
        "placement": UNSET,
        "campaign_id": UNSET,
        "device": UNSET,
    },
    "v2-full.json": {
        "schema_version": 2,
        "event_id": uuid.UUID("1f2e3d4c-5b6a-4978-8a6b-5c4d3e2f1a44"),
        "ad_id": "ad-3",
        "user_id": "u-3",
        "timestamp": datetime(2026, 11, 25, 10, 17, 0, 1, tzinfo=UTC),
        "placement": "home-top",
        "campaign_id": "spring-sale.2026",
        "device": "mobile",
    },
    "v2-device-only.json": {
        "schema_version": 2,
        "event_id": uuid.UUID("6d5c4b3a-2918-4e7d-9c6b-5a4938271655"),
        "ad_id": "ad-4",
        "user_id": "u-4",
        "timestamp": datetime(2026, 11, 25, 10, 18, tzinfo=UTC),
        "placement": UNSET,
        "campaign_id": UNSET,
        "device": "ctv",
    },
}
UNKNOWN = {
    "v3-unknown.json": (
        "schema_version: unknown schema_version 3: this code reads versions 1 and 2 only"
    )
}


def golden(name: str) -> bytes:
    return (GOLDEN / name).read_bytes().rstrip(b"\n")


def test_every_golden_file_has_an_expectation() -> None:
    assert {path.name for path in GOLDEN.glob("*.json")} == set(EXPECTED) | set(UNKNOWN)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_records_decode_to_the_same_event(name: str) -> None:
    event = decode_event(golden(name), now=NOW)
    fields = {field: getattr(event, field) for field in EXPECTED[name]}
    assert fields == EXPECTED[name]
    assert event.timestamp.utcoffset() is not None


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_records_validate_against_their_schema_and_every_later_one(name: str) -> None:
    written_with = int(name[1])
    record = json.loads(golden(name))
    for version, schema in committed_versions(SCHEMA_DIR):
        validator = jsonschema.Draft202012Validator(schema)
        assert validator.is_valid(record) == (version >= written_with), (name, version)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_decoded_golden_record_is_written_again_as_it_was_read(name: str) -> None:
    """Re-encoding keeps the version and leaves absent options absent (a replay, a fix)."""
    event = decode_event(golden(name), now=NOW)
    again = json.loads(encode_event(event))
    assert again["schema_version"] == event.schema_version
    assert {k for k in ("placement", "campaign_id", "device") if k in again} == {
        k for k in ("placement", "campaign_id", "device") if EXPECTED[name][k] is not UNSET
    }


@pytest.mark.parametrize(("name", "reason"), sorted(UNKNOWN.items()))
def test_a_record_of_an_unknown_version_is_refused_saying_so(name: str, reason: str) -> None:
    with pytest.raises(ContractError) as caught:
        decode_event(golden(name), now=NOW)
    assert caught.value.reason() == reason
