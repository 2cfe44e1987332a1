"""**Kafka adapter.** The lab's own topics: one per run (`semanticslab-<run>`, with its .dlq),
so the lab never writes to the impressions topic; a run deletes the topics of earlier runs."""

from __future__ import annotations

import logging

from kafka.errors import KafkaError, UnknownTopicOrPartitionError

from stats.kafka_admin import (
    BrokerUnavailable,
    dead_letter_topic,
    ensure_topics,
    short_lived_admin,
)

logger = logging.getLogger(__name__)

PREFIX = "semanticslab-"


def lab_topic(run_id: str) -> str:
    return f"{PREFIX}{run_id}"


def lab_topic_replace(*, topic: str, partitions: int, replication_factor: int) -> list[str]:
    """Delete every earlier lab topic (and .dlq), create `topic` and its .dlq; return the names
    deleted. Raises BrokerUnavailable (its message says what to start) when Kafka does not
    answer."""
    admin = short_lived_admin("stats-semantics-lab")
    try:
        old = sorted(
            t
            for t in admin.list_topics()
            if t.startswith(PREFIX) and t not in {topic, dead_letter_topic(topic)}
        )
        if old:
            try:
                admin.delete_topics(old)
            except UnknownTopicOrPartitionError:
                pass  # deleted meanwhile
            logger.info("deleted earlier lab topics %s", ", ".join(old))
    except KafkaError as exc:
        raise BrokerUnavailable(f"Kafka refused to list or delete the lab's topics: {exc}") from exc
    finally:
        admin.close()
    ensure_topics(topic=topic, partitions=partitions, replication_factor=replication_factor)
    return old
