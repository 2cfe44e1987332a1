"""record_impressions: counts exactly, is idempotent on event_id, moves offsets forward only."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import IntegrityError

from impressions.contract import AdImpressionEvent
from impressions.models import Impression
from stats.models import ALL_ADS, AdDailyUser, AdMinuteCount, PartitionOffset
from stats.offset_update import OffsetUpdate
from stats.services import impressions_prune, record_impressions

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 25, 23, 59, 30, tzinfo=UTC)


def event(ad: str, user: str, at: datetime, event_id: uuid.UUID | None = None) -> AdImpressionEvent:
    return AdImpressionEvent(1, event_id or uuid.uuid4(), ad, user, at)


def minute_counts() -> dict[tuple[str, datetime], int]:
    return {(r.ad_id, r.minute): r.impressions for r in AdMinuteCount.objects.all()}


def test_counts_per_minute_and_unique_users_per_day() -> None:
    events = [
        event("a", "u1", T0),
        event("a", "u1", T0 + timedelta(seconds=10)),  # same minute, same user
        event("a", "u2", T0 + timedelta(seconds=40)),  # next minute, next UTC day
        event("b", "u1", T0),
    ]
    assert record_impressions(events=events) == 4
    assert minute_counts() == {
        ("a", datetime(2026, 11, 25, 23, 59, tzinfo=UTC)): 2,
        ("a", datetime(2026, 11, 26, 0, 0, tzinfo=UTC)): 1,
        ("b", datetime(2026, 11, 25, 23, 59, tzinfo=UTC)): 1,
    }
    assert set(AdDailyUser.objects.values_list("ad_id", "day", "user_id")) == {
        ("a", date(2026, 11, 25), "u1"),
        ("a", date(2026, 11, 26), "u2"),
        ("b", date(2026, 11, 25), "u1"),
        (ALL_ADS, date(2026, 11, 25), "u1"),  # the site-wide user set
        (ALL_ADS, date(2026, 11, 26), "u2"),
    }
    assert Impression.objects.count() == 4


def test_resending_the_same_events_changes_nothing() -> None:
    events = [event("a", f"u{i}", T0 + timedelta(seconds=i)) for i in range(50)]
    assert record_impressions(events=events) == 50
    before = minute_counts()
    assert record_impressions(events=events) == 0
    assert record_impressions(events=events[10:20] + [event("a", "new", T0)]) == 1
    after = minute_counts()
    assert sum(after.values()) == sum(before.values()) + 1
    assert Impression.objects.count() == 51


def test_duplicates_within_one_batch_count_once() -> None:
    same = uuid.uuid4()
    batch = [event("a", "u1", T0, same), event("a", "u1", T0, same), event("a", "u2", T0, same)]
    assert record_impressions(events=batch) == 1
    assert sum(minute_counts().values()) == 1
    assert Impression.objects.get(event_id=same).user_id == "u1"  # the first one wins


def test_offsets_are_stored_and_never_move_back() -> None:
    def offsets() -> dict[int, int]:
        return dict(PartitionOffset.objects.values_list("partition", "next_offset"))

    record_impressions(
        events=[], offsets=[OffsetUpdate("g", "t", 0, 10), OffsetUpdate("g", "t", 1, 5)]
    )
    assert offsets() == {0: 10, 1: 5}
    record_impressions(
        events=[], offsets=[OffsetUpdate("g", "t", 0, 7), OffsetUpdate("g", "t", 1, 9)]
    )
    assert offsets() == {0: 10, 1: 9}


def test_a_failing_batch_leaves_nothing_behind() -> None:
    events = [event("a", "u1", T0), event("b", "u2", T0)]
    # The ledger is written last; its check constraint (next_offset >= 0) fails the whole batch.
    with pytest.raises(IntegrityError):
        record_impressions(events=events, offsets=[OffsetUpdate("g", "t", 0, -1)])
    assert Impression.objects.count() == 0
    assert AdMinuteCount.objects.count() == 0
    assert PartitionOffset.objects.count() == 0


def test_any_user_id_text_is_stored_exactly() -> None:
    awkward = ["tab\there", "back\\slash", "new\nline", "cr\rhere", "ünïcödé ✓", "\\N"]
    events = [event("a", user, T0) for user in awkward]
    assert record_impressions(events=events) == len(awkward)
    assert sorted(Impression.objects.values_list("user_id", flat=True)) == sorted(awkward)
    stored = AdDailyUser.objects.exclude(ad_id=ALL_ADS).values_list("user_id", flat=True)
    assert sorted(stored) == sorted(awkward)


def test_pruning_goes_by_recording_time_not_event_time() -> None:
    long_ago = T0 - timedelta(days=400)
    old_event = event("a", "late-user", long_ago)
    assert record_impressions(events=[old_event]) == 1
    assert impressions_prune(older_than=T0 - timedelta(days=30)) == 0  # recorded just now
    assert record_impressions(events=[old_event]) == 0  # so a retry still counts once
    Impression.objects.update(recorded_at=T0 - timedelta(days=31))
    assert impressions_prune(older_than=T0 - timedelta(days=30)) == 1
    assert AdMinuteCount.objects.get(ad_id="a").impressions == 1  # aggregates stay
