"""The AdImpressionEvent contract v2: fields, validation and the one JSON encoding on the wire.

Both the publisher and the consumer use this module, and it imports neither Django nor Kafka.
Version 2 adds three optional fields to version 1 (`placement`, `campaign_id`, `device`) and
nothing required: the v2 reader reads every v1 record unchanged (`schema_version` 1 or 2), and
everything written now is v2, with the optional fields left out when not given (so an event
without them costs no byte more than in v1). A record of any other `schema_version` is refused
with a reason that names the version, never guessed at.

Each version's JSON Schema is committed under `impressions/schema/` (`ad_impression_event.vN.json`,
closed: `additionalProperties: false`); the latest is generated from `AdImpressionEvent`
(`python -m impressions.contract > impressions/schema/ad_impression_event.v2.json`), a test keeps
the two in agreement, and `manage.py checkschemas` checks that every version reads the data of
every older one (impressions.schema_compat). Rules that JSON Schema cannot express (a timestamp
from EARLIEST_TIMESTAMP up to LATEST_TIMESTAMP and no more than five minutes in the future, no
trailing newline in an id) are checked by `check_event`.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from impressions.event_ids import new_event_id

SCHEMA_VERSION: Literal[2] = 2
"""The version everything written now carries."""
READABLE_VERSIONS = (1, 2)
"""The versions this code reads: every committed one."""
MAX_FUTURE_SKEW = timedelta(minutes=5)
# The range of event times, the same as the stats API's: [EARLIEST_TIMESTAMP, LATEST_TIMESTAMP).
EARLIEST_TIMESTAMP = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIMESTAMP = datetime(9000, 1, 1, tzinfo=UTC)
TIMESTAMP_OUT_OF_RANGE = (
    f"timestamp is out of range ({EARLIEST_TIMESTAMP:%Y-%m-%d} to {LATEST_TIMESTAMP:%Y-%m-%d} UTC)"
)
AD_ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
_AD_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
AD_ID_RULE = "ad_id must be 1-64 characters of [A-Za-z0-9_.:-]"

AdId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=AD_ID_PATTERN)]
# Any text but NUL, which PostgreSQL cannot store in a text column.
USER_ID_PATTERN = r"^[^\u0000]+$"
UserId = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=USER_ID_PATTERN)]
# Contract v2's optional fields. A placement or campaign id is an id like ad_id (the same
# characters, at most 64); the device is one of a few classes (OpenRTB's device types, grouped).
PLACEMENT_RULE = "placement must be 1-64 characters of [A-Za-z0-9_.:-]"
CAMPAIGN_ID_RULE = "campaign_id must be 1-64 characters of [A-Za-z0-9_.:-]"
Placement = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        pattern=AD_ID_PATTERN,
        description="Where on the page or in the app the ad was shown, e.g. `home-top`.",
    ),
]
CampaignId = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        pattern=AD_ID_PATTERN,
        description="The campaign the ad belongs to.",
    ),
]
DEVICES = ("desktop", "mobile", "tablet", "ctv", "other")
Device = Annotated[
    Literal["desktop", "mobile", "tablet", "ctv", "other"],
    msgspec.Meta(description="The class of device the ad was shown on (ctv: connected TV)."),
]
Version = Annotated[
    Literal[1, 2],
    msgspec.Meta(
        description=(
            "The contract version the writer used: 2 for everything written now; 1 for records "
            "written under version 1, which version 2 reads unchanged."
        )
    ),
]
AwareDatetime = Annotated[
    datetime,
    msgspec.Meta(
        tz=True,
        description=(
            "Event time with a zone (UTC on the topic). Also checked by the code, not by this "
            f"schema: from {EARLIEST_TIMESTAMP:%Y-%m-%dT%H:%M:%SZ} (inclusive) to "
            f"{LATEST_TIMESTAMP:%Y-%m-%dT%H:%M:%SZ} (exclusive), "
            "and at most 5 minutes in the future."
        ),
    ),
]


class AdImpressionEvent(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True
):
    """One view of one ad by one user, as stored on the topic (UTC time; v2 fields optional)."""

    # The five v1 fields are always present; a v2 field only when known: UNSET is left out of
    # the encoding (no byte more than v1 without it), and a null is refused.

    schema_version: Version
    event_id: uuid.UUID
    ad_id: AdId
    user_id: UserId
    timestamp: AwareDatetime
    placement: Placement | UnsetType = UNSET
    campaign_id: CampaignId | UnsetType = UNSET
    device: Device | UnsetType = UNSET


class ImpressionInput(msgspec.Struct, forbid_unknown_fields=True):
    """What a client may send, v1 or v2: `event_id` and `timestamp` are filled by the server."""

    # placement, campaign_id and device (v2) are optional too; every event is published as v2.

    ad_id: AdId
    user_id: UserId
    event_id: uuid.UUID | None = None
    timestamp: AwareDatetime | None = None
    schema_version: Version = SCHEMA_VERSION
    placement: Placement | UnsetType = UNSET
    campaign_id: CampaignId | UnsetType = UNSET
    device: Device | UnsetType = UNSET


class ContractError(ValueError):
    """An event breaks the contract; `field` names the offending field, `index` its array slot."""

    def __init__(self, message: str, *, field: str | None = None, index: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.index = index

    def at_index(self, index: int) -> ContractError:
        return ContractError(self.message, field=self.field, index=index)

    def reason(self) -> str:
        """One line for logs and dead-letter headers: `field: message`."""
        return f"{self.field}: {self.message}" if self.field else self.message

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message, "field": self.field}
        if self.index is not None:
            body["index"] = self.index
        return body


_FIELD_AT = re.compile(r"at `\$(?:\[\d+\])?\.([A-Za-z_]+)")
_MISSING_FIELD = re.compile(r"(?:missing required|unknown) field `([^`]+)`")


_PATTERN_RULES = {
    "ad_id": AD_ID_RULE,
    "placement": PLACEMENT_RULE,
    "campaign_id": CAMPAIGN_ID_RULE,
    "user_id": "user_id must not contain NUL characters",
}


def _contract_error(exc: msgspec.ValidationError) -> ContractError:
    text = str(exc)
    match = _FIELD_AT.search(text) or _MISSING_FIELD.search(text)
    field = match.group(1) if match else None
    message = text.split(" - at `", 1)[0]
    if "matching regex" in message and field in _PATTERN_RULES:
        message = _PATTERN_RULES[field]
    return ContractError(message, field=field)


def is_ad_id(text: str) -> bool:
    """Whether `text` is a valid ad id (also for ids that arrive outside an event, in a URL)."""
    return _AD_ID_RE.fullmatch(text) is not None


def check_event(event: AdImpressionEvent, *, now: datetime) -> AdImpressionEvent:
    """Apply the rules JSON Schema cannot express; return the event or raise ContractError."""
    if not is_ad_id(event.ad_id):
        raise ContractError(AD_ID_RULE, field="ad_id")
    if event.placement is not UNSET and not is_ad_id(event.placement):
        raise ContractError(PLACEMENT_RULE, field="placement")
    if event.campaign_id is not UNSET and not is_ad_id(event.campaign_id):
        raise ContractError(CAMPAIGN_ID_RULE, field="campaign_id")
    if not EARLIEST_TIMESTAMP <= event.timestamp < LATEST_TIMESTAMP:
        raise ContractError(TIMESTAMP_OUT_OF_RANGE, field="timestamp")
    if event.timestamp > now + MAX_FUTURE_SKEW:
        raise ContractError("timestamp is more than 5 minutes in the future", field="timestamp")
    return event


def event_from_input(item: Any, *, now: datetime) -> AdImpressionEvent:
    """Validate one client object (already JSON-decoded) and complete it into an event."""
    if not isinstance(item, dict):
        raise ContractError("each event must be a JSON object", field=None)
    try:
        given = msgspec.convert(item, ImpressionInput)
    except msgspec.ValidationError as exc:
        raise _unknown_version(item.get("schema_version", UNSET)) or _contract_error(exc) from None
    event = AdImpressionEvent(
        schema_version=SCHEMA_VERSION,  # a v1 body is published as v2: v1 is a subset of v2
        event_id=given.event_id or new_event_id(now),
        ad_id=given.ad_id,
        user_id=given.user_id,
        timestamp=_in_utc(given.timestamp or now),
        placement=given.placement,
        campaign_id=given.campaign_id,
        device=given.device,
    )
    return check_event(event, now=now)


class _Versioned(msgspec.Struct):
    """Only the version of a record, read when the record did not decode."""

    schema_version: Any = UNSET


def _unknown_version(version: Any) -> ContractError | None:
    """The refusal of a `schema_version` this code does not read (None if it reads it, or if
    there is none to judge: then the ordinary error says what is wrong)."""
    if version is UNSET or (type(version) is int and version in READABLE_VERSIONS):
        return None
    readable = " and ".join(str(v) for v in READABLE_VERSIONS)
    text = msgspec.json.encode(version).decode()[:40]
    return ContractError(
        f"unknown schema_version {text}: this code reads versions {readable} only",
        field="schema_version",
    )


def _version_of(value: bytes) -> Any:
    try:
        return msgspec.json.decode(value, type=_Versioned).schema_version
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        return UNSET


def _in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):  # e.g. 0001-01-01T00:30:00+01:00 is before year 1 in UTC
        raise ContractError(TIMESTAMP_OUT_OF_RANGE, field="timestamp") from None


class TooManyEvents(ValueError):
    """The payload holds more events than one request may carry."""


def events_from_payload(payload: Any, *, now: datetime, max_events: int) -> list[AdImpressionEvent]:
    """Validate a request body: one event object or an array of up to `max_events` of them.

    Raises ContractError (with the array index) for the first invalid event or an event id
    that repeats within the array, and TooManyEvents when the array is too long; nothing is
    returned unless every event is valid.
    """
    if isinstance(payload, dict):
        return [event_from_input(payload, now=now)]
    if not isinstance(payload, list):
        raise ContractError("body must be an event object or an array of event objects")
    if not payload:
        raise ContractError("the array of events is empty")
    if len(payload) > max_events:
        raise TooManyEvents(f"{len(payload)} events in one request; the limit is {max_events}")
    events = []
    seen: dict[uuid.UUID, int] = {}
    for index, item in enumerate(payload):
        try:
            event = event_from_input(item, now=now)
        except ContractError as exc:
            raise exc.at_index(index) from None
        if event.event_id in seen:
            # One copy would be dropped as a retry, and which one could differ between the two
            # paths (the to-be path may put the copies in different partitions): refuse both.
            raise ContractError(
                f"event_id repeats the event at index {seen[event.event_id]}",
                field="event_id",
                index=index,
            )
        seen[event.event_id] = index
        events.append(event)
    return events


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AdImpressionEvent)


def encode_event(event: AdImpressionEvent) -> bytes:
    """The record value on the topic: compact JSON, timestamp in UTC."""
    return _encoder.encode(event)


def event_key(event: AdImpressionEvent, *, buckets: int = 0) -> bytes:
    """The record key. With `buckets` 0 (the default): the ad id, so all of one ad's events share
    a partition and stay in order. With `buckets` N >= 1: `<ad id>:<b>`, b = a stable hash of
    the event id modulo N, so one busy ad spreads over up to N partitions (its events are no
    longer ordered with each other, which counting does not need) and a resent event keeps its
    key. The value is unchanged either way; the consumer never reads the key.
    """
    if buckets <= 0:
        return event.ad_id.encode()
    return f"{event.ad_id}:{zlib.crc32(event.event_id.bytes) % buckets}".encode()


def decode_event(value: bytes | None, *, now: datetime) -> AdImpressionEvent:
    """Decode and validate one record value of any readable version (READABLE_VERSIONS); raise
    ContractError saying why it is unusable (`unknown schema_version ...` for another version)."""
    if value is None:
        raise ContractError("record has no value")
    try:
        event = _decoder.decode(value)
    except msgspec.ValidationError as exc:
        # Only a refused record is read twice (for its version): a good one costs nothing more.
        raise _unknown_version(_version_of(value)) or _contract_error(exc) from None
    except msgspec.DecodeError as exc:
        raise ContractError(f"not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:  # msgspec's offset is within the string, not the value
        raise ContractError(f"not valid UTF-8: {exc.reason}") from None
    if event.timestamp.utcoffset() != timedelta(0):
        event = msgspec.structs.replace(event, timestamp=_in_utc(event.timestamp))
    return check_event(event, now=now)


def json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of the wire form, as committed in impressions/schema/."""
    schema = msgspec.json.schema(AdImpressionEvent)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"ad_impression_event.v{SCHEMA_VERSION}.json",
        "title": f"AdImpressionEvent v{SCHEMA_VERSION}",
        "description": "One view of one ad by one user; the value of a record on ad-impressions.",
        **schema,
    }


if __name__ == "__main__":
    json.dump(json_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
