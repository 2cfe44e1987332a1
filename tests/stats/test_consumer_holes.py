"""The holes a review of the consumer core found (issue 11, part 6), each reproduced on the
in-memory broker: a topic recreated before a restart, records that expire during an outage,
decoding that depended on the clock, and dead letters re-sent by an eager rebalance."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from impressions.contract import AdImpressionEvent, encode_event
from stats.consumer import LedgerOfAnotherTopic
from stats.consumer.records import CREATE_TIME, LOG_APPEND_TIME
from stats.consumer.testing import InMemoryBroker, InMemoryDeadLetters
from tests.stats.core_harness import POISON, T0, Store, member, produce, run_until_exit


def test_a_topic_recreated_before_a_restart_is_refused_not_skipped(
    broker: InMemoryBroker, store: Store, sink: InMemoryDeadLetters
) -> None:
    produce(broker, 10)
    assert run_until_exit(member(broker, store, sink)) == [0]
    broker.recreate(0)  # deleted and recreated while no consumer ran...
    fresh = [AdImpressionEvent(1, uuid.uuid4(), "ad-0", "u", T0) for _ in range(15)]
    for event in fresh:  # ...and producers wrote more records than the ledger's offset 10
        broker.produce(0, encode_event(event))

    with pytest.raises(LedgerOfAnotherTopic, match=r"t\[0\] is not the partition the ledger"):
        member(broker, store, sink).run()
    assert store.ledger[0] == 10
    assert not {e.event_id for e in fresh} & set(store.events)


def test_a_ledger_without_an_identity_adopts_the_first_it_sees_and_then_holds_to_it(
    broker: InMemoryBroker, store: Store, sink: InMemoryDeadLetters
) -> None:
    produce(broker, 4)
    store.ledger = {0: 2, 1: 2, 2: 2}  # rows written before identities were stored
    assert run_until_exit(member(broker, store, sink)) == [0]  # they keep working...
    assert store.ledger == {0: 4, 1: 4, 2: 4}
    assert store.identities == {p.index: log.identity for p, log in broker.logs.items()}

    broker.recreate(1)  # ...and once adopted, a recreated partition is refused
    for _ in range(9):
        broker.produce(1, POISON)
    with pytest.raises(LedgerOfAnotherTopic):
        member(broker, store, sink).run()
    assert store.ledger == {0: 4, 1: 4, 2: 4} and not sink.sent


def test_records_that_expire_during_a_database_outage_are_reported(
    broker: InMemoryBroker,
    store: Store,
    sink: InMemoryDeadLetters,
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = member(broker, store, sink)
    produce(broker, 10)
    while store.ledger != {0: 10, 1: 10, 2: 10}:
        loop.step()
    store.failures = 10**6  # the database goes away...
    produce(broker, 20)  # ...while offsets 10..29 arrive...
    for _ in range(5):
        loop.step()
    broker.expire(0, before=25)  # ...and 10..24 of partition 0 expire before it is back
    store.failures = 0

    with caplog.at_level(logging.ERROR):
        assert run_until_exit(loop) == [0]
    assert "t[0]: offsets 10..24 expired" in caplog.text
    assert loop.totals.expired_unrecorded == 15
    assert store.expired == {0: 15}  # persisted with the ledger, for the pipeline API
    assert store.ledger == {0: 30, 1: 30, 2: 30}


@pytest.mark.parametrize(
    ("timestamp", "timestamp_type"),
    [(None, CREATE_TIME), (int(T0.timestamp() * 1000), LOG_APPEND_TIME)],
    ids=["no-timestamp", "log-append-time"],
)
def test_a_dead_lettered_record_is_not_counted_on_a_later_retry(
    broker: InMemoryBroker,
    store: Store,
    sink: InMemoryDeadLetters,
    monkeypatch: pytest.MonkeyPatch,
    timestamp: int | None,
    timestamp_type: int,
) -> None:
    now = [T0]
    monkeypatch.setattr(timezone, "now", lambda: now[0])
    future = AdImpressionEvent(1, uuid.uuid4(), "ad-0", "u", T0 + timedelta(minutes=10))
    record = broker.produce(
        0, encode_event(future), timestamp=timestamp, timestamp_type=timestamp_type
    )
    loop = member(broker, store, sink)
    store.failures = 1  # the first attempt fails after the dead letters were sent
    while store.failures:
        loop.step()
    now[0] = T0 + timedelta(minutes=6)  # the retry runs later: the event is no longer "future"

    assert run_until_exit(loop) == [0]
    dead_lettered = record in [letter.record for letter in sink.sent]
    counted = future.event_id in store.events
    assert dead_lettered != counted  # one fate, whenever it is decoded


def test_an_eager_rebalance_that_keeps_the_partition_does_not_resend_dead_letters(
    broker: InMemoryBroker, store: Store, sink: InMemoryDeadLetters
) -> None:
    first = member(broker, store, sink)
    poison = broker.produce(0, POISON)
    produce(broker, 3)
    store.failures = 1
    while not sink.sent:
        first.step()  # the poison is acked, then the database fails: a retry is due
    broker.member().close()  # a member joins and leaves: every partition revoked, then back

    assert run_until_exit(first) == [0]
    assert [letter.record for letter in sink.sent] == [poison]  # the same owner: not again
    assert store.ledger == {0: 4, 1: 3, 2: 3}
