"""Kafka adapter for administration and the read side: create topics; read offsets, retained
records and the consumer group's members (for the pipeline view).

Only the Kafka adapters import `kafka`: this one, kafka_topic_configs, impressions.publisher
and, in stats.consumer, kafka_client, rebalance_listener and dead_letters.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from django.conf import settings
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from stats.retention import topic_configs

logger = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """The broker did not answer within the configured bound."""


def dead_letter_topic(topic: str) -> str:
    """Where records of `topic` that break the contract go."""
    return f"{topic}.dlq"


def _timeout_ms() -> int:
    return int(settings.KAFKA_ADMIN_TIMEOUT_SECONDS * 1000)


def short_lived_admin(client_id: str) -> KafkaAdminClient:
    """An admin client bounded by KAFKA_ADMIN_TIMEOUT_SECONDS for one task; the caller closes it.
    Raises BrokerUnavailable when the broker does not answer."""
    try:
        return KafkaAdminClient(
            bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
            client_id=client_id,
            bootstrap_timeout_ms=_timeout_ms(),
            request_timeout_ms=_timeout_ms() * 3,
        )
    except KafkaError as exc:
        raise BrokerUnavailable(_unreachable(exc)) from exc


def ensure_topics(
    *, topic: str, partitions: int, replication_factor: int, create: bool = True
) -> list[str]:
    """Create `topic` and its dead-letter topic when missing; return the names missing before.

    With `create=False` only report them. New topics get their retention from settings
    (stats.retention.topic_configs); an existing topic is left as it is (its partition count
    and configs are not changed; kafka_topic_configs.topic_config_drift reports them).
    Raises BrokerUnavailable when the broker does not answer.
    """
    wanted = [topic, dead_letter_topic(topic)]
    admin = short_lived_admin("stats-topic-admin")
    try:
        missing = [name for name in wanted if name not in set(admin.list_topics())]
        if not create:
            return missing
        created = []
        for name in missing:
            try:
                configs = topic_configs(dead_letters=name != topic)
                admin.create_topics(
                    [
                        NewTopic(
                            name,
                            num_partitions=partitions,
                            replication_factor=replication_factor,
                            topic_configs=configs,
                        )
                    ]
                )
                created.append(name)
                logger.info("created topic %s with %d partitions, %s", name, partitions, configs)
            except TopicAlreadyExistsError:
                pass  # another process created it between our list and our create
        _wait_until_led(admin, created, partitions)
        return created
    except KafkaError as exc:
        raise BrokerUnavailable(_unreachable(exc)) from exc
    finally:
        admin.close()


def _wait_until_led(admin: KafkaAdminClient, topics: list[str], partitions: int) -> None:
    """Until every partition of the just-created `topics` has a leader (at most the admin
    timeout). A consumer that subscribes before that can be given no partitions, and kafka-python
    asks for the topic's metadata again only minutes later (seen in tests and the benchmark)."""
    deadline = time.monotonic() + _timeout_ms() / 1000
    while topics:
        described = admin.describe_topics(topics)
        led = {
            t.get("name")
            for t in described
            if t.get("error_code") == 0
            and len(t.get("partitions") or []) == partitions
            and all(p.get("leader_id") is not None and p["leader_id"] >= 0 for p in t["partitions"])
        }
        if led >= set(topics):
            return
        if time.monotonic() > deadline:
            logger.warning("topics %s: not every partition has a leader yet", topics)
            return
        time.sleep(0.1)


class _BrokerClients:
    """Process-wide clients for the read side, kept between requests (connecting cost about
    100 ms a request): a consumer without a group for offsets, an admin client for the group's
    members. Rebuilt after an error, a fork, or a change of KAFKA_BOOTSTRAP_SERVERS."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reader: KafkaConsumer | None = None
        self.admin: KafkaAdminClient | None = None
        self.key: tuple[int, tuple[str, ...]] = (0, ())

    def _check_key(self) -> list[str]:
        key = (os.getpid(), tuple(settings.KAFKA_BOOTSTRAP_SERVERS))
        if self.key != key:
            self.drop()
            self.key = key
        return list(key[1])

    def offsets_reader(self) -> KafkaConsumer:
        servers = self._check_key()
        if self.reader is None:
            self.reader = KafkaConsumer(
                bootstrap_servers=servers,
                group_id=None,
                enable_auto_commit=False,
                client_id="stats-offset-reader",
                bootstrap_timeout_ms=_timeout_ms(),
                request_timeout_ms=_timeout_ms(),
            )
        return self.reader

    def admin_client(self) -> KafkaAdminClient:
        servers = self._check_key()
        if self.admin is None:
            self.admin = KafkaAdminClient(
                bootstrap_servers=servers,
                client_id="stats-group-reader",
                bootstrap_timeout_ms=_timeout_ms(),
                request_timeout_ms=_timeout_ms(),
            )
        return self.admin

    def drop(self) -> None:
        """Forget the clients (closing them only in the process that made them)."""
        if self.key[0] == os.getpid():
            for client in (self.reader, self.admin):
                if client is not None:
                    client.close()
        self.reader = self.admin = None


_clients = _BrokerClients()


# A topic found missing is not asked for again for this long: kafka-python answers a missing
# topic with a full metadata refresh (about 100 ms), which every pipeline request would pay.
ABSENT_TOPIC_TTL_SECONDS = 10.0
_absent_until: dict[str, float] = {}


def _offsets(topic: str, *, beginning: bool = False) -> dict[int, int]:
    if _absent_until.get(topic, 0.0) > time.monotonic():
        return {}
    reader = _clients.offsets_reader()
    partitions = reader.partitions_for_topic(topic) or set()
    if not partitions:
        _absent_until[topic] = time.monotonic() + ABSENT_TOPIC_TTL_SECONDS
        return {}
    wanted = [TopicPartition(topic, p) for p in partitions]
    lookup = reader.beginning_offsets if beginning else reader.end_offsets
    found = lookup(wanted, timeout_ms=_timeout_ms())
    try:
        return {tp.partition: found[tp] for tp in wanted}
    except KeyError as missing:  # kafka-python leaves out partitions that have no leader
        raise BrokerUnavailable(f"no leader known for {missing} of {topic}") from None


def end_offsets(topic: str) -> dict[int, int]:
    """Partition -> end offset (the next record's offset); {} when the topic is absent.

    Raises BrokerUnavailable when the broker does not answer within KAFKA_ADMIN_TIMEOUT_SECONDS.
    """
    with _clients.lock:
        try:
            return _offsets(topic)
        except KafkaError as exc:
            _clients.drop()
            raise BrokerUnavailable(_unreachable(exc)) from exc


def retained_records(topic: str) -> int:
    """How many records `topic` holds now (end minus first retained offset, all partitions);
    0 when it does not exist. Raises BrokerUnavailable."""
    with _clients.lock:
        try:
            ends = _offsets(topic)
            firsts = _offsets(topic, beginning=True) if ends else {}
        except KafkaError as exc:
            _clients.drop()
            raise BrokerUnavailable(_unreachable(exc)) from exc
    return sum(end - firsts.get(partition, 0) for partition, end in ends.items())


def group_members(group: str, topic: str) -> list[dict[str, Any]]:
    """The group's current members: client id, host and the partitions of `topic` each owns.
    Raises BrokerUnavailable."""
    with _clients.lock:
        try:
            described = _clients.admin_client().describe_groups([group]).get(group, {})
        except KafkaError as exc:
            _clients.drop()
            raise BrokerUnavailable(_unreachable(exc)) from exc
    members = []
    for member in described.get("members") or []:
        assignment = member.get("member_assignment") or {}
        owned = [
            partition
            for assigned in (assignment.get("assigned_partitions") or [])
            if isinstance(assigned, dict) and assigned.get("topic") == topic
            for partition in assigned.get("partitions") or []
        ]
        members.append(
            {
                "client_id": member.get("client_id", ""),
                "host": member.get("client_host", ""),
                "partitions": sorted(owned),
            }
        )
    return sorted(members, key=lambda m: (m["partitions"][:1] or [-1], m["client_id"]))


def _unreachable(exc: Exception) -> str:
    servers = ",".join(settings.KAFKA_BOOTSTRAP_SERVERS)
    return (
        f"Kafka at {servers} did not answer ({exc.__class__.__name__}: {exc}); start it with "
        f"`scripts/kafka-local start` or set KAFKA_BOOTSTRAP_SERVERS"
    )


def partition_replicas(topic: str) -> dict[int, dict[str, Any]]:
    """Partition -> its `leader` (node id; None when it has none), `replicas` and
    `in_sync_replicas` (node ids, as the controller last recorded them) and `under_replicated`
    (fewer replicas in sync than assigned); {} when the topic is absent. Raises BrokerUnavailable.

    A SIGKILLed node stays in the ISRs until the controller fences it (broker.session.timeout.ms),
    and stays listed while a controller quorum is lacking: the ISR is what the cluster enforces.
    """
    with _clients.lock:
        try:
            described = _clients.admin_client().describe_topics([topic])
        except KafkaError as exc:
            _clients.drop()
            raise BrokerUnavailable(_unreachable(exc)) from exc
    found: dict[int, dict[str, Any]] = {}
    for described_topic in described:
        if described_topic.get("name") != topic:
            continue
        for partition in described_topic.get("partitions") or []:
            replicas = sorted(partition.get("replica_nodes") or [])
            in_sync = sorted(partition.get("isr_nodes") or [])
            leader = partition.get("leader_id")
            found[partition["partition_index"]] = {
                "leader": leader if leader is not None and leader >= 0 else None,
                "replicas": replicas,
                "in_sync_replicas": in_sync,
                "under_replicated": len(in_sync) < len(replicas),
            }
    return found
