"""stats.watermark: complete_through over every partition, minus the allowed lateness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stats.watermark import complete_through, is_final

T = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
LATENESS = timedelta(seconds=60)


def test_the_earliest_partition_minus_the_lateness() -> None:
    read = {0: T + timedelta(minutes=5), 1: T, 2: T + timedelta(minutes=9)}
    assert complete_through(read_through=read, partitions=3, allowed_lateness=LATENESS) == (
        T - LATENESS
    )


def test_a_partition_never_read_holds_it_back_entirely() -> None:
    read = {0: T, 2: T}
    assert complete_through(read_through=read, partitions=3, allowed_lateness=LATENESS) is None


def test_an_unknown_partition_count_knows_nothing() -> None:
    assert complete_through(read_through={0: T}, partitions=0, allowed_lateness=LATENESS) is None


def test_partitions_beyond_the_count_are_ignored() -> None:
    read = {0: T, 1: T, 7: T - timedelta(days=1)}
    assert complete_through(read_through=read, partitions=2, allowed_lateness=timedelta(0)) == T


def test_a_bucket_is_final_when_it_ends_by_the_watermark() -> None:
    assert is_final(T, T)
    assert not is_final(T + timedelta(microseconds=1), T)
    assert not is_final(T - timedelta(days=1), None)
