"""The consumer as the tables grow: the same pipeline (topic → consumer → database) fed in
steps, each step's busy rate noted with the raw rows stored before it; and the database's
bytes per recorded event at the end."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from bench import statements
from bench.consumer_runs import real_consumer
from bench.environment import check_exact
from bench.load import Mix, events, produce


@dataclass(frozen=True)
class GrowthPoint:
    stored_before: int  # raw rows in the database when the step began
    rate: float  # the step's busy rate, events/s


def grow(
    servers: Sequence[str], topic: str, *, total: int, step: int, batch_size: int, mix: Mix
) -> tuple[list[GrowthPoint], dict[str, int]]:
    """Feed `total` events in steps of `step` into an emptied database through one consumer
    group; return the points and the database's bytes by table at the end."""
    group = f"bench-growth-{uuid.uuid4().hex[:8]}"
    points = []
    by_statement = []
    for stored in range(0, total, step):
        size = min(step, total - stored)
        produce(servers, topic, events(size, mix, seed=1000 + stored))
        with statements.timed() as spent:
            run = real_consumer(servers, topic, batch_size=batch_size, group=group)
        by_statement.append((stored, size, spent))
        check_exact(stored + size, what=f"growth, {stored + size:,} stored")
        points.append(GrowthPoint(stored, run.busy_rate))
        print(f"  growth: {run.busy_rate:,.0f} events/s with {stored:,} rows stored", flush=True)
    if len(by_statement) > 1:
        print("\nThe consumer's statements, first step against last (µs per event):")
        print(statements.growth_table(by_statement), flush=True)
    return points, database_bytes()


def database_bytes() -> dict[str, int]:
    """Bytes on disk of the raw rows and each statistics table, with indexes and TOAST, a
    partitioned table's partitions in its own figure (PostgreSQL; empty elsewhere)."""
    from django.db import connection

    from impressions.models import Impression
    from stats.models import STATISTICS

    if connection.vendor != "postgresql":
        return {}
    tables = [m._meta.db_table for m in (Impression, *STATISTICS)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(p.relname, c.relname), SUM(pg_total_relation_size(c.oid))"
            " FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid"
            " LEFT JOIN pg_class p ON p.oid = i.inhparent"
            " WHERE c.relname = ANY(%s) OR p.relname = ANY(%s) GROUP BY 1",
            [tables, tables],
        )
        return {table: int(size or 0) for table, size in cursor.fetchall()}


def by_table(sizes: dict[str, int], events: int) -> str:
    """`stats_addailyuser 250, impressions_impression 180, ... B` per event, largest first."""
    ranked = sorted(sizes.items(), key=lambda item: -item[1])
    shown = [f"{table} {size / events:,.0f}" for table, size in ranked if size / events >= 1]
    return ", ".join(shown) + " B"


def summary(points: Sequence[GrowthPoint]) -> str:
    """`0 M: 15,000/s · 0.25 M: 14,000/s · ...`"""
    return " · ".join(f"{p.stored_before / 1e6:g} M: {p.rate:,.0f}/s" for p in points)
