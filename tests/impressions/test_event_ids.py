"""The server's event ids (impressions.event_ids): version 7, ordered by the time they were
made, in the same order as text (how PostgreSQL's uuid type compares them), and unique
within one millisecond. What that order buys in the raw table's key index is checked in
tests/stats/test_raw_partitions.py (PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from impressions.event_ids import new_event_id

T0 = datetime(2026, 12, 5, 23, 59, 59, 999000, tzinfo=UTC)


def test_an_id_is_version_7_and_carries_its_millisecond() -> None:
    made = new_event_id(T0)
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert made.int >> 80 == int(T0.timestamp() * 1000)
    assert uuid.UUID(str(made)) == made  # survives the text form the contract carries


def test_later_ids_sort_after_earlier_ones_as_uuids_and_as_text() -> None:
    made = [new_event_id(T0 + timedelta(milliseconds=i)) for i in range(2000)]
    assert made == sorted(made)
    assert [str(i) for i in made] == sorted(str(i) for i in made)


def test_ids_made_in_the_same_millisecond_differ_in_their_random_bits() -> None:
    made = {new_event_id(T0) for _ in range(100_000)}
    assert len(made) == 100_000
    assert {i.int >> 80 for i in made} == {int(T0.timestamp() * 1000)}
    # the 74 random bits vary: every one of the low 62 and the 12 after the version is set
    # in some id and clear in another
    low = [i.int & ((1 << 62) - 1) for i in made]
    assert all(any(v >> bit & 1 for v in low) for bit in range(62))
    assert all(not all(v >> bit & 1 for v in low) for bit in range(62))
    rand_a = {(i.int >> 64) & 0xFFF for i in made}
    assert len(rand_a) > 4000
