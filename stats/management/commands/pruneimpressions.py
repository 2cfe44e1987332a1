"""`manage.py pruneimpressions`: delete raw impressions past RAW_IMPRESSION_RETENTION_DAYS.

The consumer does the same on a schedule (RAW_PRUNE_INTERVAL_SECONDS); this is for a one-off
run. `--days` may keep more than the setting, never less (stats.retention says why).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from stats.retention import RetentionRefused, prune_cutoff
from stats.services import impressions_prune


class Command(BaseCommand):
    help = "Delete raw impressions recorded before the retention window; aggregates are kept."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            help="keep rows recorded in the last DAYS days (default and minimum: "
            "RAW_IMPRESSION_RETENTION_DAYS)",
        )
        parser.add_argument("--batch-rows", type=int, default=settings.RAW_PRUNE_BATCH_ROWS)

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        try:
            cutoff = prune_cutoff(now=now, days=options["days"])
        except RetentionRefused as exc:
            raise CommandError(str(exc)) from exc
        batch, deleted = max(options["batch_rows"], 1), 0
        while True:  # short transactions, so recording is never held up for long
            step = impressions_prune(older_than=cutoff, limit=batch, now=now)
            deleted += step
            if step < batch:
                break
            self.stdout.write(f"  ... {deleted} so far")
        self.stdout.write(
            f"deleted {deleted} raw impressions recorded before {cutoff:%Y-%m-%d %H:%M} UTC"
        )
