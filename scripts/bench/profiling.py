"""`--profile`: the real consumer under cProfile (pyinstrument is not installed here) over a
topic of its own; prints the top entries by own time and by cumulative time."""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Sequence

from bench.consumer_runs import real_consumer


def profile_consumer(servers: Sequence[str], topic: str, *, batch_size: int, top: int) -> str:
    """Run the consumer over `topic` under cProfile; return the report (also printed)."""
    profiler = cProfile.Profile()
    profiler.enable()
    run = real_consumer(servers, topic, batch_size=batch_size, idle=0.3)  # little idle time
    profiler.disable()
    out = io.StringIO()
    out.write(f"consumer under cProfile: {run.events:,} events, {run.busy_rate:,.0f} events/s\n")
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    report = out.getvalue()
    print(report)
    return report
