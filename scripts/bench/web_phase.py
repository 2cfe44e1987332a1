"""P3-P6 against gunicorn, with one consumer process recording what the to-be path accepts;
at the end, every accepted event (both paths) must be counted exactly once."""

from __future__ import annotations

import argparse
import os
import time
import uuid

from bench import cpu, freshness, isolation
from bench.consumer_runs import start_consumer
from bench.environment import LOGS, check_exact, counted, empty_tables
from bench.report import MEASURED, Row, at_least, at_most
from bench.web_load import drive
from bench.web_server import gunicorn

TO_BE, AS_IS, NOOP = "/api/impressions/", "/api/impressions/sync/", "/bench/noop/"


def bench_token() -> str:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user, _ = get_user_model().objects.get_or_create(username="bench")
    return str(Token.objects.get_or_create(user=user)[0].key)


def caught_up(accepted: int, *, within: float = 300) -> None:
    """Wait (up to `within` s) until the statistics hold at least `accepted` events."""
    deadline = time.monotonic() + within
    while counted()[0] < accepted and time.monotonic() < deadline:
        time.sleep(0.2)


def web(topic: str, args: argparse.Namespace) -> list[Row]:
    empty_tables()
    ids: set[str] = set()
    consumer = start_consumer(topic, f"bench-web-{uuid.uuid4().hex[:8]}", LOGS, wait_assigned=True)
    try:
        with gunicorn(
            topic=topic, logs=LOGS, workers=args.workers, threads=args.server_threads
        ) as port:
            one = {"events_per_request": 1, "threads": args.threads, "accepted_ids": ids}
            drive(port, TO_BE, requests=50, **one)  # warm-up: producers, connections
            drive(port, AS_IS, requests=50, **one)
            batches = drive(port, TO_BE, events_per_request=1000, threads=args.threads,
                            requests=args.batch_requests, accepted_ids=ids)  # fmt: skip
            caught_up(len(ids))  # each phase starts with the consumer idle
            as_is = drive(port, AS_IS, requests=args.requests, **one)
            cpu_at = [cpu.snapshot()]
            to_be = drive(port, TO_BE, requests=args.requests, **one)
            cpu_at.append(cpu.snapshot())
            noop = drive(port, NOOP, requests=args.requests, **one)
            cpu_at.append(cpu.snapshot())
            caught_up(len(ids))
            fresh = freshness.measure(
                port, bench_token(), rate=args.fresh_rate, seconds=args.fresh_seconds,
                accepted_ids=ids,
            )  # fmt: skip
            lock = isolation.measure(port, hold=args.lock_seconds, accepted_ids=ids)
        caught_up(len(ids))
        time.sleep(2)  # anything counted twice would show now
        check_exact(len(ids), what="web paths (as-is and to-be)")
    finally:
        consumer.terminate()
        consumer.wait(timeout=60)
    failed = sum(o.failed for o in (batches, as_is, to_be, noop))
    p3, p4 = batches.rate() / as_is.rate(), to_be.requests_rate() / noop.requests_rate()
    to_be_cpu, noop_cpu = cpu.spent(*cpu_at[:2]), cpu.spent(*cpu_at[1:])
    iso = {p: lock.locked_p99[p] / lock.unloaded_p99[p] for p in (TO_BE, AS_IS)}
    ms = 1000
    MEASURED.update(
        to_be_batched_events=batches.rate(),
        to_be_single_events=to_be.rate(),
        as_is_single_events=as_is.rate(),
        web_cores=float(os.cpu_count() or 1),
        freshness_p99=fresh.p99,
    )
    return [
        Row("P3", f"to-be 1,000 events/request ÷ as-is one/request ({args.threads} client "
            f"threads; {failed} failed requests)",
            f"{p3:,.1f}× ({batches.rate():,.0f} vs {as_is.rate():,.0f} events/s)",
            p3, "≥ 100×", at_least(100)),
        Row("P4", "to-be one event/request ÷ trivial DRF view answering 202",
            f"{p4:.2f} ({to_be.requests_rate():,.0f} vs {noop.requests_rate():,.0f} req/s)",
            p4, "≥ 0.7", at_least(0.7)),
        Row("P4 CPU", "CPU per request by process, to-be · trivial view (2 cores in all)",
            f"{cpu.per_request(to_be_cpu, args.requests)} · "
            f"{cpu.per_request(noop_cpu, args.requests)}"),
        Row("P5", f"freshness at {fresh.offered_rate:,.0f} events/s offered for "
            f"{args.fresh_seconds:g} s, 202 → visible in the stats API ({fresh.probes} probes)",
            f"p50 {fresh.p50 * ms:,.0f} / p99 {fresh.p99 * ms:,.0f} / max "
            f"{fresh.max * ms:,.0f} ms", fresh.p99, "p99 ≤ 1 s", at_most(1.0)),
        Row("P6 to-be", f"to-be p99 under a {args.lock_seconds:g} s lock on the raw table ÷ "
            "unloaded", f"{iso[TO_BE]:.2f} ({lock.locked_p99[TO_BE] * ms:,.1f} vs "
            f"{lock.unloaded_p99[TO_BE] * ms:,.1f} ms)", iso[TO_BE], "≤ 2", at_most(2)),
        Row("P6 as-is", "as-is p99 under the same lock ÷ unloaded",
            f"{iso[AS_IS]:,.0f} ({lock.locked_p99[AS_IS] * ms:,.0f} vs "
            f"{lock.unloaded_p99[AS_IS] * ms:,.1f} ms; "
            f"{lock.failed_while_locked[AS_IS]} failed)", iso[AS_IS]),
    ]  # fmt: skip
