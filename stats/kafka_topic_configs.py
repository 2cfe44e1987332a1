"""Kafka adapter: compare the retention configs of existing topics with the settings.

`runconsumer` warns at start when the impressions topic or its dead-letter topic keeps records
for another time than the settings say: a longer retention than IMPRESSIONS_TOPIC_RETENTION_MS
lets a replay meet events whose raw rows were pruned (and count them again), a shorter one
loses records sooner than the operator expects.
"""

from __future__ import annotations

from django.conf import settings
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaError

from stats.kafka_admin import BrokerUnavailable, _unreachable, dead_letter_topic, short_lived_admin
from stats.retention import topic_configs


def topic_config_drift(topic: str) -> list[str]:
    """One message per config of `topic` or its dead-letter topic that differs from the
    settings, each naming both values and how to fix it; [] when all agree (or the topics do
    not exist). Raises BrokerUnavailable."""
    wanted = {
        topic: topic_configs(dead_letters=False),
        dead_letter_topic(topic): topic_configs(dead_letters=True),
    }
    admin = short_lived_admin("stats-topic-configs")
    try:
        found = admin.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, name, dict.fromkeys(configs))
                for name, configs in wanted.items()
            ],
            config_filter="all",
        ).get("topic", {})
    except KafkaError as exc:
        raise BrokerUnavailable(_unreachable(exc)) from exc
    finally:
        admin.close()
    problems = []
    for name, configs in wanted.items():
        for key, value in configs.items():
            actual = (found.get(name, {}).get(key) or {}).get("value")
            if actual is not None and actual != value:
                problems.append(_drift(name, key, actual, value))
    return problems


def _drift(name: str, key: str, actual: str, wanted: str) -> str:
    servers = settings.KAFKA_BOOTSTRAP_SERVERS[0]
    return (
        f"topic {name} has {key}={actual}, but the settings say {wanted}. Align them: "
        f"`kafka-configs.sh --bootstrap-server {servers} --alter --entity-type topics "
        f"--entity-name {name} --add-config {key}={wanted}` (or KafkaAdminClient."
        f"alter_configs), or change the setting to match (RAW_IMPRESSION_RETENTION_DAYS must "
        f"cover IMPRESSIONS_TOPIC_RETENTION_MS + IMPRESSIONS_TOPIC_SEGMENT_MS + "
        f"CLIENT_RETRY_WINDOW_SECONDS, see docs/operations.md)"
    )
