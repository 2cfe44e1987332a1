"""Time-to-visible probes: to-be events the migration demo's traffic had accepted, and when the
consumer's write made them visible in the raw impressions table."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from impressions.models import Impression


@dataclass
class Probe:
    event_id: str
    sent_at: float  # time.time() when the request that was answered 202 was sent
    visible_after: float | None = None  # seconds from sent_at to the row's recorded_at


def probe_visibility(probes: Iterable[Probe]) -> list[Probe]:
    """The run's probes, those the database has recorded since given their time-to-visible
    (one statement for the pending ones). `recorded_at` is the consumer's clock when it began
    the batch's write, so a batch that waited for a stall shows less than it waited; the
    batches polled during the stall show it in full."""
    probes = list(probes)  # a snapshot: the traffic's threads keep appending
    pending = {p.event_id: p for p in probes if p.visible_after is None}
    if pending:
        rows = Impression.objects.filter(event_id__in=list(pending)).values_list(
            "event_id", "recorded_at"
        )
        for event_id, recorded_at in rows:
            probe = pending[str(event_id)]
            probe.visible_after = max(0.0, recorded_at.timestamp() - probe.sent_at)
    return probes
