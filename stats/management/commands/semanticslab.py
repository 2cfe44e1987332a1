"""`manage.py semanticslab --events N --crashes K`: the delivery-semantics lab
(docs/semantics.md)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from impressions.publisher import PublishUnavailable
from stats.kafka_admin import BrokerUnavailable
from stats.semantics_lab.plan import default_batch_size, format_table
from stats.semantics_lab.results import lab_table_save
from stats.semantics_lab.runner import LabFailure, LabOptions, SemanticsLab

START_A_BROKER = (
    "start one with `make broker` (scripts/kafka-local start) or point KAFKA_BOOTSTRAP_SERVERS "
    "at a running broker"
)


class Command(BaseCommand):
    help = (
        "Run at-most-once, at-least-once and exactly-once consumers over the same events on the "
        "real broker, SIGKILL each --crashes times where it is weakest, restart it, and print "
        "what each lost and double-counted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--events", type=int, default=2000, metavar="N")
        parser.add_argument("--crashes", type=int, default=3, metavar="K")
        parser.add_argument(
            "--batch-size",
            type=int,
            metavar="B",
            help="records per poll (default: N / (2K + 2), so every crash finds a batch)",
        )
        parser.add_argument("--partitions", type=int, default=3, help="of the lab's topic")

    def handle(self, *args: Any, **options: Any) -> None:
        events, crashes = options["events"], options["crashes"]
        if not 1 <= events <= 1_000_000:
            raise CommandError("--events must be from 1 to 1000000")
        if not 0 <= crashes <= 100:
            raise CommandError("--crashes must be from 0 to 100")
        batch = options["batch_size"] or default_batch_size(events, crashes)
        if batch < 1 or not 1 <= options["partitions"] <= 100:
            raise CommandError("--batch-size and --partitions must be at least 1")
        lab_options = LabOptions(events, crashes, batch, options["partitions"])
        self.stdout.write(
            f"semantics lab: {events} events, {crashes} crashes per mode, batches of {batch}"
        )
        with tempfile.TemporaryDirectory(prefix="semanticslab-") as workdir:
            lab = SemanticsLab(lab_options, report=self._progress, workdir=Path(workdir))
            try:
                rows = lab.run()
            except (BrokerUnavailable, PublishUnavailable) as exc:
                raise CommandError(f"Kafka did not answer ({exc}); {START_A_BROKER}") from exc
            except LabFailure as exc:
                raise CommandError(str(exc)) from exc
        lab_table_save(run_id=lab.run_id, rows=rows)
        self.stdout.write("")
        self.stdout.write(format_table(rows))

    def _progress(self, line: str) -> None:
        self.stdout.write(f"  {line}")
        self.stdout.flush()
