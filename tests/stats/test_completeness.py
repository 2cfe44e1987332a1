"""Completeness with the consumer core on the in-memory broker and the REAL record_impressions
(the test database): three partitions, one held back by a member that never reads it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import DatabaseError

from impressions.contract import AdImpressionEvent, encode_event
from impressions.models import Impression
from stats.consumer import ConsumerConfig, ImpressionConsumer
from stats.consumer.build import DatabaseRecorder, database_ledger
from stats.consumer.testing import InMemoryBroker, InMemoryConsumer, InMemoryDeadLetters
from stats.lag_verdict import SAMPLE_SLOTS
from stats.models import PartitionLagSample, PartitionProgress
from stats.offset_update import OffsetUpdate
from stats.progress_selectors import completeness_get
from stats.selectors import stored_offsets
from stats.services import record_impressions
from tests.stats.topic_data import database_refuses

pytestmark = pytest.mark.django_db

W0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class WallClock:
    def __init__(self) -> None:
        self.now = W0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def no_lateness(settings: Any) -> None:
    settings.STATS_ALLOWED_LATENESS_SECONDS = 0
    settings.STATS_CONSUMER_GROUP, settings.IMPRESSIONS_TOPIC = "g", "t"


def reader(broker: InMemoryBroker, wall: WallClock) -> ImpressionConsumer:
    config = ConsumerConfig(topic="t", group="g", retry_pause=0.0, mark_interval=1.0)
    return ImpressionConsumer(
        config,
        client=broker.member(),
        recorder=DatabaseRecorder(),
        ledger=lambda: database_ledger(consumer_group="g", topic="t"),
        dead_letters=InMemoryDeadLetters(),
        clock=broker.clock,
        wall_clock=wall,
    )


def publish(broker: InMemoryBroker, index: int, *, published: datetime, happened: datetime) -> None:
    event = AdImpressionEvent(1, uuid.uuid4(), f"ad-{index}", "u", happened)
    broker.produce(index, encode_event(event), timestamp=int(published.timestamp() * 1000))


def read_through() -> dict[int, datetime]:
    return dict(PartitionProgress.objects.values_list("partition", "read_through"))


def steps(loop: ImpressionConsumer, n: int = 8) -> None:
    for _ in range(n):  # empty polls move the loop's clock 0.5 s: a few progress marks
        loop.step()


def test_one_partition_held_back_holds_the_watermark_until_it_catches_up() -> None:
    broker, wall = InMemoryBroker("t", partitions=3), WallClock()
    loop = reader(broker, wall)
    for index in range(3):
        publish(
            broker, index, published=W0 - timedelta(minutes=9), happened=W0 - timedelta(minutes=9)
        )
    steps(loop)  # all read, then seen caught up at W0
    assert read_through() == {0: W0, 1: W0, 2: W0}
    assert completeness_get().complete_through == W0

    holder: InMemoryConsumer = broker.member()  # joins: takes partition 1, never reads it
    assert {p.index for p in holder.assignment()} == {1}
    wall.now = W1 = W0 + timedelta(minutes=10)
    for index in range(3):
        publish(
            broker, index, published=W0 + timedelta(minutes=5), happened=W0 + timedelta(minutes=5)
        )
    steps(loop)
    assert read_through() == {0: W1, 1: W0, 2: W1}
    assert completeness_get().complete_through == W0  # stopped at partition 1's progress

    # Late: an event whose time is before the watermark is counted, and counted as late.
    publish(broker, 0, published=W1, happened=W0 - timedelta(hours=1))
    publish(broker, 2, published=W1, happened=W1)  # on time
    steps(loop)
    assert Impression.objects.filter(occurred_at=W0 - timedelta(hours=1)).count() == 1
    assert completeness_get().late_events == 1

    holder.close()  # partition 1 goes back to the reader, which catches up
    wall.now = W2 = W0 + timedelta(minutes=20)
    steps(loop)
    assert read_through() == {0: W2, 1: W2, 2: W2}
    assert completeness_get().complete_through == W2
    assert Impression.objects.count() == 8
    assert completeness_get().late_events == 1
    ledger = stored_offsets(consumer_group="g", topic="t")
    for partition in range(3):  # lag samples: a bounded ring, holding the ledger's offset
        samples = PartitionLagSample.objects.filter(partition=partition).order_by("taken_at")
        assert 1 <= samples.count() <= SAMPLE_SLOTS
        newest = samples.last()
        assert newest is not None and newest.next_offset == newest.end_offset == ledger[partition]


def test_the_watermark_never_moves_backwards() -> None:
    def progress(through: datetime) -> None:
        record_impressions(
            events=[],
            offsets=[
                OffsetUpdate("g", "t", p, 5, read_through=through, topic_partitions=3)
                for p in range(3)
            ],
        )

    progress(W0)
    assert completeness_get().complete_through == W0
    progress(W0 - timedelta(hours=1))  # e.g. a member that still believes it owns them
    assert completeness_get().complete_through == W0
    assert read_through() == {0: W0, 1: W0, 2: W0}
    record_impressions(events=[], offsets=[OffsetUpdate("g", "t", 3, 0, topic_partitions=4)])
    assert completeness_get().complete_through == W0  # a 4th partition, unread, holds it there
    assert completeness_get().partitions == 4


def test_the_allowed_lateness_is_subtracted(settings: Any) -> None:
    settings.STATS_ALLOWED_LATENESS_SECONDS = 90
    record_impressions(
        events=[],
        offsets=[OffsetUpdate("g", "t", 0, 1, read_through=W0, topic_partitions=1)],
    )
    assert completeness_get().complete_through == W0 - timedelta(seconds=90)


def test_the_as_is_path_counts_its_late_events_too() -> None:
    record_impressions(
        events=[], offsets=[OffsetUpdate("g", "t", 0, 1, read_through=W0, topic_partitions=1)]
    )
    old, new = W0 - timedelta(minutes=1), W0 + timedelta(minutes=1)
    events = [AdImpressionEvent(1, uuid.uuid4(), "ad", "u", moment) for moment in (old, new)]
    assert record_impressions(events=events) == 2  # no offsets: the sync path
    assert record_impressions(events=events) == 0  # a resend is neither counted nor late
    assert completeness_get().late_events == 1


def test_progress_commits_with_the_events_and_the_ledger_or_not_at_all() -> None:
    event = AdImpressionEvent(1, uuid.uuid4(), "ad", "u", W0)
    update = OffsetUpdate("g", "t", 0, 9, read_through=W0, end_offset=9, topic_partitions=1)
    with database_refuses(PartitionProgress._meta.db_table, "topic", "t"):
        with pytest.raises(DatabaseError):
            record_impressions(events=[event], offsets=[update])
    assert not Impression.objects.exists()
    assert stored_offsets(consumer_group="g", topic="t") == {}
    assert not PartitionLagSample.objects.exists()
    assert completeness_get().complete_through is None
