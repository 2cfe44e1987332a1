"""Which polled records the core hands on (`Positions`): nothing below the ledger, nothing from a
partition before its seek, and no silent jump back."""

from __future__ import annotations

import pytest

from stats.consumer import LedgerAheadOfTopic
from stats.consumer.positions import Positions
from stats.consumer.records import Batch, Partition, Record

P0, P1 = Partition("t", 0), Partition("t", 1)


def records(partition: Partition, *offsets: int) -> list[Record]:
    return [Record(partition.topic, partition.index, o, b"k", b"v") for o in offsets]


@pytest.fixture
def positions() -> Positions:
    positions = Positions()
    positions.rebalanced(assigned={P0}, revoked=())
    positions.seeked({P0: 10})  # the ledger says: next is offset 10
    return positions


def test_records_of_a_partition_being_seeked_or_not_owned_are_dropped(
    positions: Positions,
) -> None:
    positions.rebalanced(assigned={P0}, revoked=())  # assigned again: must be seeked again
    assert positions.unseeked == {P0}
    assert not positions.fresh({P0: records(P0, 10), P1: records(P1, 0)})


def test_records_from_the_ledger_on_are_kept(positions: Positions) -> None:
    kept = records(P0, 10, 11, 13)  # a gap is fine (transaction markers, compaction)
    assert positions.fresh({P0: kept}) == Batch({P0: kept})


def test_a_jump_below_the_ledger_stops_the_consumer(positions: Positions) -> None:
    with pytest.raises(
        LedgerAheadOfTopic, match=r"t\[0\] jumped back to offset 0 below the ledger's 10"
    ):
        positions.fresh({P0: records(P0, 0, 1)})


def test_a_committed_batch_moves_on_and_a_failed_one_rewinds_to_the_ledger(
    positions: Positions,
) -> None:
    batch = positions.fresh({P0: records(P0, 12, 13)})
    assert positions.rewind(batch) == {P0: 10}
    positions.committed(batch)
    assert positions.next == {P0: 14}


def test_dead_letters_are_remembered_until_the_ledger_passes_them_or_the_log_changes(
    positions: Positions,
) -> None:
    poison = records(P0, 10)
    positions.dead_lettered(poison)
    assert positions.not_yet_dead_lettered(poison) == []
    positions.committed(Batch({P0: poison}))
    assert positions.not_yet_dead_lettered(poison) == poison  # below the ledger: forgotten
    positions.dead_lettered(poison)
    positions.rebalanced(assigned=(), revoked={P0})
    assert positions.next == {}
    assert positions.not_yet_dead_lettered(poison) == []  # sent by this member: still true
    positions.rebalanced(assigned={P0}, revoked=())
    positions.seeked({P0: 10})  # back to the same member, at the same offset: not again
    assert positions.not_yet_dead_lettered(poison) == []
    positions.seeked({P0: 10}, {P0: "another-topic-id"})  # another log: offsets mean else
    assert positions.not_yet_dead_lettered(poison) == poison
