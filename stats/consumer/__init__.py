"""The stats-service consumer: poll → seek to the ledger → decode → dead-letter → record with
offsets → commit.

The core (`loop`) sees only the contracts in `ports` and the plain values in `records`; it
chains the steps `decoding`, `dead_lettering` and `writing`, seeks new partitions and accounts
for expired records in `resuming`, keeps position and retry state in `positions`, decides
idle exits in `idleness`, marks read-through times and lag samples in `read_progress`, holds a
partition with too many invalid records in `breaker`, and reports through `progress` and
`observing`. `metrics` (with `metrics_server`) is the Prometheus observer and `/readyz`;
`membership` holds the static instance id and session timeout. `kafka_client`,
`rebalance_listener`, `dead_letters` and `static_leave` are the Kafka adapters, `build` wires
them and the database to the core, `testing/` holds an in-memory broker and store for fast
tests, and `shutdown` handles SIGTERM/SIGINT.
"""

from stats.consumer.build import build_consumer
from stats.consumer.loop import ConsumerConfig, ImpressionConsumer
from stats.consumer.positions import (
    LedgerAheadOfTopic,
    LedgerDoesNotMatchTopic,
    LedgerOfAnotherTopic,
)
from stats.consumer.records import BrokerFailure
from stats.consumer.shutdown import stop_on_signals

__all__ = [
    "BrokerFailure",
    "ConsumerConfig",
    "ImpressionConsumer",
    "LedgerAheadOfTopic",
    "LedgerDoesNotMatchTopic",
    "LedgerOfAnotherTopic",
    "build_consumer",
    "stop_on_signals",
]
