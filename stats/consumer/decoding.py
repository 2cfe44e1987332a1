"""Step 1, decode: each record becomes a valid event or a dead letter with its reason."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.utils import timezone

from impressions.contract import AdImpressionEvent, ContractError, decode_event
from stats.consumer.records import LOG_APPEND_TIME, DeadLetter, Record


@dataclass
class Decoded:
    good: list[tuple[Record, AdImpressionEvent]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


def published_at(record: Record) -> datetime:
    """The reference for the future-time rule: when the record was published (its CreateTime,
    set by the web server's producer), so the consumer judges an event as the API did."""
    now = timezone.now()
    millis = record.timestamp
    if millis is None or millis < 0:
        return now
    try:
        published = datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return now
    if record.timestamp_type == LOG_APPEND_TIME:
        return max(published, now)  # the broker's clock, not the web server's: be lenient
    return published


def decode_records(records: Iterable[Record]) -> Decoded:
    """Decode and validate each record value against contract v1. Never raises: a value the
    contract did not foresee is a dead letter too (`undecodable: ...`)."""
    decoded = Decoded()
    for record in records:
        try:
            decoded.good.append((record, decode_event(record.value, now=published_at(record))))
        except ContractError as exc:
            decoded.dead.append(DeadLetter(record, exc.reason()))
        except Exception as exc:  # noqa: BLE001 - poison must not stop the consumer
            decoded.dead.append(DeadLetter(record, f"undecodable: {exc.__class__.__name__}: {exc}"))
    return decoded
