"""scripts/bench/statements.py: statement time by kind through Django's cursor, and the table of
the kinds that grew most between the growth phase's first and last steps."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.db import connection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import bench.statements as statements  # noqa: E402


def test_time_is_summed_by_kind_while_in_the_block(db: Any) -> None:
    with statements.timed() as spent, connection.cursor() as cursor:
        for _ in range(3):
            cursor.execute("SELECT   1\n  WHERE 1 = %s", [1])
        cursor.execute("SELECT 2")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 3")  # after the block: not counted
    assert set(spent) == {"SELECT 1 WHERE 1 = %s", "SELECT 2"}
    assert all(seconds > 0 for seconds in spent.values())


def test_the_kinds_that_grew_most_come_first() -> None:
    steps = [
        (0, 1000, {"claim": 0.010, "minute": 0.005}),
        (2_000_000, 1000, {"claim": 0.030, "minute": 0.006, "reach": 0.002}),
    ]
    table = statements.growth_table(steps).splitlines()
    assert table[0] == "| statement (first words) | µs/event at 0 M stored | at 2 M |"
    assert [line.split("`")[1] for line in table[2:5]] == ["claim", "reach", "minute"]
    assert table[2] == "| `claim` | 10.0 | 30.0 |"
    assert table[-1] == "| all statements | 15.0 | 38.0 |"
    # Only the biggest kinds are shown: a tiny one is left out even when it rose.
    steps[1][2]["tiny"] = 0.0001
    top_two = statements.growth_table(steps, top=2).splitlines()
    assert [line.split("`")[1] for line in top_two[2:-1]] == ["claim", "minute"]
    assert statements.kind("INSERT INTO rec_new_abcdef12 (a) VALUES (1)") == (
        "INSERT INTO rec_new (a) VALUES (1)"
    )
