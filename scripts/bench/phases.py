"""The benchmark's phases, each on an emptied database and a fresh topic; each returns its
table rows. Targets are the issue's (issue 13, "Targets on this machine")."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from bench import consumer_runs as runs
from bench.environment import LOGS, check_exact, counted, empty_tables
from bench.growth import by_table, grow, summary
from bench.load import Mix, events, largest_share, produce
from bench.profiling import profile_consumer
from bench.report import MEASURED, Row, at_least, at_most


def consumer(
    servers: Sequence[str], topic: str, args: argparse.Namespace
) -> tuple[list[Row], float]:
    """P1 (÷ the bare read) and P2 (÷ the naive consumer), same topic, same events."""
    empty_tables()
    produce(servers, topic, events(args.events, Mix(), seed=1))
    bare = runs.bare_read(servers, topic, args.events)
    naive = runs.naive_consumer(servers, topic, args.naive_events)
    _, raw, _ = counted()
    if raw != args.naive_events:
        raise SystemExit(f"naive consumer: {raw} raw rows for {args.naive_events} events")
    empty_tables()
    run = runs.real_consumer(servers, topic, batch_size=args.batch_size)
    check_exact(args.events, what="P1 consumer")
    whole = args.events / max(run.caught_up, 1e-9)
    MEASURED.update(bare_read=bare, consumer_process=run.busy_rate, naive_consumer=naive)
    print(f"  bare {bare:,.0f}/s, naive {naive:,.0f}/s, consumer {run.busy_rate:,.0f}/s")
    rows = [
        Row("P1", f"consumer ÷ bare kafka-python read ({args.events:,} events, "
            f"{args.partitions} partitions; bare {bare:,.0f}/s)",
            f"{run.busy_rate:,.0f}/s busy: {run.busy_rate / bare:.2f}",
            run.busy_rate / bare, "≥ 0.3", at_least(0.3)),
        Row("P1 whole", "same, start to caught up (start-up shown apart)",
            f"{whole:,.0f}/s: {whole / bare:.2f} (start-up {run.start_up:.1f} s)", whole / bare),
        Row("P2", f"consumer ÷ naive ORM save + commit per message ({naive:,.0f}/s over "
            f"{args.naive_events:,})", f"{run.busy_rate / naive:,.1f}×",
            run.busy_rate / naive, "≥ 30×", at_least(30)),
    ]  # fmt: skip
    return rows, run.busy_rate


def skew_and_scale(
    servers: Sequence[str],
    new_topic: Callable[[str], str],
    args: argparse.Namespace,
    one_process: float | None,
    *,
    scale: bool,
) -> list[Row]:
    """Key skew (busiest partition's share, ad id vs bucketed key) and two consumer processes
    on the uniform mix, the skewed mix and the skewed mix with bucketed keys."""
    n, parts = args.events, args.partitions
    topics: dict[str, tuple[str, float]] = {}
    for name, mix, buckets in (
        ("uniform", Mix(skewed=False), 0),
        ("skewed", Mix(), 0),
        ("bucketed", Mix(), args.key_buckets),
    ):
        topic = new_topic("bucketed" if buckets else name)
        share = largest_share(
            produce(servers, topic, events(n, mix, seed=2), buckets=buckets), parts
        )
        topics["bucketed" if buckets else name] = (topic, share)
    rows = [
        Row("skew", f"busiest of {parts} partitions, Zipf-like ads ({n:,} events)",
            f"ad id as key: {topics['skewed'][1]:.0%}; {args.key_buckets} buckets: "
            f"{topics['bucketed'][1]:.0%} (even: {1 / parts:.0%})",
            topics["skewed"][1]),
    ]  # fmt: skip
    if not scale:
        return rows
    if one_process is None:
        empty_tables()
        one_process = runs.consumer_processes(topics["uniform"][0], n, processes=1, logs=LOGS)
        check_exact(n, what="one process")
    for name, (topic, _) in topics.items():
        empty_tables()
        rate = runs.consumer_processes(topic, n, processes=2, logs=LOGS)
        check_exact(n, what=f"two processes, {name}")
        MEASURED[f"two_processes_{name}"] = rate
        rows.append(
            Row(f"scale {name}", f"two consumer processes, {parts} partitions, " + (
                f"skewed, keys in {args.key_buckets} buckets" if name == "bucketed" else name),
                f"{rate:,.0f}/s: {rate / one_process:.2f}× one process", rate / one_process)
        )  # fmt: skip
    return rows


def growth(servers: Sequence[str], topic: str, args: argparse.Namespace) -> list[Row]:
    """The consumer's rate as raw rows accumulate, and bytes per event at the end."""
    empty_tables()
    points, sizes = grow(
        servers, topic, total=args.growth_events, step=args.growth_step,
        batch_size=args.batch_size, mix=Mix(days=args.growth_days, ids=args.growth_ids),
    )  # fmt: skip
    per_event = sum(sizes.values()) / args.growth_events
    last = points[-1]
    MEASURED.update(growth_ratio=last.rate / points[0].rate, bytes_per_event=per_event)
    ratio = last.rate / points[0].rate
    size = f"{args.growth_events / 1e6:g} M"
    # The targets are the at 10 M events: a smaller run shows the trend, not a verdict.
    judged = args.growth_events >= 10_000_000
    note = "" if judged else " (at 10 M; not judged below)"
    return [
        Row("growth", f"consumer rate by raw rows stored (steps of {args.growth_step:,}; "
            f"event times over {args.growth_days} day{'s' if args.growth_days != 1 else ''}, "
            f"{args.growth_ids} ids)",
            summary(points)),
        Row("growth ratio", f"rate at {last.stored_before / 1e6:g} M stored ÷ on an empty "
            "database", f"{ratio:.2f}", ratio, "≥ 0.8" + note, at_least(0.8) if judged else None),
        Row("bytes", f"database bytes per recorded event at {size}",
            f"{per_event:,.0f} B", per_event, "≤ 220 B" + note,
            at_most(220) if judged else None),
        Row("bytes by table", f"the same by table (heap, indexes, TOAST; partitions in their "
            f"table), per event at {size}", by_table(sizes, args.growth_events)),
    ]  # fmt: skip


def profile(servers: Sequence[str], topic: str, args: argparse.Namespace) -> None:
    empty_tables()
    produce(servers, topic, events(args.profile_events, Mix(), seed=3))
    profile_consumer(servers, topic, batch_size=args.batch_size, top=args.top)
    check_exact(args.profile_events, what="profiled consumer")
