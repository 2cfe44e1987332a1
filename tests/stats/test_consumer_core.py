"""The consumer core against the in-memory broker: rebalances, rewinds, jumps back, idleness and
dead letters, in milliseconds. Each test runs twice: with the in-memory store and with the REAL
recorder on the test database (the `store` fixture). The same semantics run against Kafka in
test_consumer_failures.py and test_consumer_safeguards.py."""

from __future__ import annotations

import logging
import uuid

import pytest

from impressions.contract import AdImpressionEvent, encode_event
from impressions.models import Impression
from stats.consumer import ImpressionConsumer, LedgerAheadOfTopic
from stats.consumer.records import Record
from stats.consumer.testing import InMemoryBroker, InMemoryDeadLetters
from stats.models import PartitionOffset
from stats.offset_update import OffsetUpdate
from stats.selectors import stored_offsets
from tests.stats.core_harness import (
    POISON,
    T0,
    DatabaseStore,
    Store,
    member,
    produce,
    run_until_exit,
)
from tests.stats.topic_data import database_refuses


def test_every_event_is_recorded_once_and_the_ledger_reaches_the_end(
    broker: InMemoryBroker, store: Store, sink: InMemoryDeadLetters
) -> None:
    events = produce(broker, 40)
    poison = broker.produce(1, POISON)
    assert run_until_exit(member(broker, store, sink, batch_size=25)) == [0]
    assert set(store.events) == {e.event_id for e in events}
    assert store.duplicates == 0
    assert store.ledger == {0: 40, 1: 41, 2: 40}
    assert [letter.record for letter in sink.sent] == [poison]
    assert sink.closed


def test_a_rebalance_in_the_middle_of_a_batch_loses_and_doubles_nothing(
    broker: InMemoryBroker, store: Store, sink: InMemoryDeadLetters
) -> None:
    first = member(broker, store, sink)
    events = produce(broker, 30)
    second: list[ImpressionConsumer] = []
    # A second member joins while the first records its batch of all three partitions: the
    # first's commit to the broker then fails, and both members see the group rebalance.
    store.while_recording = lambda: second.append(member(broker, store, sink))
    while not second:
        assert first.step() is None
    events += produce(broker, 30)  # 30 more per partition, after the rebalance

    assert run_until_exit(first, second[0]) == [0, 0]
    assert set(store.events) == {e.event_id for e in events}
    assert store.duplicates == 0  # records fetched before the seek to the ledger were dropped
    assert store.ledger == {0: 60, 1: 60, 2: 60}
    assert first.totals.recorded == 90 + 60  # its batch, then its two partitions' new events
    assert second[0].totals.recorded == 30  # partition 1's new events


def test_a_database_failure_rewinds_and_the_retry_records_the_batch_once(
    broker: InMemoryBroker, store: Store, sink: InMemoryDeadLetters
) -> None:
    loop = member(broker, store, sink, batch_size=10)
    events = produce(broker, 20)
    store.failures = 3  # three batches in a row fail before any commits
    assert run_until_exit(loop) == [0]
    assert set(store.events) == {e.event_id for e in events}  # nothing skipped past
    assert store.duplicates == 0
    assert store.ledger == {0: 20, 1: 20, 2: 20}


@pytest.mark.parametrize("failing", ["events", "ledger"])
def test_a_crash_in_the_middle_of_the_transaction_keeps_nothing_of_the_batch(
    broker: InMemoryBroker, store: Store, sink: InMemoryDeadLetters, failing: str
) -> None:
    """The central invariant: the events and the ledger are written in ONE transaction.
    Recording them in two (in either order) fails here, on the real recorder."""
    events = produce(broker, 10)
    crashed = member(broker, store, sink)
    store.fail_while_writing = failing  # the database goes away while writing these...
    while store.fail_while_writing is not None:
        assert crashed.step() is None
    broker.leave(broker.members[0])  # ...and the process dies before it retries (kill -9)
    assert store.events == {} and store.ledger == {}  # nothing of the batch was kept

    assert run_until_exit(member(broker, store, sink)) == [0]  # a replacement, from the ledger
    assert set(store.events) == {e.event_id for e in events}
    assert store.duplicates == 0
    assert store.ledger == {0: 10, 1: 10, 2: 10}


def test_dead_letters_are_sent_before_the_transaction_and_once_across_retries(
    broker: InMemoryBroker, store: Store, sink: InMemoryDeadLetters
) -> None:
    loop = member(broker, store, sink)
    good = produce(broker, 5)
    poison = [broker.produce(0, POISON), broker.produce(2, None)]
    sink.failures = 1  # the dead-letter topic does not acknowledge: nothing may be recorded
    while not loop.totals.batches and not store.events and sink.failures:
        loop.step()
    assert store.events == {} and store.ledger == {}
    store.failures = 2  # then the database fails twice: the batch comes back twice

    assert run_until_exit(loop) == [0]
    assert [letter.record for letter in sink.sent] == poison  # acked once, not once per retry
    assert [letter.reason.split(":")[0] for letter in sink.sent] == [
        "not valid JSON",
        "record has no value",
    ]
    assert set(store.events) == {e.event_id for e in good}
    assert store.ledger == {0: 6, 1: 5, 2: 6}


def test_a_partition_that_moves_has_its_dead_letters_sent_again_by_the_new_owner(
    broker: InMemoryBroker, store: Store, sink: InMemoryDeadLetters
) -> None:
    first = member(broker, store, sink)
    poison = broker.produce(1, POISON)
    produce(broker, 3)
    store.failures = 1
    while not sink.sent:
        first.step()  # the poison is acked, then the database fails: a retry is due
    assert first.positions.not_yet_dead_lettered([poison]) == []
    second = member(broker, store, sink)  # partition 1 moves to the second member

    assert run_until_exit(first, second) == [0, 0]
    # Its first owner forgot them once the ledger passed them: nothing left behind.
    assert first.positions.not_yet_dead_lettered([poison]) == [poison]
    # Dead letters are at-least-once across members: the new owner sends it again.
    assert [letter.record for letter in sink.sent] == [poison, poison]
    assert store.ledger == {0: 3, 1: 4, 2: 3}


def test_records_fetched_before_the_seek_to_the_ledger_are_dropped(
    broker: InMemoryBroker, store: Store, sink: InMemoryDeadLetters
) -> None:
    earlier = produce(broker, 5)
    store.record(  # a previous run recorded these, but its commit to the broker was lost
        events=earlier,
        offsets=[OffsetUpdate("g", "t", index, 5) for index in range(3)],
    )
    later = produce(broker, 5)
    assert run_until_exit(member(broker, store, sink)) == [0]
    assert store.duplicates == 0  # resumed at the ledger, not at the broker's offset 0
    assert set(store.events) == {e.event_id for e in earlier + later}
    assert broker.committed == {p: 10 for p in broker.logs}


def test_a_log_that_jumps_back_below_the_ledger_stops_the_consumer(
    broker: InMemoryBroker, store: Store, sink: InMemoryDeadLetters
) -> None:
    loop = member(broker, store, sink)
    produce(broker, 10)
    while store.ledger.get(0) != 10:
        loop.step()
    broker.recreate(0)  # the topic was recreated under the running consumer
    fresh = AdImpressionEvent(1, uuid.uuid4(), "ad-0", "u", T0)
    broker.produce(0, encode_event(fresh))
    with pytest.raises(LedgerAheadOfTopic, match=r"t\[0\] jumped back to offset 0 below .* 10"):
        for _ in range(100):
            loop.step()
    assert store.ledger[0] == 10 and fresh.event_id not in store.events


def test_a_ledger_ahead_of_the_topic_stops_the_consumer_before_it_reads(
    broker: InMemoryBroker, store: Store, sink: InMemoryDeadLetters
) -> None:
    store.ledger = {0: 50}
    produce(broker, 3)
    with pytest.raises(LedgerAheadOfTopic, match=r"up to offset 50 but the topic ends at 3"):
        member(broker, store, sink).run()
    assert store.ledger == {0: 50} and store.events == {}
    assert sink.closed  # run() closed what it was given


def test_idle_exit_waits_until_caught_up(
    broker: InMemoryBroker, store: Store, sink: InMemoryDeadLetters
) -> None:
    loop = member(broker, store, sink, exit_when_idle=1.0)
    produce(broker, 5)
    store.ledger_failures = 10**6  # the ledger cannot be read: no partition is seeked
    for _ in range(200):  # 100 s of empty polls, far past exit_when_idle
        assert loop.step() is None
    assert broker.clock.now > 50 and store.events == {}

    store.ledger_failures = 0
    while store.ledger != {0: 5, 1: 5, 2: 5}:
        assert loop.step() is None
    broker.offsets_unavailable = True  # caught up, but the broker cannot confirm it
    for _ in range(200):
        assert loop.step() is None
    broker.offsets_unavailable = False
    assert run_until_exit(loop) == [0]


def test_a_member_without_partitions_gives_up_after_the_wait_for_assignment(
    broker: InMemoryBroker, store: Store, sink: InMemoryDeadLetters
) -> None:
    busy = [member(broker, store, sink) for _ in range(3)]
    spare = member(broker, store, sink, exit_when_idle=1.0, max_wait_for_assignment=5.0)
    assert spare.step() is None and not broker.members[-1].owned
    assert run_until_exit(spare) == [1]
    assert broker.clock.now >= 6.0
    for loop in busy:
        loop.close()


def test_idleness_is_logged_once_then_rarely_while_progress_is_logged_every_interval(
    broker: InMemoryBroker,
    store: Store,
    sink: InMemoryDeadLetters,
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = member(broker, store, sink, exit_when_idle=None, progress_interval=10.0)
    caplog.set_level(logging.INFO, logger="stats.consumer.progress")
    for _ in range(6):  # events flow for a minute: a batch every 10 s
        produce(broker, 1)
        for _ in range(20):
            loop.step()
    flowing = progress_lines(caplog)
    caplog.clear()
    while broker.clock.now < 60 + 20 * 60:  # then nothing for 20 minutes
        loop.step()
    idle = progress_lines(caplog)

    assert len(flowing) >= 5 and all("lag 0" in m and "totals: " in m for m in flowing)
    assert sum(m.startswith("idle: no records since ") for m in idle) == len(idle)
    assert 4 <= len(idle) <= 5  # one at once, then every 5 minutes (not 120 lines)
    loop.close()


def progress_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "stats.consumer.progress"]


@pytest.mark.django_db
def test_the_database_refusing_one_event_dead_letters_it_and_records_the_rest(
    broker: InMemoryBroker, sink: InMemoryDeadLetters
) -> None:
    good = produce(broker, 4)
    refused = AdImpressionEvent(1, uuid.uuid4(), "ad-1", "refused-by-db", T0)
    refused_record = broker.produce(1, encode_event(refused))
    good += produce(broker, 2)
    loop = member(broker, DatabaseStore(), sink)
    with database_refuses(Impression._meta.db_table, "user_id", "refused-by-db"):
        assert run_until_exit(loop) == [0]
    assert set(Impression.objects.values_list("event_id", flat=True)) == {e.event_id for e in good}
    assert [letter.record for letter in sink.sent] == [refused_record]
    assert sink.sent[0].reason.startswith("database refused")
    assert stored_offsets(consumer_group="g", topic="t") == {0: 6, 1: 7, 2: 6}


@pytest.mark.django_db
def test_a_refusal_of_the_ledger_itself_is_retried_and_dead_letters_no_valid_event(
    broker: InMemoryBroker, sink: InMemoryDeadLetters
) -> None:
    good = produce(broker, 3)
    poison = broker.produce(2, POISON)  # the control: this one must be dead-lettered, once
    loop = member(broker, DatabaseStore(), sink)
    with database_refuses(PartitionOffset._meta.db_table, "topic", "t"):
        for _ in range(10):
            loop.step()
        assert [letter.record for letter in sink.sent] == [poison]
        assert not Impression.objects.exists()
    assert run_until_exit(loop) == [0]
    assert [letter.record for letter in sink.sent] == [poison]
    assert Impression.objects.count() == len(good)
    assert stored_offsets(consumer_group="g", topic="t") == {0: 3, 1: 3, 2: 4}


def test_records_are_typed_values() -> None:
    record = Record("t", 1, 7, b"k", b"v")
    assert str(record) == "t[1]@7" and str(record.source) == "t[1]"
