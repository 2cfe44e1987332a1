"""How long raw impressions and the topics' records are kept: the one place that decides it.

A raw impression row is what makes a resent event id count once (`stats.recording` claims an
event only when its id has no row). So a row must outlive every copy of its event that can
still arrive: a client's retry, up to CLIENT_RETRY_WINDOW_SECONDS after its first send, and the
topic's records, which the consumer meets again whenever it re-reads the topic (a new group, a
cleared ledger, a replay). Kafka deletes whole segments once their newest record is older than
`retention.ms`, so a record can stay up to `retention.ms + segment.ms`. Hence the minimum:

    raw retention >= topic retention.ms + segment.ms + client retry window (+ CLOCK_MARGIN)

adsite/settings.py refuses a RAW_IMPRESSION_RETENTION_DAYS below it; `impressions_prune` refuses
a cutoff younger than the configured retention; `rebuildstats` refuses days whose rows the
pruning may already have taken.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings

from impressions.contract import MAX_FUTURE_SKEW

# Clocks of the web servers (whose producers stamp records), the broker and the consumers (who
# write `recorded_at`) may disagree, and the broker deletes expired segments every 5 minutes:
# the retention floor and a rebuild's distance from the pruning cutoff add this much.
CLOCK_MARGIN = timedelta(hours=1)


class RetentionRefused(ValueError):
    """A prune or a rebuild that could count an event twice or read pruned rows; the message
    says what to do instead."""


def minimum_raw_retention() -> timedelta:
    """Topic retention + segment + client retry window + CLOCK_MARGIN (the broker checks
    retention every 5 minutes; clocks differ): no raw row younger is ever pruned."""
    return CLOCK_MARGIN + timedelta(
        milliseconds=settings.IMPRESSIONS_TOPIC_RETENTION_MS
        + settings.IMPRESSIONS_TOPIC_SEGMENT_MS,
        seconds=settings.CLIENT_RETRY_WINDOW_SECONDS,
    )


def raw_retention() -> timedelta:
    """RAW_IMPRESSION_RETENTION_DAYS (settings guarantee it is at least the minimum)."""
    return timedelta(days=settings.RAW_IMPRESSION_RETENTION_DAYS)


def prune_cutoff(*, now: datetime, days: int | None = None) -> datetime:
    """`recorded_at` before which raw rows may go; `days` (default: the setting) may only keep
    more. Raises RetentionRefused for fewer days than RAW_IMPRESSION_RETENTION_DAYS."""
    if days is None:
        return now - raw_retention()
    if days < settings.RAW_IMPRESSION_RETENTION_DAYS:
        raise RetentionRefused(_too_short(f"--days {days}"))
    return now - timedelta(days=days)


def check_prune_cutoff(older_than: datetime, *, now: datetime) -> None:
    """Raise RetentionRefused when deleting rows recorded before `older_than` would delete rows
    younger than the configured retention."""
    if older_than > now - raw_retention():
        raise RetentionRefused(_too_short(f"a cutoff of {older_than:%Y-%m-%d %H:%M} UTC"))


def first_rebuildable_day(*, now: datetime) -> date:
    """The oldest UTC day whose raw rows no pruning can have taken yet.

    A row of day d was recorded no earlier than d minus the contract's future skew; pruning
    takes rows recorded before now minus the retention. CLOCK_MARGIN covers clock skew.
    """
    oldest_safe = (now - raw_retention() + MAX_FUTURE_SKEW + CLOCK_MARGIN).astimezone(UTC)
    day = oldest_safe.date()
    return day if oldest_safe.time() == time() else day + timedelta(days=1)


def topic_configs(*, dead_letters: bool) -> dict[str, str]:
    """The configs a topic is created with: the impressions topic's retention and segment, and
    the longer retention of its dead-letter topic (dead letters wait for an operator)."""
    retention = (
        settings.DEAD_LETTER_TOPIC_RETENTION_MS
        if dead_letters
        else settings.IMPRESSIONS_TOPIC_RETENTION_MS
    )
    return {
        "retention.ms": str(retention),
        "segment.ms": str(settings.IMPRESSIONS_TOPIC_SEGMENT_MS),
    }


def _too_short(asked: str) -> str:
    minimum = minimum_raw_retention()
    return (
        f"refused: {asked} would prune raw impressions younger than RAW_IMPRESSION_RETENTION_DAYS"
        f"={settings.RAW_IMPRESSION_RETENTION_DAYS}; a resent or replayed event whose row is gone "
        f"is counted again. The retention may not go below the topic's retention.ms + segment.ms "
        f"+ CLIENT_RETRY_WINDOW_SECONDS + 1 hour ({minimum.total_seconds() / 86400:.2f} days); "
        f"to prune more, lower RAW_IMPRESSION_RETENTION_DAYS (not below that) and the topic's "
        f"retention."
    )
