"""scripts/bench/load.py: the benchmark's events carry ids as the API makes them (version 7, in
the order they are made) or as clients that send random ones, and nothing else."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from bench.load import Mix, events  # noqa: E402


def test_time_ordered_ids_are_version_7_in_the_order_the_events_are_made() -> None:
    made = [e.event_id for e in events(5000, Mix(ads=10, users=100), seed=1)]
    assert all(i.version == 7 for i in made)
    milliseconds = [i.int >> 80 for i in made]  # within one millisecond the order is random
    assert milliseconds == sorted(milliseconds)
    assert len(set(made)) == 5000


def test_random_ids_are_not_ordered_and_repeat_with_the_seed() -> None:
    made = [e.event_id for e in events(5000, Mix(ads=10, users=100, ids="random"), seed=1)]
    assert made != sorted(made) and len(set(made)) == 5000
    assert sum(i.version == 7 for i in made) < 500  # a random id has those bits 1 time in 64
    again = [e.event_id for e in events(5000, Mix(ads=10, users=100, ids="random"), seed=1)]
    assert again == made


def test_an_unknown_kind_of_id_is_refused() -> None:
    with pytest.raises(ValueError, match="ids must be one of"):
        next(events(1, Mix(ids="sequential"), seed=1))
