"""`manage.py runconsumer`: its options, checked before it touches the broker, and
`--no-create-topic` against the real broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from kafka import KafkaProducer

from stats.kafka_admin import ensure_topics
from tests.stats.topic_data import counted_per_ad, produce_events


def test_a_group_name_the_ledger_cannot_hold_is_refused() -> None:
    with pytest.raises(CommandError, match="--group must be 1 to 255 characters"):
        call_command("runconsumer", group="g" * 256)


def test_a_batch_size_below_one_is_refused() -> None:
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        call_command("runconsumer", batch_size=0)


@pytest.mark.integration
def test_no_create_topic_stops_at_a_missing_topic_and_creates_nothing(
    kafka_servers: list[str],
) -> None:
    missing = f"test-missing-{uuid.uuid4().hex[:10]}"
    with pytest.raises(
        CommandError,
        match=rf"missing topics {missing}, {missing}\.dlq: create them \(the dead-letter topic",
    ):
        call_command("runconsumer", topic=missing, no_create_topic=True)
    still_missing = ensure_topics(
        topic=missing,
        partitions=1,
        replication_factor=settings.KAFKA_REPLICATION_FACTOR,
        create=False,
    )
    assert still_missing == [missing, f"{missing}.dlq"]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_no_create_topic_consumes_an_existing_topic(
    raw_producer: KafkaProducer, topic: str, run_consumer: Callable[..., None]
) -> None:
    expected = produce_events(raw_producer, topic, 30)
    run_consumer(no_create_topic=True)
    assert counted_per_ad() == dict(expected)
