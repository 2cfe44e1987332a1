"""`manage.py rebuildstats --from T --to T`: recompute the statistics of whole UTC days from the
retained raw impressions (stats.rebuild), a transaction per day, reporting what changed."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from stats.bucketing import days_touched
from stats.ranges import RangeError, parse_range
from stats.rebuild import DayReport, stats_rebuild
from stats.retention import RetentionRefused


class Command(BaseCommand):
    help = (
        "Recompute counters and unique-user rows of the UTC days that [--from, --to) touches "
        "from the raw impressions; days whose raw rows may be pruned are refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", required=True, help="ISO date or datetime")
        parser.add_argument("--to", dest="end", required=True, help="ISO date or datetime (excl.)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            start, end = parse_range(options["start"], options["end"])
        except RangeError as exc:
            raise CommandError(f"--{exc.field}: {exc.message}") from exc
        first, last = days_touched(start, end)
        if first is None or last is None:
            raise CommandError("--from and --to are both required")
        started = time.monotonic()
        changed = 0

        def progress(report: DayReport) -> None:
            nonlocal changed
            changed += report.changed
            self.stdout.write(f"{report}  ({time.monotonic() - started:.1f}s)")

        self.stdout.write(f"rebuilding {first} .. {last} (UTC days), one transaction per day")
        try:
            reports = stats_rebuild(first=first, last=last, on_day=progress)
        except RetentionRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"done: {len(reports)} days, {changed} changed, {len(reports) - changed} intact"
        )
