"""`make bench`: the phases in order, each checking that every event was counted once, then
the table (printed, and written to docs/benchmarks.md and docs/benchmarks.json)."""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

from bench.environment import LOGS, ROOT, prepare_django
from bench.report import Row, markdown, write_docs


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    add = parser.add_argument
    add("--events", type=int, default=200_000, help="events for P1 and each scale-out run")
    add("--partitions", type=int, default=6)
    add("--batch-size", type=int, default=5000, help="the consumer's batch size")
    add("--naive-events", type=int, default=3000, help="events through the naive consumer (P2)")
    add("--requests", type=int, default=1500, help="one-event requests per path (P3, P4)")
    add("--batch-requests", type=int, default=60, help="1,000-event requests (P3)")
    add("--threads", type=int, default=4, help="client threads (P3, P4)")
    add("--fresh-rate", type=int, default=5000, help="events/s offered during P5")
    add("--fresh-seconds", type=float, default=60.0)
    add("--lock-seconds", type=float, default=5.0, help="how long P6's lock is held")
    add("--key-buckets", type=int, default=8, help="IMPRESSIONS_KEY_BUCKETS for the skew rows")
    add("--growth-events", type=int, default=1_000_000, help="10000000 for the issue's figure")
    add("--growth-step", type=int, default=250_000)
    add("--growth-days", type=int, default=7,
        help="days of event time the growth events spread over (1: like live traffic)")  # fmt: skip
    add("--growth-ids", choices=("time-ordered", "random"), default="time-ordered",
        help="growth events' ids: as the API makes them, or clients' random ones")  # fmt: skip
    add("--workers", type=int, default=2, help="gunicorn gthread workers")
    add("--server-threads", type=int, default=4, help="threads per gunicorn worker")
    add("--only", default="consumer,skew,scale,web,growth", help="phases to run, comma-separated")
    add("--profile", action="store_true", help="only: the consumer under cProfile, top entries")
    add("--profile-events", type=int, default=60_000)
    add("--top", type=int, default=25, help="profile entries shown")
    add("--no-docs", action="store_true", help="print the table; leave docs/ as they are")
    add("--note", default="", help="added to the table's heading in docs/benchmarks.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    prepare_django()
    from django.conf import settings
    from django.db import connection

    from bench import phases, web_phase
    from stats.kafka_admin import ensure_topics

    servers = list(settings.KAFKA_BOOTSTRAP_SERVERS)
    LOGS.mkdir(parents=True, exist_ok=True)
    print(f"database {connection.vendor} {connection.settings_dict['NAME']}; logs in {LOGS}")

    def topic(kind: str) -> str:
        name = f"bench-{kind}-{uuid.uuid4().hex[:8]}"
        ensure_topics(topic=name, partitions=args.partitions, replication_factor=1)
        wait_for_metadata(servers, name, args.partitions)
        return name

    if args.profile:
        phases.profile(servers, topic("profile"), args)
        return
    only = set(args.only.split(","))
    rows: list[Row] = []
    one_process = None
    if "consumer" in only:
        consumer_rows, one_process = phases.consumer(servers, topic("p1"), args)
        rows += consumer_rows
    if "skew" in only or "scale" in only:
        rows += phases.skew_and_scale(servers, topic, args, one_process, scale="scale" in only)
    if "web" in only:
        rows += web_phase.web(topic("web"), args)
    if "growth" in only:
        rows += phases.growth(servers, topic("growth"), args)
    print()
    print(markdown(rows))
    if not args.no_docs:
        write_docs(
            rows,
            docs=ROOT / "docs",
            settings_line=settings_line(sys.argv[1:]),
            database=f"PostgreSQL {getattr(connection, 'pg_version', 0) // 10000}"
            if connection.vendor == "postgresql"
            else connection.vendor,
            note=f"; {args.note}" if args.note else "",
        )
        print(f"\nwritten to {Path('docs/benchmarks.md')} and docs/benchmarks.json")


def wait_for_metadata(servers: list[str], topic: str, partitions: int) -> None:
    """Until the broker's metadata shows the new topic whole: a consumer that subscribes
    earlier sees no partitions and (kafka-python) asks again only minutes later."""
    import time

    from kafka import KafkaConsumer

    reader = KafkaConsumer(bootstrap_servers=servers)
    try:
        deadline = time.monotonic() + 30
        while len(reader.partitions_for_topic(topic) or ()) < partitions:
            if time.monotonic() > deadline:
                raise SystemExit(f"topic {topic}: no metadata for {partitions} partitions in 30 s")
            time.sleep(0.2)
            reader.topics()  # a fresh metadata request
    finally:
        reader.close()


def settings_line(argv: list[str]) -> str:
    """The run's arguments for the table's heading, without the note."""
    kept, skip = [], False
    for arg in argv:
        if skip or arg.startswith("--note"):
            skip = arg == "--note"
            continue
        kept.append(arg)
    return " ".join(kept) or "defaults"
