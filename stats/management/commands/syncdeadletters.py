"""`manage.py syncdeadletters`: mirror `<topic>.dlq` into the dead-letter table now."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from stats.dead_letter_services import dead_letters_sync
from stats.kafka_admin import BrokerUnavailable, dead_letter_topic


class Command(BaseCommand):
    help = "Mirror the dead-letter topic's new records into the admin's dead-letter table."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--topic", default=settings.IMPRESSIONS_TOPIC)
        parser.add_argument("--max-records", type=int, default=100_000)
        parser.add_argument("--max-seconds", type=float, default=60.0)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["max_records"] < 1 or options["max_seconds"] <= 0:
            raise CommandError("--max-records and --max-seconds must be above 0")
        try:
            result = dead_letters_sync(
                topic=options["topic"],
                max_records=options["max_records"],
                max_seconds=options["max_seconds"],
            )
        except BrokerUnavailable as exc:
            raise CommandError(str(exc)) from exc
        more = "" if result.caught_up else " (more remain: run it again)"
        self.stdout.write(
            f"read {result.read} records of {dead_letter_topic(options['topic'])}{more}"
        )
