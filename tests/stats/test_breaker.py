"""The dead-letter breaker: its pure rule, the core holding a partition on the in-memory broker,
and its state in the database as `open_breakers` shows it."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from impressions.contract import AdImpressionEvent, encode_event
from stats.consumer import ConsumerConfig, ImpressionConsumer
from stats.consumer.breaker import BreakerLimit, DeadLetterBreaker, crossing
from stats.consumer.build import DatabaseBreakerReporter
from stats.consumer.records import Partition
from stats.consumer.testing import InMemoryBroker, InMemoryDeadLetters, InMemoryStore
from stats.selectors import open_breakers
from tests.stats.test_consumer_core import POISON, T0

LIMIT = BreakerLimit(share=0.5, window=10)  # open when more than 5 of the last 10 are invalid


class Reports:
    """A BreakerReporter that keeps what it was told."""

    def __init__(self) -> None:
        self.open: dict[Partition, tuple[int, str]] = {}

    def opened(self, partition: Partition, held_at: int, reason: str) -> None:
        self.open[partition] = (held_at, reason)

    def cleared(self, partitions: Any) -> None:
        for partition in partitions:
            self.open.pop(partition, None)


def valid(broker: InMemoryBroker, index: int, n: int) -> None:
    for _ in range(n):
        event = AdImpressionEvent(1, uuid.uuid4(), f"ad-{index}", "u", T0)
        broker.produce(index, encode_event(event))


def invalid(broker: InMemoryBroker, index: int, n: int) -> None:
    for _ in range(n):
        broker.produce(index, POISON)


def consumer(
    broker: InMemoryBroker, store: InMemoryStore, sink: InMemoryDeadLetters, **limit: Any
) -> tuple[ImpressionConsumer, Reports]:
    reports = Reports()
    config = ConsumerConfig(topic=broker.topic, group="g", batch_size=4, retry_pause=0.0)
    loop = ImpressionConsumer(
        config,
        client=broker.member(max_records=4),
        recorder=store,
        ledger=store.read_ledger,
        dead_letters=sink,
        breaker=DeadLetterBreaker(BreakerLimit(**({"share": 0.5, "window": 10} | limit)), reports),
        clock=broker.clock,
    )
    return loop, reports


def test_the_rule_counts_the_last_window_records_not_a_ratio_of_few() -> None:
    assert crossing([], [True] * 5, LIMIT) is None  # 5 bad records alone: not more than 5 of 10
    assert crossing([], [True] * 6, LIMIT) == (5, 6)  # the 6th opens it
    assert crossing([True] * 5, [False] * 5 + [True], LIMIT) is None  # the oldest bad one left
    assert crossing([False] * 5 + [True] * 5, [True], LIMIT) == (0, 6)
    assert crossing([], ([True] * 5 + [False] * 5) * 20, LIMIT) is None  # half, never more
    assert crossing([], [True] * 1000, BreakerLimit(share=1, window=10)) is None  # 1 = off
    with pytest.raises(ValueError):
        BreakerLimit(share=0, window=10)


def test_a_run_of_invalid_records_opens_the_breaker_and_nothing_moves_past_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker, store, sink = InMemoryBroker("t", partitions=2), InMemoryStore(), InMemoryDeadLetters()
    valid(broker, 0, 4)
    invalid(broker, 0, 30)  # a bad deploy: everything after offset 4 is unusable
    valid(broker, 1, 12)
    loop, reports = consumer(broker, store, sink)
    with caplog.at_level(logging.ERROR, logger="stats.consumer.breaker"):
        for _ in range(60):
            loop.step()

    p0 = Partition("t", 0)
    held_at, reason = reports.open[p0]
    assert "invalid" in reason and "not valid JSON" in reason
    assert store.ledger[0] == held_at  # the ledger stops where the partition is held
    assert held_at <= 4 + 5  # at most 5 invalid records got past before it opened
    assert len(sink.sent) == held_at - 4  # only those were dead-lettered; the rest wait
    assert all(letter.record.offset < held_at for letter in sink.sent)
    assert store.ledger[1] == 12  # the other partition is not held up
    assert p0 in broker.members[0].paused
    assert "dead-letter breaker OPEN for t[0]" in caplog.text and "restart" in caplog.text

    loop.close()  # a stopped consumer holds nothing
    assert reports.open == {}

    # After the fix (here: the operator decided they really are bad, and turned it off), a new
    # consumer dead-letters the rest from the ledger on, each once.
    again, _ = consumer(broker, store, sink, share=1)
    for _ in range(60):
        again.step()
    assert store.ledger[0] == 34
    assert sorted(letter.record.offset for letter in sink.sent) == list(range(4, 34))


def test_a_few_invalid_records_among_valid_ones_are_dead_lettered_as_before() -> None:
    broker, store, sink = InMemoryBroker("t", partitions=1), InMemoryStore(), InMemoryDeadLetters()
    for _ in range(5):
        valid(broker, 0, 3)
        invalid(broker, 0, 2)
    loop, reports = consumer(broker, store, sink)
    for _ in range(40):
        loop.step()
    assert reports.open == {}
    assert store.ledger == {0: 25}
    assert len(sink.sent) == 10


def test_a_rebalance_clears_the_state_of_partitions_that_change_owner() -> None:
    broker, store, sink = InMemoryBroker("t", partitions=2), InMemoryStore(), InMemoryDeadLetters()
    invalid(broker, 0, 20)
    loop, reports = consumer(broker, store, sink)
    for _ in range(20):
        loop.step()
    assert Partition("t", 0) in reports.open
    other, _ = consumer(broker, InMemoryStore(), InMemoryDeadLetters())
    loop.step()  # the rebalance: the new owner judges afresh
    assert reports.open == {}
    other.close()
    loop.close()


def test_the_open_state_is_kept_in_the_database_for_readiness(db: Any) -> None:
    reporter = DatabaseBreakerReporter(group="g")
    assert open_breakers(consumer_group="g", topic="t") == []
    reporter.opened(Partition("t", 2), 41, "6 of the last 10 records were invalid")
    reporter.opened(Partition("other", 0), 1, "not this topic")
    reasons = open_breakers(consumer_group="g", topic="t")
    assert len(reasons) == 1
    assert reasons[0].startswith("t[2] held at offset 41 since ")
    assert reasons[0].endswith("6 of the last 10 records were invalid")
    assert open_breakers(consumer_group="another-group", topic="t") == []
    reporter.cleared([Partition("t", 2)])
    assert open_breakers(consumer_group="g", topic="t") == []
