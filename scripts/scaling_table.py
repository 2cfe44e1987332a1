"""Past one machine, on paper: how many partitions, consumer processes, database nodes, web
cores and broker bandwidth 100,000 impressions/s need, from `make bench`'s per-process figures
(docs/benchmarks.json, "measured"). See docs/scaling.md for the reasoning.

    .venv/bin/python scripts/scaling_table.py                    # 100,000/s, headroom 0.7
    .venv/bin/python scripts/scaling_table.py --target 250000 --headroom 0.6
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Measured:
    """One machine's figures from the benchmark (events/s unless said)."""

    consumer_process: float  # one consumer process, busy rate, empty tables
    growth_ratio: float  # its rate on the largest tables measured ÷ on empty ones
    database_node: float  # the most one PostgreSQL absorbed in the run (two processes)
    to_be_batched: float  # to-be ingest, 1,000-event requests, whole web server
    to_be_single: float  # to-be ingest, one event per request
    web_cores: float  # cores the web server had (shared with everything else)
    event_bytes: float  # key + value of one record on the topic
    stored_bytes: float  # database bytes per recorded event (raw row + statistics)

    @classmethod
    def from_json(cls, payload: dict[str, dict[str, float]]) -> Measured:
        m = payload["measured"]
        return cls(
            consumer_process=m["consumer_process"],
            growth_ratio=min(m.get("growth_ratio", 1.0), 1.0),
            database_node=max(m["consumer_process"], m.get("two_processes_uniform", 0.0)),
            to_be_batched=m["to_be_batched_events"],
            to_be_single=m["to_be_single_events"],
            web_cores=m.get("web_cores", 2.0),
            event_bytes=m["event_bytes"],
            stored_bytes=m["bytes_per_event"],
        )


@dataclass(frozen=True)
class Plan:
    consumer_processes: int
    partitions: int
    database_nodes: int
    web_cores_batched: int
    web_cores_single: int
    broker_mb_per_s: float  # written to disks, all replicas
    broker_tb: float  # held for the topic's retention, all replicas
    database_tb_per_day: float


def plan(
    m: Measured,
    *,
    target: float = 100_000,
    headroom: float = 0.7,
    replication: int = 3,
    topic_retention_days: float = 7,
) -> Plan:
    """Each tier sized to run at `headroom` of its measured rate at `target` events/s: consumers
    at the rate the tables' growth leaves them; twice as many partitions as consumer processes
    (room to double the consumers without re-keying); database nodes at what one node absorbed."""
    consumer = m.consumer_process * m.growth_ratio * headroom
    processes = math.ceil(target / consumer)
    per_core_batched = m.to_be_batched / m.web_cores * headroom
    per_core_single = m.to_be_single / m.web_cores * headroom
    written = target * m.event_bytes * replication
    return Plan(
        consumer_processes=processes,
        partitions=2 * processes,
        database_nodes=math.ceil(target / (m.database_node * m.growth_ratio * headroom)),
        web_cores_batched=math.ceil(target / per_core_batched),
        web_cores_single=math.ceil(target / per_core_single),
        broker_mb_per_s=written / 1e6,
        broker_tb=written * 86_400 * topic_retention_days / 1e12,
        database_tb_per_day=target * m.stored_bytes * 86_400 / 1e12,
    )


def table(m: Measured, p: Plan, *, target: float, headroom: float) -> str:
    rows = [
        ("consumer processes", f"{m.consumer_process:,.0f}/s each × {m.growth_ratio:.2f} "
         "(growth)", f"{p.consumer_processes:,}", "its own CPU (decode, COPY), then the database"),
        ("topic partitions", "2 per consumer process", f"{p.partitions:,}",
         "one consumer per partition at most; a hot partition (key skew) first"),
        ("database nodes", f"{m.database_node:,.0f}/s per node × {m.growth_ratio:.2f}",
         f"{p.database_nodes:,}", "row writes (COPY ~80-136k rows/s) and index upkeep"),
        ("web cores, 1,000 events/request", f"{m.to_be_batched / m.web_cores:,.0f}/s per core",
         f"{p.web_cores_batched:,}", "JSON parsing and validation"),
        ("web cores, one event/request", f"{m.to_be_single / m.web_cores:,.0f}/s per core",
         f"{p.web_cores_single:,}", "per-request overhead (HTTP, Django, broker round trip)"),
        ("broker disk writes", f"{m.event_bytes:,.0f} B per record, 3 replicas",
         f"{p.broker_mb_per_s:,.1f} MB/s; {p.broker_tb:,.1f} TB for 7 days", "disk and network"),
        ("database growth", f"{m.stored_bytes:,.0f} B per event",
         f"{p.database_tb_per_day:,.2f} TB/day", "disk, then vacuum and index size"),
    ]  # fmt: skip
    lines = [
        f"At {target:,.0f} events/s ({target * 86_400 / 1e9:,.2f} B a day), each tier at "
        f"{headroom:.0%} of its measured rate:",
        "",
        "| tier | measured here | needed | saturates on |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", type=float, default=100_000, help="events/s")
    parser.add_argument("--headroom", type=float, default=0.7, help="share of measured rate")
    parser.add_argument("--figures", type=Path, default=ROOT / "docs" / "benchmarks.json")
    parser.add_argument("--write", action="store_true", help="also into docs/scaling.md")
    args = parser.parse_args(argv)
    payload = json.loads(args.figures.read_text())
    measured = Measured.from_json(payload)
    result = plan(measured, target=args.target, headroom=args.headroom)
    text = table(measured, result, target=args.target, headroom=args.headroom)
    print(text)
    if args.write:
        page = ROOT / "docs" / "scaling.md"
        start, end = "<!-- scaling-table:start -->", "<!-- scaling-table:end -->"
        head, rest = page.read_text().split(start, 1)
        source = f"From docs/benchmarks.json ({payload.get('date', '?')}). "
        page.write_text(f"{head}{start}\n{source}{text}\n{end}{rest.split(end, 1)[1]}")


if __name__ == "__main__":
    main()
