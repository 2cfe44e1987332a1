"""`manage.py pruneimpressions`: delete raw impressions past RAW_IMPRESSION_RETENTION_DAYS."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from stats.services import impressions_prune


class Command(BaseCommand):
    help = "Delete raw impressions recorded before the retention window; aggregates are kept."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=settings.RAW_IMPRESSION_RETENTION_DAYS)

    def handle(self, *args: Any, **options: Any) -> None:
        cutoff = timezone.now() - timedelta(days=options["days"])
        deleted = impressions_prune(older_than=cutoff)
        self.stdout.write(
            f"deleted {deleted} raw impressions recorded before {cutoff:%Y-%m-%d %H:%M} UTC"
        )
