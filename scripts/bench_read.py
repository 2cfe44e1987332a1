"""Read benchmark: the stats API over HTTP against ten million events, p50 and p95 per endpoint.

Run with `make bench-read` (PostgreSQL database `<PG_DB>_bench_read`, created if missing). The
fill goes through `record_impressions` itself (the function both ingest paths and the consumer
call) in batches, in event-time order: 30 days, `--ads` ads with a Zipf-like skew, `--users`
users drawn uniformly. A database that already holds exactly this fill is reused (`--refill`
forces a new one). Then it starts gunicorn on a free port, makes a token, times each endpoint
with `--requests` sequential keep-alive requests and prints a table against the targets.
Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import bisect
import http.client
import itertools
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adsite.settings")
# A throwaway key: the settings refuse to start without one when DEBUG is off.
os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_urlsafe(50))

FIRST_DAY = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 30
# p95 targets in ms (issue: read side at ten million events).
TARGETS = {"list 30 days": 250.0}
DEFAULT_TARGET = 50.0


def fill(args: argparse.Namespace) -> None:
    """Record `args.events` events in event-time order through record_impressions."""
    from impressions.contract import AdImpressionEvent
    from stats.services import record_impressions

    rng = random.Random(20261126)
    weights = list(itertools.accumulate(1 / (rank**args.skew) for rank in range(1, args.ads + 1)))
    total_weight = weights[-1]
    span = DAYS * 86400
    batches = (args.events + args.batch_size - 1) // args.batch_size
    started = last_report = time.monotonic()
    done = 0
    for index in range(batches):
        size = min(args.batch_size, args.events - done)
        slice_start = span * index / batches
        slice_width = span / batches
        events = [
            AdImpressionEvent(
                1,
                uuid.UUID(int=rng.getrandbits(128)),
                f"ad-{bisect.bisect_left(weights, rng.random() * total_weight)}",
                f"user-{rng.randrange(args.users)}",
                FIRST_DAY + timedelta(seconds=slice_start + rng.random() * slice_width),
            )
            for _ in range(size)
        ]
        record_impressions(events=events)
        done += size
        now = time.monotonic()
        if now - last_report >= 10 or done == args.events:
            rate = done / (now - started)
            left = (args.events - done) / max(rate, 1)
            print(
                f"  filled {done:,} / {args.events:,} ({rate:,.0f} events/s, ~{left / 60:.0f} min"
                " left)",
                flush=True,
            )
            last_report = now
    print(f"filled {done:,} events in {(time.monotonic() - started) / 60:.1f} min")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"), "adsite.wsgi", "-b", f"127.0.0.1:{port}",
            "-w", "2", "--access-logfile", "/dev/null", "--error-logfile", "-",
        ],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "0"},
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    sys.exit("gunicorn did not start within 30 s")


def time_requests(
    port: int, token: str, paths: list[str], requests: int
) -> tuple[list[float], dict[str, Any]]:
    """Sequential keep-alive GETs cycling over `paths` (after one warm-up each)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": f"Token {token}"}
    last: dict[str, Any] = {}
    timings = []
    for i, path in enumerate([*paths, *itertools.islice(itertools.cycle(paths), requests)]):
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            sys.exit(f"GET {path} answered {response.status}: {body[:300]!r}")
        if i >= len(paths):
            timings.append(elapsed)
        last = json.loads(body)
    conn.close()
    return timings, last


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--ads", type=int, default=1000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--skew", type=float, default=1.0, help="Zipf exponent of the ads")
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100, help="timed requests per endpoint")
    parser.add_argument("--refill", action="store_true", help="empty the tables and fill again")
    args = parser.parse_args()

    from bench_pipeline import ensure_database

    ensure_database(os.environ.get("DATABASE_URL", ""))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from impressions.models import Impression
    from stats.models import STATISTICS, PartitionOffset

    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    call_command("migrate", verbosity=0)
    stored = Impression.objects.count()
    if args.refill or stored != args.events:
        print(f"the database holds {stored:,} raw impressions, not {args.events:,}: filling it")
        with connection.cursor() as cursor:
            tables = ", ".join(m._meta.db_table for m in (Impression, *STATISTICS, PartitionOffset))
            cursor.execute(f"TRUNCATE {tables}")
        fill(args)
        with connection.cursor() as cursor:  # autocommit: VACUUM runs outside a transaction
            cursor.execute("VACUUM ANALYZE")
    else:
        print(f"reusing the fill: {stored:,} raw impressions (--refill to redo it)")
    sizes = {m._meta.db_table: m.objects.count() for m in STATISTICS}
    print("rows: " + ", ".join(f"{table} {n:,}" for table, n in sizes.items()))

    user, _ = get_user_model().objects.get_or_create(username="bench-read", is_staff=True)
    token, _ = Token.objects.get_or_create(user=user)
    connection.close()

    last_day = FIRST_DAY + timedelta(days=DAYS)
    days = [FIRST_DAY + timedelta(days=d) for d in range(DAYS)]

    def day_range(day: datetime, n: int = 1) -> str:
        return f"from={day:%Y-%m-%d}&to={day + timedelta(days=n):%Y-%m-%d}"

    month = f"from={FIRST_DAY:%Y-%m-%d}&to={last_day:%Y-%m-%d}"
    ads = ["ad-0", "ad-3", "ad-40", "ad-500"]  # the busiest, busy, middling, rare
    endpoints = {
        "detail 30 days": [f"/api/stats/ads/{ad}/?{month}" for ad in ads],
        "series minute 1 day": [
            f"/api/stats/ads/{ad}/series/?interval=minute&{day_range(days[i * 7])}"
            for i, ad in enumerate(ads)
        ],
        "series hour 30 days": [f"/api/stats/ads/{ad}/series/?interval=hour&{month}" for ad in ads],
        "series day 30 days": [f"/api/stats/ads/{ad}/series/?interval=day&{month}" for ad in ads],
        "pipeline": ["/api/stats/pipeline/"],
        "list 1 day": [f"/api/stats/ads/?{day_range(day)}" for day in days[::6]],
        "list 30 days": [f"/api/stats/ads/?{month}"],
        "list 30 days by unique users": [f"/api/stats/ads/?{month}&ordering=-unique_users"],
    }
    port = free_port()
    server = start_server(port)
    try:
        rows = []
        for name, paths in endpoints.items():
            timings, body = time_requests(port, token.key, paths, args.requests)
            target = TARGETS.get(name.replace(" by unique users", ""), DEFAULT_TARGET)
            p50, p95 = statistics.median(timings) * 1000, percentile(timings, 0.95) * 1000
            rows.append((name, p50, p95, target))
            print(f"  {name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms", flush=True)
            if name == "list 30 days":
                print(f"    first rows: {json.dumps(body.get('results', [])[:2])}")
    finally:
        server.terminate()
        server.wait()
    print()
    print(f"{args.events:,} events, {args.ads:,} ads (Zipf {args.skew:g}), {args.users:,} users")
    print(f"{'endpoint':32} {'p50 ms':>8} {'p95 ms':>8} {'target p95':>11}  ")
    for name, p50, p95, target in rows:
        verdict = "met" if p95 <= target else f"missed by {p95 - target:.0f} ms"
        print(f"{name:32} {p50:8.1f} {p95:8.1f} {target:9.0f} ms  {verdict}")


if __name__ == "__main__":
    main()
