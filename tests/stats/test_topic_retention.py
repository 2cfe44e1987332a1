"""On the real broker: topics are created with the retention the settings give (longer for the
dead-letter topic), a topic with another retention is reported at `runconsumer` start, and the
consumer prunes old raw rows when it starts."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from impressions.contract import AdImpressionEvent
from impressions.models import Impression
from stats.kafka_admin import dead_letter_topic, ensure_topics
from stats.kafka_topic_configs import topic_config_drift
from stats.services import record_impressions

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin(kafka_servers: list[str]) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=kafka_servers)
    yield client
    client.close()


def configs(admin: KafkaAdminClient, name: str) -> dict[str, str]:
    keys = {"retention.ms": None, "segment.ms": None}
    found = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name, keys)], config_filter="all"
    )
    return {key: entry["value"] for key, entry in found["topic"][name].items()}


def test_created_topics_carry_the_configured_retention(
    admin: KafkaAdminClient, settings: Any
) -> None:
    settings.IMPRESSIONS_TOPIC_RETENTION_MS = 5 * 86_400_000
    settings.DEAD_LETTER_TOPIC_RETENTION_MS = 21 * 86_400_000
    settings.IMPRESSIONS_TOPIC_SEGMENT_MS = 3_600_000
    name = f"test-retention-{uuid.uuid4().hex[:10]}"
    assert ensure_topics(topic=name, partitions=1, replication_factor=1) == [
        name,
        dead_letter_topic(name),
    ]
    assert configs(admin, name) == {"retention.ms": "432000000", "segment.ms": "3600000"}
    assert configs(admin, dead_letter_topic(name)) == {
        "retention.ms": "1814400000",
        "segment.ms": "3600000",
    }
    assert topic_config_drift(name) == []


def test_a_topic_with_another_retention_is_reported_at_runconsumer_start(
    admin: KafkaAdminClient, group: str, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"test-retention-{uuid.uuid4().hex[:10]}"
    admin.create_topics(
        [NewTopic(name, 1, 1, topic_configs={"retention.ms": "3600000", "segment.ms": "3600000"})]
    )
    old = AdImpressionEvent(1, uuid.uuid4(), "ad", "u", timezone.now() - timedelta(days=40))
    record_impressions(events=[old])
    Impression.objects.update(
        recorded_at=timezone.now() - timedelta(days=settings.RAW_IMPRESSION_RETENTION_DAYS + 1)
    )
    caplog.set_level(logging.INFO, logger="stats")

    call_command("runconsumer", topic=name, group=group, exit_when_idle=1.0)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    retention = settings.IMPRESSIONS_TOPIC_RETENTION_MS
    assert any(
        f"topic {name} has retention.ms=3600000, but the settings say {retention}" in w
        and f"--entity-name {name} --add-config retention.ms={retention}" in w
        for w in warnings
    ), warnings
    assert any(f"topic {name} has segment.ms=3600000" in w for w in warnings), warnings
    # The dead-letter topic was missing, so runconsumer created it as the settings say.
    assert not any(dead_letter_topic(name) in w for w in warnings), warnings
    # ... and the consumer's scheduled pruning ran once at start.
    assert Impression.objects.count() == 0
    assert "pruned 1 raw impressions" in caplog.text
