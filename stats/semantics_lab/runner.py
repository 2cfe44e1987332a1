"""`SemanticsLab`: publishes the same events once to the run's own topic, then, mode after
mode, runs `manage.py runconsumer --semantics <mode>` as a separate process K times with a
crash point (it SIGKILLs itself there), restarts it once more without one to drain the topic,
and measures what the mode counted against what was sent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection

from impressions.publisher import publish_events
from stats.consumer.semantics import EXACTLY_ONCE, Semantics
from stats.selectors import ad_totals_get
from stats.semantics_lab.counting import lab_counts_forget, lab_counts_get
from stats.semantics_lab.plan import (
    CRASH_BATCH,
    CRASH_POINT,
    LAB_DAY,
    MODES,
    LabRow,
    lab_events,
    sent_per_ad,
    tally,
)
from stats.semantics_lab.topics import lab_topic, lab_topic_replace

PUBLISH_CHUNK = 500


class LabFailure(RuntimeError):
    """A consumer of the lab did not do what the lab expected; the message quotes its log."""


@dataclass(frozen=True)
class LabOptions:
    events: int
    crashes: int
    batch_size: int
    partitions: int = 3
    run_timeout: float = 120.0  # one consumer run, seconds


def lab_group(mode: Semantics) -> str:
    return f"semanticslab-{mode}"


class SemanticsLab:
    """Runs the lab once (`run`); `report` receives one line of progress at a time, and each
    consumer's log goes to a file in `workdir` (quoted in a LabFailure).

    Raises kafka_admin.BrokerUnavailable and publisher.PublishUnavailable when Kafka does not
    answer, LabFailure when a consumer exits otherwise than planned.
    """

    def __init__(
        self, options: LabOptions, *, report: Callable[[str], None], workdir: Path
    ) -> None:
        self.options, self._report, self._workdir = options, report, workdir
        self.run_id = uuid.uuid4().hex[:8]
        self.topic = lab_topic(self.run_id)

    def run(self) -> list[LabRow]:
        o = self.options
        deleted = lab_topic_replace(
            topic=self.topic, partitions=o.partitions,
            replication_factor=settings.KAFKA_REPLICATION_FACTOR,
        )  # fmt: skip
        if deleted:
            self._report(f"deleted {len(deleted)} topics of earlier lab runs")
        lab_counts_forget(keep_topic=self.topic)
        events = lab_events(self.run_id, o.events)
        self._report(f"publishing {o.events} events to {self.topic} ({o.partitions} partitions)")
        for start in range(0, len(events), PUBLISH_CHUNK):
            publish_events(events[start : start + PUBLISH_CHUNK], topic=self.topic)
        sent = sent_per_ad(events)
        return [self._mode(mode, sent) for mode in MODES]

    def _mode(self, mode: Semantics, sent: Mapping[str, int]) -> LabRow:
        o, point = self.options, CRASH_POINT[mode]
        started = time.monotonic()
        crashes = 0
        for run in range(1, o.crashes + 2):
            crash = point if run <= o.crashes else None
            what = f"SIGKILL at {crash} of batch {CRASH_BATCH}" if crash else "no crash"
            self._report(f"{mode}: run {run} of {o.crashes + 1} ({what})")
            began = time.monotonic()
            code, log = self._consume(mode, crash, run)
            took = time.monotonic() - began
            if crash and code == -signal.SIGKILL:
                crashes += 1
                self._report(f"{mode}: killed at {crash} after {took:.1f} s; restarting")
                continue
            if code != 0:
                raise LabFailure(
                    f"the {mode} consumer exited with {code} ({what}); the end of its log"
                    f" ({log}):\n{_tail(log)}"
                )
            if crash:
                self._report(
                    f"{mode}: drained the topic before batch {CRASH_BATCH} (too few events for"
                    f" --crashes {o.crashes}); no more crashes"
                )
                break
            self._report(f"{mode}: drained the topic in {took:.1f} s")
        seconds = time.monotonic() - started
        counted = self._counted(mode, sent)
        return tally(
            mode=mode, sent=sent, counted=counted, seconds=seconds, crashes=crashes,
            crash_point=point,
        )  # fmt: skip

    def _consume(self, mode: Semantics, crash: str | None, run: int) -> tuple[int, Path]:
        """One `runconsumer` process until it exits (or the bound: then killed, LabFailure)."""
        env = {**os.environ, "DATABASE_URL": database_url()}
        env["KAFKA_BOOTSTRAP_SERVERS"] = ",".join(settings.KAFKA_BOOTSTRAP_SERVERS)
        env.pop("STATS_LAB_CRASH_POINT", None)
        if crash:
            env |= {"STATS_LAB_CRASH_POINT": crash, "STATS_LAB_CRASH_BATCH": str(CRASH_BATCH)}
        command = [
            sys.executable, str(settings.BASE_DIR / "manage.py"), "runconsumer",
            "--semantics", mode, "--topic", self.topic, "--group", lab_group(mode),
            "--instance-id", f"semanticslab-{os.getpid()}", "--batch-size",
            str(self.options.batch_size), "--exit-when-idle", "1", "--progress-interval", "60",
            "--metrics-port", "0", "--no-create-topic",
        ]  # fmt: skip
        log = self._workdir / f"{mode}-{run}.log"
        with open(log, "wb") as output:
            proc = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            return proc.wait(timeout=self.options.run_timeout), log
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise LabFailure(
                f"the {mode} consumer did not finish within {self.options.run_timeout:g} s;"
                f" the end of its log ({log}):\n{_tail(log)}"
            ) from None

    def _counted(self, mode: Semantics, sent: Mapping[str, int]) -> dict[str, int]:
        """Exactly-once counts in the statistics (through the API's selector); the others in
        the lab's own table."""
        if mode != EXACTLY_ONCE:
            return lab_counts_get(consumer_group=lab_group(mode), topic=self.topic)
        day_after = LAB_DAY + timedelta(days=1)
        return {
            ad: ad_totals_get(ad_id=ad, start=LAB_DAY, end=day_after)["impressions"] for ad in sent
        }


def database_url() -> str:
    """A DATABASE_URL for the database this process uses, for the consumers it starts."""
    cfg = connection.settings_dict
    if cfg["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{cfg['NAME']}"
    return f"postgres://{cfg['USER']}:{cfg['PASSWORD']}@{cfg['HOST']}:{cfg['PORT']}/{cfg['NAME']}"


def _tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
