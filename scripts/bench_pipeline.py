"""Benchmark: the consumer's events/s, and the as-is vs to-be ingest paths side by side.

Run with `make bench` (PostgreSQL database `<PG_DB>_bench`, created if missing, tables emptied
first) or `DATABASE_URL=... .venv/bin/python scripts/bench_pipeline.py --events 100000`.
Prints figures; asserts nothing about speed. It does check that every event was counted once.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adsite.settings")
# A throwaway key: the settings refuse to start without one when DEBUG is off.
os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_urlsafe(50))


def ensure_database(url: str) -> None:
    """Create the benchmark database on the PostgreSQL server when it does not exist."""
    import dj_database_url
    import psycopg2

    cfg = dj_database_url.parse(url)
    if "postgresql" not in cfg["ENGINE"]:
        return
    admin = psycopg2.connect(
        dbname="postgres",
        user=cfg["USER"],
        password=cfg["PASSWORD"],
        host=cfg["HOST"],
        port=cfg["PORT"],
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{cfg["NAME"]}"')
            print(f"created database {cfg['NAME']}")
    admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000, help="events through the consumer")
    parser.add_argument("--ads", type=int, default=500)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=5000, help="consumer batch size")
    parser.add_argument("--requests", type=int, default=1000, help="single-event requests per path")
    args = parser.parse_args()

    ensure_database(os.environ.get("DATABASE_URL", ""))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from kafka import KafkaProducer
    from rest_framework.test import APIClient

    from impressions.contract import AdImpressionEvent, encode_event, event_key
    from impressions.models import Impression
    from stats.consumer import ConsumerConfig, build_consumer
    from stats.kafka_admin import ensure_topics
    from stats.models import STATISTICS, PartitionOffset
    from stats.selectors import overall_totals

    settings.ALLOWED_HOSTS = ["testserver"]
    settings.INGEST_THROTTLE_RATE = None
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    call_command("migrate", verbosity=0)
    models = (Impression, *STATISTICS, PartitionOffset)
    tables = [m._meta.db_table for m in models]
    if connection.vendor == "postgresql":  # no dead rows left behind to slow the next run
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(tables)}")
    else:
        for model in models:
            model.objects.all().delete()

    run_id = uuid.uuid4().hex[:8]
    topic, group = f"bench-{run_id}", f"bench-{run_id}"
    settings.IMPRESSIONS_TOPIC = topic
    ensure_topics(
        topic=topic, partitions=settings.IMPRESSIONS_TOPIC_PARTITIONS, replication_factor=1
    )
    rng = random.Random(7)
    t0 = datetime.now(UTC) - timedelta(hours=2)

    def make_event(i: int, prefix: str = "ad") -> AdImpressionEvent:
        return AdImpressionEvent(
            1,
            uuid.UUID(int=rng.getrandbits(128)),
            f"{prefix}-{rng.randrange(args.ads)}",
            f"user-{rng.randrange(args.users)}",
            t0 + timedelta(seconds=rng.randrange(7200)),
        )

    # 1. Load the topic (not what is measured; printed for scale).
    producer = KafkaProducer(
        bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS, linger_ms=10, batch_size=256 * 1024
    )
    started = time.monotonic()
    for i in range(args.events):
        event = make_event(i)
        producer.send(topic, key=event_key(event), value=encode_event(event))
        if i and i % 25_000 == 0:
            print(f"  produced {i:,} / {args.events:,}", flush=True)
    producer.flush()
    producer.close()
    produce_s = time.monotonic() - started
    print(f"produced {args.events:,} events in {produce_s:.1f}s ({args.events / produce_s:,.0f}/s)")

    # 2. The consumer: decode, validate, record with offsets, commit.
    consumer = build_consumer(
        ConsumerConfig(
            topic=topic,
            group=group,
            batch_size=args.batch_size,
            progress_interval=5.0,
            exit_when_idle=2.0,
        ),
        bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
    )
    consumer.run()
    totals = consumer.totals
    counted = overall_totals()["impressions"]
    print(
        f"consumer: {totals.consumed:,} events in {totals.batches} batches, "
        f"{totals.busy_rate():,.0f} events/s (first batch to last commit); counted {counted:,}"
    )
    if counted != args.events:
        sys.exit(f"the benchmark lost or doubled events: {counted:,} counted")

    # 3. The two ingest paths side by side, one event per request, same process and database.
    client = APIClient()
    latencies: dict[str, list[float]] = {}
    for path, code in (("/api/impressions/sync/", 201), ("/api/impressions/", 202)):
        timings = []
        for i in range(args.requests):
            event = make_event(i, prefix="cmp")
            body = {"event_id": str(event.event_id), "ad_id": event.ad_id, "user_id": event.user_id}
            t = time.perf_counter()
            response = client.post(path, body, format="json")
            timings.append(time.perf_counter() - t)
            if response.status_code != code:
                sys.exit(f"{path} answered {response.status_code}: {response.content!r}")
        latencies[path] = timings

    print()
    print(f"{'path (one event per request)':32} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for path, timings in latencies.items():
        ordered = sorted(timings)
        p99 = ordered[int(len(ordered) * 0.99) - 1]
        print(
            f"{path:32} {len(timings) / sum(timings):8,.0f} "
            f"{statistics.median(ordered) * 1000:8.2f} {p99 * 1000:8.2f}"
        )
    per_event_db = len(latencies["/api/impressions/sync/"]) / sum(
        latencies["/api/impressions/sync/"]
    )
    print()
    print(
        f"consumer batch writes vs as-is per-request writes: "
        f"{totals.busy_rate() / per_event_db:,.1f}x the events/s"
    )


if __name__ == "__main__":
    main()
