"""`manage.py checkschemas`: the committed event schemas are closed and BACKWARD_TRANSITIVE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from impressions.schema_checks import SCHEMA_CHECKS, SCHEMA_DIR, registry_check


class Command(BaseCommand):
    help = (
        "Check the committed AdImpressionEvent JSON Schemas: each is closed, each version reads "
        "the data of every older one (BACKWARD_TRANSITIVE), and the code writes the latest. "
        "With --registry, a schema registry is asked too. Prints a report; exits 1 if any check "
        "fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--schema-dir",
            type=Path,
            default=SCHEMA_DIR,
            help="folder of ad_impression_event.vN.json files (default: impressions/schema)",
        )
        parser.add_argument(
            "--registry",
            metavar="URL",
            help="also register the versions in this schema registry (Confluent-compatible API, "
            "e.g. the URL `scripts/schema-registry-local url` prints) and ask its verdict",
        )
        parser.add_argument(
            "--subject",
            help="the registry subject (default: <IMPRESSIONS_TOPIC>-value, as Confluent's "
            "TopicNameStrategy names it)",
        )

    def handle(
        self,
        *args: Any,
        schema_dir: Path,
        registry: str | None,
        subject: str | None,
        **options: Any,
    ) -> None:
        checks = list(SCHEMA_CHECKS)
        if registry:
            checks.append(
                registry_check(registry, subject or f"{settings.IMPRESSIONS_TOPIC}-value")
            )
        failed = []
        for check in checks:
            report = check(schema_dir)
            verdict = "ok" if report.ok else "FAILED"
            self.stdout.write(f"{report.title}: {verdict}")
            for line in report.lines:
                self.stdout.write(f"  {line}")
            if not report.ok:
                failed.append(report.title)
        if failed:
            raise CommandError(f"{len(failed)} schema check(s) failed: {'; '.join(failed)}")
        self.stdout.write(f"all {len(checks)} schema checks passed")
