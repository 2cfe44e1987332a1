"""The stats-service consumer: poll → decode → dead-letter → record with offsets → commit.

`loop` holds the group member, `decoding` turns records into events or dead letters,
`dead_letters` writes `<topic>.dlq`, `assignment` notes rebalances, `signals` stops cleanly.
"""

from stats.consumer.loop import ConsumerConfig, ImpressionConsumer, LedgerAheadOfTopic
from stats.consumer.signals import stop_on_signals

__all__ = ["ConsumerConfig", "ImpressionConsumer", "LedgerAheadOfTopic", "stop_on_signals"]
