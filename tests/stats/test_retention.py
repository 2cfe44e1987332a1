"""Pruning never removes raw rows a retry or a replay can still meet: a resend inside the
window counts once, one after the window counts again (documented); settings and commands that
ask for less are refused; the consumer prunes on a schedule, in small batches, between polls."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from impressions.contract import AdImpressionEvent, encode_event
from impressions.models import Impression
from stats.consumer import ConsumerConfig, ImpressionConsumer
from stats.consumer.build import DatabaseRecorder, database_ledger
from stats.consumer.testing import InMemoryBroker, InMemoryDeadLetters
from stats.maintenance import RawRowPruner
from stats.models import AdDayCount
from stats.retention import RetentionRefused, minimum_raw_retention
from stats.services import impressions_prune, record_impressions

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent.parent


def event(user: str = "u", event_id: uuid.UUID | None = None) -> AdImpressionEvent:
    moment = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    return AdImpressionEvent(1, event_id or uuid.uuid4(), "ad", user, moment)


def impressions() -> int:
    return sum(AdDayCount.objects.filter(ad_id="ad").values_list("impressions", flat=True))


def recorded_ago(events: list[AdImpressionEvent], age: timedelta) -> None:
    record_impressions(events=events)
    Impression.objects.filter(event_id__in=[e.event_id for e in events]).update(
        recorded_at=timezone.now() - age
    )


def test_a_resend_inside_the_window_counts_once_and_after_it_again(settings: Any) -> None:
    inside, outside = event("inside"), event("outside")
    # Inside the window: recorded just short of topic retention + segment + retry window ago.
    recorded_ago([inside], minimum_raw_retention() - timedelta(hours=1))
    # Outside: recorded before RAW_IMPRESSION_RETENTION_DAYS.
    recorded_ago([outside], timedelta(days=settings.RAW_IMPRESSION_RETENTION_DAYS, hours=1))
    assert impressions() == 2
    out = io.StringIO()
    call_command("pruneimpressions", stdout=out)
    assert "deleted 1 raw impressions" in out.getvalue()
    with pytest.raises(RetentionRefused, match="would prune raw impressions younger"):
        impressions_prune(older_than=timezone.now() - timedelta(days=1))
    with pytest.raises(CommandError, match="refused: --days 1 would prune"):
        call_command("pruneimpressions", "--days", "1")
    assert list(Impression.objects.values_list("event_id", flat=True)) == [inside.event_id]

    assert record_impressions(events=[inside]) == 0  # its row is kept: counted once
    assert impressions() == 2
    # Documented: a resend after RAW_IMPRESSION_RETENTION_DAYS (beyond any client's retry
    # window and the topic's retention) finds no row and is counted again.
    assert record_impressions(events=[outside]) == 1
    assert impressions() == 3


def test_pruneimpressions_deletes_in_short_batches(settings: Any) -> None:
    recorded_ago(
        [event() for _ in range(12)], timedelta(days=settings.RAW_IMPRESSION_RETENTION_DAYS + 1)
    )
    record_impressions(events=[event()])
    out = io.StringIO()
    call_command("pruneimpressions", "--batch-rows", "5", stdout=out)
    assert "... 5 so far" in out.getvalue() and "... 10 so far" in out.getvalue()
    assert "deleted 12 raw impressions" in out.getvalue()
    assert Impression.objects.count() == 1


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"RAW_IMPRESSION_RETENTION_DAYS": "8"}, "RAW_IMPRESSION_RETENTION_DAYS=8 would prune"),
        (
            {
                "IMPRESSIONS_TOPIC_RETENTION_MS": str(40 * 86_400_000),
                "DEAD_LETTER_TOPIC_RETENTION_MS": str(40 * 86_400_000),
            },
            "must cover IMPRESSIONS_TOPIC_RETENTION_MS",
        ),
        ({"IMPRESSIONS_TOPIC_RETENTION_MS": "-1"}, "-1 (keep forever) is not supported"),
        ({"DEAD_LETTER_TOPIC_RETENTION_MS": "3600000"}, "DEAD_LETTER_TOPIC_RETENTION_MS must be"),
    ],
)
def test_settings_refuse_a_retention_shorter_than_the_topic_and_retry_window(
    variables: dict[str, str], message: str
) -> None:
    env = {**os.environ, "DEBUG": "1", **variables}
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert message in done.stderr


def test_the_consumer_prunes_in_small_batches_on_its_schedule(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The in-memory broker drives the real consumer loop on the real database."""
    caplog.set_level(logging.INFO, logger="stats.maintenance")
    broker = InMemoryBroker("t", partitions=2)
    now = datetime.now(UTC)
    pruner = RawRowPruner(interval=60, batch_rows=5, clock=broker.clock, now=lambda: now)
    consumer = ImpressionConsumer(
        ConsumerConfig(topic="t", group="g", retry_pause=0.0),
        client=broker.member(),
        recorder=DatabaseRecorder(),
        ledger=lambda: database_ledger(consumer_group="g", topic="t"),
        dead_letters=InMemoryDeadLetters(),
        clock=broker.clock,
        maintenance=pruner,
    )
    old = timedelta(days=settings.RAW_IMPRESSION_RETENTION_DAYS, minutes=1)
    recorded_ago([event() for _ in range(12)], old)
    fresh = [event() for _ in range(6)]
    for i, e in enumerate(fresh):
        broker.produce(i % 2, encode_event(e))

    remaining = []
    for _ in range(4):
        consumer.step()
        remaining.append(Impression.objects.count())
    # 12 old rows, at most 5 per step between polls, while the second poll records the 6 new
    # events (the first poll's records came before the seek to the ledger and are dropped).
    assert remaining == [12 - 5, 12 - 10 + 6, 6, 6]
    assert pruner.runs == 1
    assert "pruned 12 raw impressions" in caplog.text
    assert set(Impression.objects.values_list("event_id", flat=True)) == {e.event_id for e in fresh}

    recorded_ago([event() for _ in range(3)], old)
    for _ in range(100):  # 50 s of empty polls: the next run is not due yet
        consumer.step()
    assert Impression.objects.count() == 9
    for _ in range(30):  # past 60 s
        consumer.step()
    assert Impression.objects.count() == 6
    assert pruner.runs == 2
    consumer.close()


def test_pruning_can_be_switched_off() -> None:
    recorded_ago([event()], timedelta(days=365))
    RawRowPruner(interval=0, batch_rows=5)()
    assert Impression.objects.count() == 1
