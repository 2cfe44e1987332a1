"""The delivery-semantics lab on the real broker and the real database: with its crash points
forced, at-most-once loses and never double-counts, at-least-once double-counts and never
loses, exactly-once does neither; the command prints that table and stores it. Also the lab
modes of `runconsumer` without a crash, the crash-point hook itself, and a broker that is down."""

from __future__ import annotations

import io
import re
import uuid
from collections import Counter
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from kafka import KafkaProducer

from stats.consumer.crash_points import AFTER_DB_COMMIT, AFTER_KAFKA_COMMIT, CrashPoint
from stats.consumer.semantics import group_for
from stats.kafka_admin import ensure_topics
from stats.semantics_lab.counting import lab_counts_get
from stats.semantics_lab.plan import LabRow, format_table, tally
from stats.semantics_lab.results import lab_table_last
from tests.stats.topic_data import counted_per_ad, produce_events

ROW = re.compile(
    r"^(?P<mode>[a-z-]+)\s+(?P<sent>\d+)\s+(?P<counted>\d+)\s+(?P<lost>\d+)\s+"
    r"(?P<double>\d+)\s+(?P<time>[\d.]+) s\s+(?P<crashes>\d+) x (?P<point>[a-z-]+)$"
)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_lab_shows_what_each_semantics_loses_and_double_counts(
    kafka_servers: list[str],
) -> None:
    out = io.StringIO()
    call_command("semanticslab", events=240, crashes=2, stdout=out)
    printed = out.getvalue()

    assert "at-most-once: killed at after-kafka-commit" in printed  # progress while it runs
    assert "exactly-once: drained the topic" in printed
    header = next(line for line in printed.splitlines() if line.startswith("mode"))
    assert header.split() == [
        "mode", "sent", "counted", "lost", "double-counted", "time", "crashes", "(SIGKILL", "at)"
    ]  # fmt: skip
    rows = {m["mode"]: m for m in map(ROW.match, printed.splitlines()) if m}
    assert list(rows) == ["at-most-once", "at-least-once", "exactly-once"]
    numbers = ("sent", "counted", "lost", "double", "crashes")
    at_most, at_least, exactly = ({k: int(rows[mode][k]) for k in numbers} for mode in rows)
    for row in (at_most, at_least, exactly):
        assert row["sent"] == 240
        assert row["crashes"] == 2
    assert at_most["lost"] > 0 and at_most["double"] == 0
    assert at_most["counted"] == 240 - at_most["lost"]
    assert at_least["lost"] == 0 and at_least["double"] > 0
    assert at_least["counted"] == 240 + at_least["double"]
    assert exactly == {"sent": 240, "counted": 240, "lost": 0, "double": 0, "crashes": 2}
    assert rows["at-most-once"]["point"] == AFTER_KAFKA_COMMIT
    assert rows["at-least-once"]["point"] == rows["exactly-once"]["point"] == AFTER_DB_COMMIT

    stored = lab_table_last()  # what the staff page shows
    assert [(r.mode, r.sent, r.counted, r.lost, r.double_counted) for r in stored] == [
        (mode, r["sent"], r["counted"], r["lost"], r["double"])
        for mode, r in zip(rows, (at_most, at_least, exactly), strict=True)
    ]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("semantics", ["at-least-once", "at-most-once"])
def test_a_lab_mode_without_a_crash_counts_everything_once_in_its_own_group(
    semantics: str, kafka_servers: list[str], settings: Any
) -> None:
    topic = f"test-semantics-{uuid.uuid4().hex[:10]}"
    ensure_topics(topic=topic, partitions=3, replication_factor=1)
    producer = KafkaProducer(bootstrap_servers=kafka_servers)
    expected = produce_events(producer, topic, 120)
    producer.close()
    settings.STATS_CONSUMER_GROUP = base = f"test-stats-{uuid.uuid4().hex[:8]}"

    call_command(
        "runconsumer", topic=topic, semantics=semantics, batch_size=25, exit_when_idle=1.0,
        progress_interval=60.0, metrics_port=0,
    )  # fmt: skip

    assert lab_counts_get(consumer_group=f"{base}-{semantics}", topic=topic) == expected
    assert counted_per_ad() == {}  # the statistics tables are exactly-once's alone


def test_each_mode_has_its_own_group() -> None:
    assert group_for("exactly-once", "stats-service") == "stats-service"
    assert group_for("at-least-once", "stats-service") == "stats-service-at-least-once"
    assert group_for("at-most-once", "stats-service") == "stats-service-at-most-once"


def test_the_crash_point_fires_once_at_its_point_of_its_batch() -> None:
    kills: list[int] = []
    crash = CrashPoint(AFTER_DB_COMMIT, batch=2, kill=lambda: kills.append(crash.batches))
    crash.batch_begun()
    crash.reached(AFTER_DB_COMMIT)  # batch 1: not yet
    crash.batch_begun()
    crash.reached(AFTER_KAFKA_COMMIT)  # batch 2, another point
    assert kills == []
    crash.reached(AFTER_DB_COMMIT)
    assert kills == [2]
    with pytest.raises(ValueError, match="crash point must be one of"):
        CrashPoint("before-lunch")


def test_lost_and_double_counted_are_per_ad_differences() -> None:
    row = tally(
        mode="m", sent=Counter(a=3, b=2), counted={"a": 1, "b": 4}, seconds=1.0, crashes=1,
        crash_point=AFTER_DB_COMMIT,
    )  # fmt: skip
    assert (row.sent, row.counted, row.lost, row.double_counted) == (5, 5, 2, 2)
    table = format_table([row, LabRow("x", 1, 1, 0, 0, 0.25, 0, AFTER_DB_COMMIT)])
    assert table.splitlines()[2].split()[-3:] == ["1", "x", "after-db-commit"]
    assert table.splitlines()[3].endswith("none")


@pytest.mark.django_db
def test_a_broker_that_is_down_is_named_with_what_to_run(settings: Any) -> None:
    settings.KAFKA_BOOTSTRAP_SERVERS = ["127.0.0.1:9"]  # discard port: nothing listens
    settings.KAFKA_ADMIN_TIMEOUT_SECONDS = 1.0
    with pytest.raises(CommandError, match=r"127\.0\.0\.1:9.*make broker"):
        call_command("semanticslab", events=10, crashes=1, stdout=io.StringIO())
