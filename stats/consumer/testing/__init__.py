"""In-memory stand-ins for the core's ports, for fast tests: a broker with its group members
and dead-letter sink (`broker`), and a store with the database's contract (`store`)."""

from stats.consumer.testing.broker import (
    FakeClock,
    InMemoryBroker,
    InMemoryConsumer,
    InMemoryDeadLetters,
    PartitionLog,
)
from stats.consumer.testing.store import InMemoryStore

__all__ = [
    "FakeClock",
    "InMemoryBroker",
    "InMemoryConsumer",
    "InMemoryDeadLetters",
    "InMemoryStore",
    "PartitionLog",
]
