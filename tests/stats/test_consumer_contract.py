"""One contract suite for the broker side of the core's ports (`ConsumerClient`, with the
rebalance listener behind it, and `DeadLetterSink`), run against the in-memory broker and
against Kafka (KafkaConsumerClient, RebalanceNotes, KafkaDeadLetterSink on the real broker), as
arroyo runs one suite against its LocalBroker and Kafka backends. What the core relies on is
asserted here once; a double that drifts from Kafka fails next to it."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from stats.consumer.dead_letters import KafkaDeadLetterSink
from stats.consumer.kafka_client import KafkaConsumerClient
from stats.consumer.ports import ConsumerClient, DeadLetterSink
from stats.consumer.records import DeadLetter, Partition, Record
from stats.consumer.testing import InMemoryBroker, InMemoryDeadLetters
from stats.kafka_admin import dead_letter_topic, ensure_topics
from tests.conftest import read_topic

PARTITIONS = 3


class Backend(Protocol):
    topic: str
    patience: float  # seconds a broker may take to do what was asked (join, fetch)

    def produce(self, index: int, value: bytes) -> None: ...
    def member(self) -> ConsumerClient: ...
    def recreate(self) -> None: ...
    def sink(self) -> DeadLetterSink: ...
    def dead_letters(self, expect: int) -> list[tuple[bytes | None, str, str]]: ...


class MemoryBackend:
    patience = 1.0

    def __init__(self) -> None:
        self.broker = InMemoryBroker("contract", partitions=PARTITIONS)
        self.topic = self.broker.topic
        self._sink = InMemoryDeadLetters()

    def produce(self, index: int, value: bytes) -> None:
        self.broker.produce(index, value)

    def member(self) -> ConsumerClient:
        return self.broker.member(max_records=100)

    def recreate(self) -> None:
        for index in range(PARTITIONS):
            self.broker.recreate(index)

    def sink(self) -> DeadLetterSink:
        return self._sink

    def dead_letters(self, expect: int) -> list[tuple[bytes | None, str, str]]:
        return [
            (letter.record.value, letter.reason, f"{letter.record.topic}/"
             f"{letter.record.partition}/{letter.record.offset}")
            for letter in self._sink.sent
        ]  # fmt: skip


class KafkaBackend:
    patience = 60.0  # a rebalance on a loaded 2-core machine

    def __init__(self, servers: list[str]) -> None:
        self.servers = servers
        self.topic = f"contract-{uuid.uuid4().hex[:10]}"
        self.group = f"contract-{uuid.uuid4().hex[:10]}"
        ensure_topics(topic=self.topic, partitions=PARTITIONS, replication_factor=1)
        self._producer = KafkaProducer(bootstrap_servers=servers)
        self.closing: list[Any] = []

    def produce(self, index: int, value: bytes) -> None:
        self._producer.send(self.topic, key=b"k", value=value, partition=index).get(timeout=10)

    def member(self) -> ConsumerClient:
        client = KafkaConsumerClient(
            bootstrap_servers=self.servers, topic=self.topic, group=self.group, max_records=100
        )
        self.closing.append(client)
        return client

    def recreate(self) -> None:
        self._producer.close()  # else its metadata refresh could auto-create the old topic
        recreate_topic(self.servers, self.topic, PARTITIONS)
        self._producer = KafkaProducer(bootstrap_servers=self.servers)

    def sink(self) -> DeadLetterSink:
        sink = KafkaDeadLetterSink(bootstrap_servers=self.servers, topic=self.topic)
        self.closing.append(sink)
        return sink

    def dead_letters(self, expect: int) -> list[tuple[bytes | None, str, str]]:
        records = read_topic(self.servers, dead_letter_topic(self.topic), expect=expect)
        return [
            (
                r.value,
                dict(r.headers)["dlq.reason"].decode(),
                dict(r.headers)["dlq.source"].decode(),
            )
            for r in records
        ]

    def close(self) -> None:
        for thing in self.closing:
            try:
                thing.close()
            except Exception:  # noqa: BLE001, S110 - already closed by the test
                pass
        self._producer.close()


def recreate_topic(servers: list[str], topic: str, partitions: int) -> None:
    """Delete `topic` and have it again under the same name, with a new topic id and leaders.

    The local broker auto-creates topics, so a client still asking for the name may create it
    first (seen under load); a topic with a new id is what the callers need either way. Close
    this process's clients of the topic first, so that its partition count is ours.
    """
    admin = KafkaAdminClient(bootstrap_servers=servers)
    try:
        old = _described(admin, topic)["topic_id"]
        admin.delete_topics([topic])
        deadline = time.monotonic() + 60
        while True:
            try:
                admin.create_topics([NewTopic(topic, partitions, 1)])
            except TopicAlreadyExistsError:
                pass  # the deletion is still under way, or the broker auto-created it
            described = _described(admin, topic)
            leaders = [p["leader_id"] for p in described["partitions"] if p["error_code"] == 0]
            if described["topic_id"] not in (None, old) and len(leaders) == partitions:
                if min(leaders) >= 0:
                    return
            assert time.monotonic() < deadline, f"{topic} was not recreated within 60 s"
            time.sleep(0.2)
    finally:
        admin.close()


def _described(admin: KafkaAdminClient, topic: str) -> dict[str, Any]:
    try:
        [described] = admin.describe_topics([topic])
    except KafkaError:
        return {"topic_id": None, "partitions": []}
    if described.get("error_code") != 0:
        return {"topic_id": None, "partitions": []}
    return dict(described)


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "memory":
        yield MemoryBackend()
        return
    # A lone member once waited past `patience` with no partitions, in full runs only (not
    # reproduced alone): keep the group coordinator's and the metadata's story for the report.
    caplog = request.getfixturevalue("caplog")
    caplog.set_level(logging.DEBUG, logger="kafka.coordinator")
    caplog.set_level(logging.DEBUG, logger="kafka.cluster")
    kafka = KafkaBackend(request.getfixturevalue("kafka_servers"))
    yield kafka
    kafka.close()


def poll_until(
    backend: Backend,
    members: list[ConsumerClient],
    done: Callable[[], bool],
    seen: dict[Partition, list[Record]] | None = None,
    notes: list[tuple[int, frozenset[Partition], frozenset[Partition]]] | None = None,
) -> None:
    """Poll every member until `done()`, collecting records and rebalance notes. Members poll
    at the same time, each in its own thread, as separate processes would: a member waiting in
    a rebalance must not hold the others back."""
    deadline = time.monotonic() + backend.patience
    with ThreadPoolExecutor(max_workers=len(members)) as pool:
        while True:
            _poll_round(pool, members, seen, notes)
            if done():
                return
            assert time.monotonic() < deadline, (
                f"the broker did not get there in {backend.patience}s: assignments"
                f" {[sorted(p.index for p in m.assignment()) for m in members]}"
            )


def _poll_round(
    pool: ThreadPoolExecutor,
    members: list[ConsumerClient],
    seen: dict[Partition, list[Record]] | None,
    notes: list[tuple[int, frozenset[Partition], frozenset[Partition]]] | None,
) -> None:
    for i, polled in enumerate(pool.map(lambda m: m.poll(100), members)):
        if notes is not None and (polled.assigned or polled.revoked):
            notes.append((i, polled.assigned, polled.revoked))
        for partition, records in polled.records.items():
            if seen is not None:
                seen.setdefault(partition, []).extend(records)


def all_partitions(backend: Backend) -> set[Partition]:
    return {Partition(backend.topic, i) for i in range(PARTITIONS)}


def test_a_lone_member_owns_every_partition_and_reads_each_in_offset_order(
    backend: Backend,
) -> None:
    for index in range(PARTITIONS):
        for n in range(4):
            backend.produce(index, f"{index}-{n}".encode())
    member = backend.member()
    seen: dict[Partition, list[Record]] = {}
    notes: list[tuple[int, frozenset[Partition], frozenset[Partition]]] = []
    poll_until(
        backend, [member], lambda: sum(map(len, seen.values())) >= 12, seen=seen, notes=notes
    )
    assert member.assignment() == all_partitions(backend)
    assert notes and notes[0][1] == all_partitions(backend)  # the listener's assignment
    for partition, records in seen.items():
        assert [r.offset for r in records] == [0, 1, 2, 3]
        assert [r.value for r in records] == [f"{partition.index}-{n}".encode() for n in range(4)]
        assert {(r.topic, r.partition) for r in records} == {(partition.topic, partition.index)}
    assert member.beginning_offsets(sorted(all_partitions(backend))) == dict.fromkeys(
        all_partitions(backend), 0
    )
    assert member.end_offsets(sorted(all_partitions(backend))) == dict.fromkeys(
        all_partitions(backend), 4
    )
    assert {p: member.highwater(p) for p in all_partitions(backend)} == dict.fromkeys(
        all_partitions(backend), 4
    )


def test_seek_moves_the_next_fetch_and_commit_is_where_the_next_member_starts(
    backend: Backend,
) -> None:
    p0 = Partition(backend.topic, 0)
    for n in range(6):
        backend.produce(0, f"r{n}".encode())
    first = backend.member()
    seen: dict[Partition, list[Record]] = {}
    poll_until(backend, [first], lambda: len(seen.get(p0, [])) >= 6, seen=seen)
    first.seek(p0, 2)
    again: dict[Partition, list[Record]] = {}
    poll_until(backend, [first], lambda: len(again.get(p0, [])) >= 4, seen=again)
    assert [r.offset for r in again[p0]] == [2, 3, 4, 5]
    first.seek(Partition(backend.topic, 99), 0)  # not owned: ignored, not an error
    first.commit({p0: 5})
    first.close()

    second = backend.member()
    resumed: dict[Partition, list[Record]] = {}
    poll_until(backend, [second], lambda: bool(resumed.get(p0)), seen=resumed)
    assert [r.offset for r in resumed[p0]] == [5]


def test_members_share_the_partitions_and_a_closed_member_leaves_at_once(
    backend: Backend,
) -> None:
    first = backend.member()
    poll_until(backend, [first], lambda: first.assignment() == all_partitions(backend))
    second = backend.member()
    notes: list[tuple[int, frozenset[Partition], frozenset[Partition]]] = []

    def shared() -> bool:  # eventually: during the rebalance a member may still report its old set
        one, two = first.assignment(), second.assignment()
        return bool(one) and bool(two) and not one & two and one | two == all_partitions(backend)

    poll_until(backend, [first, second], shared, notes=notes)
    assert any(i == 0 and revoked for i, _, revoked in notes)  # the first heard of the change

    started = time.monotonic()
    second.close()  # leaves the group: no session timeout to wait out
    poll_until(backend, [first], lambda: first.assignment() == all_partitions(backend))
    assert time.monotonic() - started < 15


def test_a_partitions_identity_is_stable_and_changes_when_the_topic_is_recreated(
    backend: Backend,
) -> None:
    member = backend.member()
    poll_until(backend, [member], lambda: member.assignment() == all_partitions(backend))
    before = member.identities(sorted(all_partitions(backend)))
    assert all(before.values())
    assert member.identities(sorted(all_partitions(backend))) == before
    member.close()

    backend.recreate()
    fresh = backend.member()
    poll_until(backend, [fresh], lambda: fresh.assignment() == all_partitions(backend))
    after = fresh.identities(sorted(all_partitions(backend)))
    assert all(after.values())
    assert not set(after.values()) & set(before.values())


def test_the_dead_letter_sink_keeps_each_record_with_its_reason_and_source(
    backend: Backend,
) -> None:
    letters = [
        DeadLetter(Record(backend.topic, 1, 7, b"k", b"{not json"), "not valid JSON"),
        DeadLetter(Record(backend.topic, 2, 0, b"k", None), "record has no value"),
    ]
    sink = backend.sink()
    sink.send(letters)
    kept = backend.dead_letters(expect=2)
    assert sorted(kept, key=lambda k: k[2]) == [
        (b"{not json", "not valid JSON", f"{backend.topic}/1/7"),
        (None, "record has no value", f"{backend.topic}/2/0"),
    ]
    sink.close()


def test_a_paused_partition_is_not_fetched_while_the_others_are_and_the_count_is_known(
    backend: Backend,
) -> None:
    """What the dead-letter breaker (pause) and completeness (topic_partitions) rely on."""
    member = backend.member()
    poll_until(backend, [member], lambda: member.assignment() == all_partitions(backend))
    assert member.topic_partitions() == PARTITIONS
    p0, p1 = Partition(backend.topic, 0), Partition(backend.topic, 1)
    member.pause([p0])
    for n in range(3):
        backend.produce(0, f"held-{n}".encode())
        backend.produce(1, f"flows-{n}".encode())
    seen: dict[Partition, list[Record]] = {}
    poll_until(backend, [member], lambda: len(seen.get(p1, [])) >= 3, seen=seen)
    for _ in range(5):  # a few more rounds: partition 0 stays held
        poll_until(backend, [member], lambda: True, seen=seen)
    assert p0 not in seen
    assert [r.value for r in seen[p1]] == [f"flows-{n}".encode() for n in range(3)]
