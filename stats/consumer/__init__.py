"""The stats-service consumer: poll → decode → dead-letter → record with offsets → commit.

`loop` holds the group member and its poll loop; `assignment` notes rebalances and `positions`
decides where a newly assigned partition resumes; `writer` is the write step, with `decoding`
(records into events or dead letters) and `dead_letters` (`<topic>.dlq`); `signals` stops
cleanly.
"""

from stats.consumer.loop import ConsumerConfig, ImpressionConsumer
from stats.consumer.positions import LedgerAheadOfTopic
from stats.consumer.signals import stop_on_signals

__all__ = ["ConsumerConfig", "ImpressionConsumer", "LedgerAheadOfTopic", "stop_on_signals"]
