"""Rebalance notes: the listener records changes, the poll loop acts on them."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from kafka import ConsumerRebalanceListener
from kafka.structs import TopicPartition


class AssignmentTracker(ConsumerRebalanceListener):
    """kafka-python runs listeners on its I/O loop (which also heartbeats), so no database work
    happens here: the loop takes the changes after each poll and seeks in its own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._assigned: set[TopicPartition] = set()
        self._revoked: set[TopicPartition] = set()

    def on_partitions_revoked(self, revoked: Any) -> None:
        with self._lock:
            self._revoked |= set(revoked)
            self._assigned -= set(revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        with self._lock:
            self._assigned |= set(assigned)
            self._revoked -= set(assigned)

    def on_partitions_lost(self, lost: Any) -> None:
        self.on_partitions_revoked(lost)

    def requeue(self, assigned: Iterable[TopicPartition]) -> None:
        """Put back assignments the loop could not act on yet (e.g. the database was down)."""
        self.on_partitions_assigned(assigned)

    def take(self) -> tuple[set[TopicPartition], set[TopicPartition]]:
        with self._lock:
            changes = (self._assigned, self._revoked)
            self._assigned, self._revoked = set(), set()
            return changes
