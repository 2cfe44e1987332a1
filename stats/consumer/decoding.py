"""Step 1, decode: each record becomes a valid event or a dead letter with its reason."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from impressions.contract import LATEST_TIMESTAMP, AdImpressionEvent, ContractError, decode_event
from stats.consumer.records import DeadLetter, Record


@dataclass
class Decoded:
    good: list[tuple[Record, AdImpressionEvent]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


def published_at(record: Record) -> datetime:
    """The reference for the future-time rule, decided from the record alone (never from the
    clock, so a record decodes the same on every retry, in every process, on every replay).

    - CreateTime (the web server's producer set it when the API accepted the event): that
      instant, so the consumer judges an event as the API did.
    - LogAppendTime (the broker set it when it appended the record, at or after the API's
      moment): that instant; only a skew of the broker's clock behind the web server's by
      more than the rule's 5 minutes could make it stricter than the API.
    - No usable timestamp (v0 messages, -1, out of range): no reference, so only the
      contract's absolute range applies (LATEST_TIMESTAMP), never "now".
    """
    millis = record.timestamp
    if millis is None or millis < 0:
        return LATEST_TIMESTAMP
    try:
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return LATEST_TIMESTAMP


def decode_records(records: Iterable[Record]) -> Decoded:
    """Decode and validate each record value against the contract (v1 or v2; another
    `schema_version` is a dead letter that says so). Never raises: a value the contract did
    not foresee is a dead letter too (`undecodable: ...`)."""
    decoded = Decoded()
    for record in records:
        try:
            decoded.good.append((record, decode_event(record.value, now=published_at(record))))
        except ContractError as exc:
            decoded.dead.append(DeadLetter(record, exc.reason()))
        except Exception as exc:  # noqa: BLE001 - poison must not stop the consumer
            decoded.dead.append(DeadLetter(record, f"undecodable: {exc.__class__.__name__}: {exc}"))
    return decoded
