"""`manage.py simulate`: realistic ad traffic over HTTP to a running site (impressions.simulation).

Refused requests (4xx, 5xx, connection errors) are counted and reported, never raised. Ctrl+C
(or SIGTERM) stops it with the summary.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from impressions.simulation import (
    PATHS,
    EventSource,
    HttpSender,
    Simulation,
    Tally,
    progress_line,
    summary_lines,
)

TTY_PROGRESS_SECONDS = 0.25
LOG_PROGRESS_SECONDS = 5.0


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (e.g. from `make run` stopping) ends the run like Ctrl+C, with the summary."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Command(BaseCommand):
    help = (
        "Send simulated ad impressions over HTTP to a running site: Zipf-skewed ads "
        "(demo-ad-01 the most popular), uniform users (sim-user-N), paced to --rate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the site")
        parser.add_argument("--rate", type=float, default=20.0, help="events per second")
        parser.add_argument(
            "--duration", type=float, default=60.0, help="seconds; 0 = until Ctrl+C"
        )
        parser.add_argument("--ads", type=int, default=12, help="number of ads")
        parser.add_argument("--users", type=int, default=500, help="number of users")
        parser.add_argument(
            "--skew", type=float, default=1.1, help="Zipf exponent of ad popularity (0: uniform)"
        )
        parser.add_argument(
            "--path", choices=sorted(PATHS), default="to-be", help="ingest path to send to"
        )
        parser.add_argument(
            "--batch", type=int, default=1, help="events per request (to-be and as-is)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        rate, duration, batch = options["rate"], options["duration"], options["batch"]
        if not rate > 0:
            raise CommandError("--rate must be above 0")
        if not duration >= 0:
            raise CommandError("--duration must be 0 (until Ctrl+C) or more")
        if not 1 <= options["ads"] <= 10**6 or not 1 <= options["users"] <= 10**9:
            raise CommandError("--ads and --users must be at least 1")
        if not options["skew"] >= 0:
            raise CommandError("--skew must be 0 or more")
        if batch < 1 or (options["path"] == "pixel" and batch != 1):
            raise CommandError("--batch must be at least 1 (and 1 for --path pixel)")
        try:
            sender = HttpSender(options["url"], options["path"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None

        source = EventSource(ads=options["ads"], users=options["users"], skew=options["skew"])
        simulation = Simulation(
            send=sender.send, source=source, rate=rate, batch=batch, duration=duration
        )
        tty = self.stdout.isatty()
        label = f"simulate {options['path']} -> {options['url']}"
        self.stdout.write(
            f"{label}: {rate:g} events/s, {options['ads']} ads (skew {options['skew']:g}), "
            f"{options['users']} users, batch {batch}, "
            + (f"for {duration:g} s" if duration else "until Ctrl+C")
        )

        def progress(tally: Tally, elapsed: float) -> None:
            line = progress_line(tally, elapsed=elapsed, duration=duration, tty=tty)
            if tty:
                self.stdout.write(f"\r{line}\x1b[K", ending="")
                self.stdout.flush()
            else:
                self.stdout.write(f"[{options['path']}] {line}")

        interrupted = False
        try:
            with _sigterm_as_interrupt():
                simulation.run(
                    progress=progress, every=TTY_PROGRESS_SECONDS if tty else LOG_PROGRESS_SECONDS
                )
        except KeyboardInterrupt:
            interrupted = True
        finally:
            sender.close()
        if tty:
            progress(simulation.tally, simulation.elapsed())
            self.stdout.write("")
        how = "interrupted" if interrupted else "done"
        self.stdout.write(f"{label}: {how} after {simulation.elapsed():.1f} s")
        for line in summary_lines(simulation.tally, elapsed=simulation.elapsed(), target_rate=rate):
            self.stdout.write(line)
