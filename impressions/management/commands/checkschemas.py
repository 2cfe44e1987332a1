"""`manage.py checkschemas`: the committed event schemas are closed and BACKWARD_TRANSITIVE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from impressions.schema_checks import SCHEMA_CHECKS, SCHEMA_DIR


class Command(BaseCommand):
    help = (
        "Check the committed AdImpressionEvent JSON Schemas: each is closed, each version reads "
        "the data of every older one (BACKWARD_TRANSITIVE), and the code writes the latest. "
        "Prints a report; exits 1 if any check fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--schema-dir",
            type=Path,
            default=SCHEMA_DIR,
            help="folder of ad_impression_event.vN.json files (default: impressions/schema)",
        )

    def handle(self, *args: Any, schema_dir: Path, **options: Any) -> None:
        failed = []
        for check in SCHEMA_CHECKS:
            report = check(schema_dir)
            verdict = "ok" if report.ok else "FAILED"
            self.stdout.write(f"{report.title}: {verdict}")
            for line in report.lines:
                self.stdout.write(f"  {line}")
            if not report.ok:
                failed.append(report.title)
        if failed:
            raise CommandError(f"{len(failed)} schema check(s) failed: {'; '.join(failed)}")
        self.stdout.write(f"all {len(SCHEMA_CHECKS)} schema checks passed")
