"""Which polled records the loop keeps: nothing below the ledger, and no silent jump back."""

from __future__ import annotations

from collections import namedtuple

import pytest
from kafka.structs import TopicPartition

from stats.consumer import ConsumerConfig, ImpressionConsumer, LedgerAheadOfTopic

Record = namedtuple("Record", "topic partition offset")
TP = TopicPartition("t", 0)


@pytest.fixture
def loop() -> ImpressionConsumer:
    consumer = ImpressionConsumer(
        ConsumerConfig(bootstrap_servers=["unused:9092"], topic="t", group="g")
    )
    consumer._next[TP] = 10  # the ledger says: next is offset 10
    return consumer


def test_records_of_a_partition_being_seeked_or_not_owned_are_dropped(
    loop: ImpressionConsumer,
) -> None:
    other = TopicPartition("t", 1)
    polled = {TP: [Record("t", 0, 10)], other: [Record("t", 1, 0)]}
    assert loop._fresh_records(polled, skip={TP}) == {}


def test_records_from_the_ledger_on_are_kept(loop: ImpressionConsumer) -> None:
    records = [Record("t", 0, offset) for offset in (10, 11, 13)]  # a gap is fine (markers)
    assert loop._fresh_records({TP: records}, skip=set()) == {TP: records}


def test_a_jump_below_the_ledger_stops_the_consumer(loop: ImpressionConsumer) -> None:
    with pytest.raises(
        LedgerAheadOfTopic, match=r"t\[0\] jumped back to offset 0 below the ledger's 10"
    ):
        loop._fresh_records({TP: [Record("t", 0, 0), Record("t", 0, 1)]}, skip=set())
