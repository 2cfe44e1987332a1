"""Kafka adapter: one kafka-python group member behind the core's `ConsumerClient` contract."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence

from kafka import KafkaConsumer, OffsetAndMetadata
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import FencedInstanceIdError, KafkaError
from kafka.structs import TopicPartition

from stats.consumer.membership import DYNAMIC, InstanceIdInUse, Membership
from stats.consumer.ports import Polled
from stats.consumer.rebalance_listener import RebalanceNotes
from stats.consumer.records import BrokerFailure, Partition, Record
from stats.consumer.static_leave import remove_static_member

OFFSET_LOOKUP_TIMEOUT_MS = 5000
TOPIC_METADATA_WAIT_SECONDS = 10.0


class NoLeaderForPartition(BrokerFailure):
    """The broker knows no leader for a partition (yet), so it has no offsets to give."""


class KafkaConsumerClient:
    """Subscribes at construction, with auto-commit off; kafka-python's errors become
    BrokerFailure. Records come back as `records.Record`, partitions as `records.Partition`.

    As a static member (`membership.instance_id`), being fenced by another process with the same
    id raises membership.InstanceIdInUse from `poll` and `commit` (not retried).
    """

    def __init__(
        self,
        *,
        bootstrap_servers: Sequence[str],
        topic: str,
        group: str,
        max_records: int,
        membership: Membership = DYNAMIC,
        fetch_min_bytes: int = 1,
        fetch_max_wait_ms: int = 500,
    ) -> None:
        self._notes = RebalanceNotes()
        self._servers, self._group, self._membership = list(bootstrap_servers), group, membership
        self._fenced = False
        self._topic = topic
        try:
            self._consumer = KafkaConsumer(
                bootstrap_servers=list(bootstrap_servers),
                group_id=group,
                client_id=f"{group}-{socket.gethostname()}-{os.getpid()}",
                group_instance_id=membership.instance_id,
                session_timeout_ms=membership.session_timeout_ms,
                heartbeat_interval_ms=membership.heartbeat_interval_ms,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=max_records,  # an upper bound: poll returns what has arrived
                # The broker answers a fetch once fetch_min_bytes are ready or after
                # fetch_max_wait_ms: the longest a lone record waits, whatever the batch size.
                fetch_min_bytes=fetch_min_bytes,
                fetch_max_wait_ms=fetch_max_wait_ms,
                reconnect_backoff_max_ms=2000,  # back within seconds of a broker restart, not 30 s
            )
            if membership.instance_id:  # a dead predecessor under this id goes first (see there)
                remove_static_member(
                    bootstrap_servers=bootstrap_servers,
                    group=group,
                    instance_id=membership.instance_id,
                    member_id=None,
                )
            self._consumer.subscribe([topic], listener=self._notes)
            self._know_the_topic_before_joining(topic)
        except KafkaError as exc:
            raise BrokerFailure(f"{exc.__class__.__name__}: {exc}") from exc

    def _know_the_topic_before_joining(self, topic: str) -> None:
        """Fetch the topic's partitions before the first poll joins the group.

        kafka-python 3.0.12 joins with whatever metadata it has. Joining before the topic's
        partitions are known assigns nothing and rebalances again once they arrive; if that
        second JoinGroup is answered after a poll's timeout, the client drops the answer and
        stays in the group with no partitions, heartbeats off (seen in full test runs: a lone
        member without partitions for minutes). A metadata fetch after `subscribe` makes the
        first join the right one. Bounded: a topic that does not exist yet is left to the loop.
        """
        deadline = time.monotonic() + TOPIC_METADATA_WAIT_SECONDS
        self._consumer.topics()  # a fresh fetch: the group's metadata snapshot now has the topic
        while not self._consumer.partitions_for_topic(topic) and time.monotonic() < deadline:
            time.sleep(0.1)
            self._consumer.topics()

    def poll(self, timeout_ms: int) -> Polled:
        try:
            fetched = self._consumer.poll(timeout_ms=timeout_ms)
        except FencedInstanceIdError as exc:
            raise self._fenced_by_another() from exc
        except KafkaError as exc:
            raise BrokerFailure(f"{exc.__class__.__name__}: {exc}") from exc
        assigned, revoked = self._notes.take()
        return Polled(
            records={_partition(tp): [_record(r) for r in rs] for tp, rs in fetched.items() if rs},
            assigned=frozenset(map(_partition, assigned)),
            revoked=frozenset(map(_partition, revoked)),
        )

    def assignment(self) -> set[Partition]:
        return {_partition(tp) for tp in self._consumer.assignment() or ()}  # None mid-rebalance

    def joined_without_partitions(self) -> bool:
        """The group has given this member its share, and it is no partition (a standby)."""
        return self._notes.joined and not self._consumer.assignment()

    def seek(self, partition: Partition, offset: int) -> None:
        try:
            self._consumer.seek(_topic_partition(partition), offset)
        except ValueError:  # "Unassigned partition": it moved on, and its next owner seeks it
            pass

    def pause(self, partitions: Sequence[Partition]) -> None:
        owned = self._consumer.assignment() or set()
        self._consumer.pause(*(tp for tp in map(_topic_partition, partitions) if tp in owned))

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        try:
            self._consumer.commit(
                {_topic_partition(p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()}
            )
        except FencedInstanceIdError as exc:
            raise self._fenced_by_another() from exc
        except KafkaError as exc:
            raise BrokerFailure(f"{exc.__class__.__name__}: {exc}") from exc

    def committed(self, partitions: Sequence[Partition]) -> dict[Partition, int | None]:
        """The group's committed next offset of each partition (None: never committed), asked
        of the broker; the semantics lab's at-least-once and at-most-once resume from them."""
        try:
            return {
                p: self._consumer.committed(
                    _topic_partition(p), timeout_ms=OFFSET_LOOKUP_TIMEOUT_MS
                )
                for p in partitions
            }
        except KafkaError as exc:
            raise BrokerFailure(f"{exc.__class__.__name__}: {exc}") from exc

    def beginning_offsets(self, partitions: Sequence[Partition]) -> dict[Partition, int]:
        return self._offsets(self._consumer.beginning_offsets, partitions)

    def end_offsets(self, partitions: Sequence[Partition]) -> dict[Partition, int]:
        return self._offsets(self._consumer.end_offsets, partitions)

    def highwater(self, partition: Partition) -> int | None:
        try:
            high: int | None = self._consumer.highwater(_topic_partition(partition))
        except KafkaError:  # revoked since the last poll
            return None
        return high

    def topic_partitions(self) -> int | None:
        try:  # from the metadata the client keeps (refreshed every few minutes)
            found = self._consumer.partitions_for_topic(self._topic)
        except KafkaError:
            return None
        return len(found) or None

    def identities(self, partitions: Sequence[Partition]) -> dict[Partition, str | None]:
        """Kafka's topic id (KIP-516; metadata v10+, Kafka 2.8+), from the metadata this
        consumer fetches with. kafka-python 3.0 keeps it on its cluster metadata, which
        KafkaConsumer does not expose publicly; None when the broker sent none."""
        cluster = self._consumer._cluster
        ids = {topic: cluster.topic_id(topic) for topic in {p.topic for p in partitions}}
        return {
            p: str(ids[p.topic]) if ids[p.topic] and ids[p.topic].int else None for p in partitions
        }

    def close(self) -> None:
        """Leave the group at once: kafka-python's close does for a dynamic member; a static
        one (which close leaves in the group) is removed explicitly when `leave_on_stop`."""
        member_id = self._consumer.group_metadata().member_id
        self._consumer.close(autocommit=False)
        instance_id = self._membership.instance_id
        if instance_id and self._membership.leave_on_stop and member_id and not self._fenced:
            remove_static_member(
                bootstrap_servers=self._servers,
                group=self._group,
                instance_id=instance_id,
                member_id=member_id,
            )

    def _fenced_by_another(self) -> InstanceIdInUse:
        self._fenced = True
        return InstanceIdInUse(
            f"another process joined group {self._group} as {self._membership.instance_id}: "
            "give each consumer its own --instance-id (or --slot)"
        )

    def _offsets(
        self, lookup: Callable[..., dict[TopicPartition, int]], partitions: Sequence[Partition]
    ) -> dict[Partition, int]:
        """kafka-python leaves out partitions without a leader instead of raising: raise."""
        wanted = {_topic_partition(p): p for p in partitions}
        try:
            found = lookup(list(wanted), timeout_ms=OFFSET_LOOKUP_TIMEOUT_MS)
        except KafkaError as exc:
            raise BrokerFailure(f"{exc.__class__.__name__}: {exc}") from exc
        missing = [str(p) for tp, p in wanted.items() if tp not in found]
        if missing:
            raise NoLeaderForPartition(f"no leader known for {', '.join(missing)}")
        return {p: found[tp] for tp, p in wanted.items()}


def _partition(tp: TopicPartition) -> Partition:
    return Partition(tp.topic, tp.partition)


def _topic_partition(partition: Partition) -> TopicPartition:
    return TopicPartition(partition.topic, partition.index)


def _record(r: ConsumerRecord) -> Record:
    """kafka-python's ConsumerRecord as the core's Record."""
    headers = tuple((name, value or b"") for name, value in r.headers or ())
    return Record(
        r.topic, r.partition, r.offset, r.key, r.value, r.timestamp, r.timestamp_type, headers
    )
