"""PostgreSQL's raw impressions partitioned by UTC day: exact counts and deduplication across
partitions, inserts for a day without a partition, pruning by dropping only wholly old
partitions, the migration on a table that already holds rows, and the key index that server
ids fill in order."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from impressions.contract import AdImpressionEvent
from impressions.event_ids import new_event_id
from impressions.models import Impression
from stats import raw_partitions
from stats.models import AdDayCount
from stats.services import impressions_prune, record_impressions

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="partitioning is PostgreSQL's (SQLite: plain)"
    ),
]


def midnight(days_ago: int) -> datetime:
    today = timezone.now().astimezone(UTC).date() - timedelta(days=days_ago)
    return datetime(today.year, today.month, today.day, tzinfo=UTC)


def event(at: datetime, event_id: uuid.UUID | None = None, user: str = "u") -> AdImpressionEvent:
    return AdImpressionEvent(1, event_id or uuid.uuid4(), "ad", user, at)


def total() -> int:
    return sum(AdDayCount.objects.filter(ad_id="ad").values_list("impressions", flat=True))


def rows_by_partition() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text, count(*) FROM impressions_impression GROUP BY 1"
        )
        return dict(cursor.fetchall())


def exists(day: date) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [raw_partitions.partition_name(day)])
        return bool(cursor.fetchone()[0])


def drop_partition(day: date) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {raw_partitions.partition_name(day)}")


def test_counts_and_resends_are_exact_across_midnight_and_partitions() -> None:
    edge = midnight(1)
    events = [event(edge + timedelta(seconds=s)) for s in (-2, -1, 0, 1)]  # two UTC days
    assert record_impressions(events=events) == 4
    assert record_impressions(events=events) == 0  # a resend: same ids, same timestamps
    parts = rows_by_partition()
    day_before, day = (edge - timedelta(days=1)).date(), edge.date()
    assert parts == {
        raw_partitions.partition_name(day_before): 2,
        raw_partitions.partition_name(day): 2,
    }
    # A client retry stamped by the server again, after midnight: same id, another partition.
    retry = event(edge + timedelta(hours=5), events[0].event_id)
    assert record_impressions(events=[retry]) == 0
    # The same id with an event time beyond the retry window is another event (documented).
    far = event(events[0].timestamp + raw_partitions.duplicate_window() + timedelta(hours=1))
    far = event(far.timestamp, events[0].event_id)
    assert record_impressions(events=[far]) == 1
    assert total() == 5 and Impression.objects.count() == 5


def test_an_event_for_a_day_without_a_partition_creates_it_or_lands_in_default() -> None:
    day = midnight(2)
    drop_partition(day.date())
    assert not exists(day.date())
    assert record_impressions(events=[event(day + timedelta(hours=3))]) == 1
    assert exists(day.date())
    old = datetime(2001, 5, 6, 7, 8, tzinfo=UTC)  # far beyond LATE_DAYS: the DEFAULT partition
    assert record_impressions(events=[event(old), event(old)]) == 2
    assert (
        record_impressions(events=[event(old, Impression.objects.earliest("occurred_at").pk)]) == 0
    )
    assert rows_by_partition()[raw_partitions.partition_name(day.date())] == 1
    assert rows_by_partition()["impressions_impression_default"] == 2
    assert not exists(old.date())
    assert total() == 3


def test_pruning_drops_only_partitions_wholly_below_the_cutoff(settings: Any) -> None:
    old_day, mixed_day = midnight(3), midnight(2)
    assert record_impressions(events=[event(old_day + timedelta(hours=h)) for h in range(5)]) == 5
    assert record_impressions(events=[event(mixed_day + timedelta(hours=h)) for h in range(4)]) == 4
    late = event(datetime(2001, 1, 1, tzinfo=UTC))
    assert record_impressions(events=[late]) == 1
    # Pretend RAW_IMPRESSION_RETENTION_DAYS + 10 days have passed, except for one row of the
    # mixed day recorded after the cutoff.
    now = timezone.now() + timedelta(days=settings.RAW_IMPRESSION_RETENTION_DAYS + 10)
    cutoff = now - timedelta(days=settings.RAW_IMPRESSION_RETENTION_DAYS)
    young = Impression.objects.filter(occurred_at__gte=mixed_day).order_by("occurred_at")[0]
    Impression.objects.filter(pk=young.pk).update(recorded_at=cutoff + timedelta(minutes=1))

    assert impressions_prune(older_than=cutoff, now=now) == 5 + 3 + 1
    assert not exists(old_day.date())  # dropped whole
    assert exists(mixed_day.date())  # holds a row above the cutoff: kept, old rows deleted
    assert list(Impression.objects.values_list("pk", flat=True)) == [young.pk]
    assert total() == 10  # aggregates stay


def test_ensure_window_creates_the_days_ahead() -> None:
    tomorrow = midnight(-1).date()
    drop_partition(tomorrow)
    assert tomorrow in raw_partitions.ensure_window(now=timezone.now())
    assert exists(tomorrow) and raw_partitions.ensure_window(now=timezone.now()) == []


@pytest.mark.django_db(transaction=True)
def test_the_migration_partitions_a_populated_table_and_back() -> None:
    MigrationExecutor(connection).migrate([("impressions", "0003_cache_table")])
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO impressions_impression SELECT gen_random_uuid(), 'ad', 'u' || g,"
            " %s - g * interval '7 hours', %s FROM generate_series(0, 99) g",
            [now, now],
        )
    days = {(now - timedelta(hours=7 * g)).astimezone(UTC).date() for g in range(100)}
    MigrationExecutor(connection).migrate([("impressions", "0004_partitioned_raw")])
    parts = rows_by_partition()
    assert set(parts) == {raw_partitions.partition_name(day) for day in days}  # one per day
    assert sum(parts.values()) == 100
    row = Impression.objects.order_by("pk")[0]
    assert record_impressions(events=[event(row.occurred_at, row.pk)]) == 0
    assert record_impressions(events=[event(now)]) == 1
    MigrationExecutor(connection).migrate([("impressions", "0003_cache_table")])
    assert Impression.objects.count() == 101 and not rows_by_partition().keys() - {
        "impressions_impression"
    }
    MigrationExecutor(connection).migrate([("impressions", "0004_partitioned_raw")])
    assert Impression.objects.count() == 101 and "impressions_impression" not in rows_by_partition()


def test_copies_within_one_batch_follow_the_same_window_rule() -> None:
    window = raw_partitions.duplicate_window()
    first = event(midnight(2) + timedelta(hours=1))
    same, far = first.event_id, first.timestamp + window + timedelta(minutes=1)
    batch = [
        first,
        event(first.timestamp + timedelta(hours=3), same),  # a server-stamped retry: dropped
        event(far, same),  # beyond the window of the first: another event
        event(far + timedelta(minutes=5), same),  # within the window of the one above: dropped
        event(first.timestamp),  # an unrelated event
    ]
    assert record_impressions(events=batch) == 3
    stored = sorted(Impression.objects.filter(event_id=same).values_list("occurred_at", flat=True))
    assert stored == [first.timestamp, far]
    assert record_impressions(events=batch) == 0  # the whole batch again: nothing new
    assert total() == 3


@pytest.mark.django_db(transaction=True)
def test_two_transactions_claiming_copies_under_different_times_take_turns() -> None:
    """Copies under different times are not one key, so the database alone would store both
    when two transactions claim them at once; the user's row lock makes the second wait for the
    first and then find its row. Fails when the users are locked after the claim."""
    import threading

    from django.db import close_old_connections, transaction

    first = event(midnight(1) + timedelta(hours=2), user="same-user")
    retry = event(first.timestamp + timedelta(hours=1), first.event_id, user="same-user")
    results: list[int] = []
    started = threading.Event()

    def claim_retry() -> None:
        try:
            started.set()
            results.append(record_impressions(events=[retry]))
        finally:
            close_old_connections()
            connection.close()

    with transaction.atomic():
        assert record_impressions(events=[first]) == 1
        worker = threading.Thread(target=claim_retry)
        worker.start()
        started.wait(5)
        worker.join(1.5)  # the retry's transaction runs now, and must wait for this one
        assert worker.is_alive(), "the retry's claim did not wait for the first transaction"
    worker.join(10)
    assert results == [0]
    assert Impression.objects.filter(event_id=first.event_id).count() == 1
    assert total() == 1


def pkey_bytes(day: date) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_relation_size(i.indexrelid) FROM pg_index i"
            " WHERE i.indrelid = %s::regclass AND i.indisprimary",
            [raw_partitions.partition_name(day)],
        )
        return int(cursor.fetchone()[0])


def test_server_ids_fill_the_key_index_in_order_where_random_ids_scatter() -> None:
    """The primary key (event_id, occurred_at) is also the de-duplication key. Ids the server
    makes (version 7, impressions.event_ids) arrive in order, so new entries go to the index's
    rightmost page, which PostgreSQL splits leaving the left page 90% full; random client ids
    split pages all over the index, leaving them about 70% full. Same rows, same path: one day
    of each kind, then the two partitions' key indexes compared."""
    ordered_day, random_day = midnight(1), midnight(2)
    clock = timezone.now()
    for start in range(0, 30_000, 2_000):
        ordered, scattered = [], []
        for n in range(start, start + 2_000):
            made = clock + timedelta(microseconds=250 * n)  # 4,000 events/s
            ordered.append(event(ordered_day + timedelta(seconds=n), new_event_id(made)))
            scattered.append(event(random_day + timedelta(seconds=n)))
        assert record_impressions(events=ordered) == 2_000
        assert record_impressions(events=scattered) == 2_000
    in_order, at_random = pkey_bytes(ordered_day.date()), pkey_bytes(random_day.date())
    assert in_order < 0.85 * at_random, (in_order, at_random)
