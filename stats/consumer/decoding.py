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


def _published_at(record: Any) -> datetime:
    """The record's own timestamp: the future-time rule is judged as the API judged it."""
    millis = getattr(record, "timestamp", None)
    if isinstance(millis, int) and millis >= 0:
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    return timezone.now()


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
