"""Kafka adapter: the rebalance listener notes assigned and revoked partitions for the core."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from kafka import ConsumerRebalanceListener
from kafka.structs import TopicPartition


class RebalanceNotes(ConsumerRebalanceListener):
    """kafka-python runs listeners on its I/O thread (which also heartbeats), so nothing slow
    happens here: the client hands the changes to the core with the next poll."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._assigned: set[TopicPartition] = set()
        self._revoked: set[TopicPartition] = set()
        self.joined = False  # the group has assigned partitions (maybe none) at least once

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        with self._lock:
            self._revoked |= set(revoked)
            self._assigned -= set(revoked)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        with self._lock:
            self._assigned |= set(assigned)
            self.joined = True

    def on_partitions_lost(self, lost: Iterable[TopicPartition]) -> None:
        self.on_partitions_revoked(lost)

    def take(self) -> tuple[set[TopicPartition], set[TopicPartition]]:
        """The (assigned, revoked) partitions since the last call."""
        with self._lock:
            changes = (self._assigned, self._revoked)
            self._assigned, self._revoked = set(), set()
            return changes
