"""Records to events: each record is either a valid event or a dead letter with its reason."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from impressions.contract import AdImpressionEvent, ContractError, decode_event


@dataclass
class DecodedBatch:
    good: list[tuple[Any, AdImpressionEvent]] = field(default_factory=list)  # (record, event)
    dead: list[tuple[Any, str]] = field(default_factory=list)  # (record, reason)


LOG_APPEND_TIME = 1


def _published_at(record: Any) -> datetime:
    """The reference for the future-time rule: when the record was published (its CreateTime,
    set by the web server's producer), so the consumer judges an event as the API did."""
    now = timezone.now()
    millis = getattr(record, "timestamp", None)
    if not isinstance(millis, int) or millis < 0:
        return now
    try:
        published = datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return now
    if getattr(record, "timestamp_type", None) == LOG_APPEND_TIME:
        return max(published, now)  # the broker's clock, not the web server's: be lenient
    return published


def decode_records(records: Iterable[Any]) -> DecodedBatch:
    """Decode and validate each record value; nothing raised here stops the consumer."""
    batch = DecodedBatch()
    for record in records:
        try:
            batch.good.append((record, decode_event(record.value, now=_published_at(record))))
        except ContractError as exc:
            batch.dead.append((record, exc.reason()))
        except Exception as exc:  # noqa: BLE001 - a value the contract did not foresee is poison too
            batch.dead.append((record, f"undecodable: {exc.__class__.__name__}: {exc}"))
    return batch
