"""The counts of the lab-only delivery semantics (at-least-once, at-most-once): one bulk upsert
per batch that adds to each ad's counter, with no event-id check and no ledger."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from django.db import transaction

from stats.bulk_sql import columns, insert_values, table
from stats.semantics_lab.models import LabAdCount


@transaction.atomic
def lab_counts_add(*, consumer_group: str, topic: str, ad_ids: Iterable[str]) -> int:
    """Add one impression per ad id in `ad_ids` (repeats count again) to the group's counters
    for `topic`, in one transaction; return how many were added. Raises django.db.Error."""
    per_ad = Counter(ad_ids)
    insert_values(
        f"INSERT INTO {table(LabAdCount)}"
        f" ({columns('consumer_group', 'topic', 'ad_id', 'impressions')})",
        [(consumer_group, topic, ad, n) for ad, n in sorted(per_ad.items())],
        tail=f"ON CONFLICT ({columns('consumer_group', 'topic', 'ad_id')}) DO UPDATE SET"
        f" {columns('impressions')} = {table(LabAdCount)}.{columns('impressions')}"
        f" + excluded.{columns('impressions')}",
    )
    return sum(per_ad.values())


def lab_counts_get(*, consumer_group: str, topic: str) -> dict[str, int]:
    """Impressions per ad the group counted from `topic` (one statement)."""
    rows = LabAdCount.objects.filter(consumer_group=consumer_group, topic=topic)
    return dict(rows.values_list("ad_id", "impressions"))


def lab_counts_forget(*, keep_topic: str) -> int:
    """Delete the counts of every other topic (earlier runs' topics are deleted); return how
    many rows went."""
    deleted, _ = LabAdCount.objects.exclude(topic=keep_topic).delete()
    return deleted
