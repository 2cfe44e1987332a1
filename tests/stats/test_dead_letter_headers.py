"""The dead-letter copy's headers and the mirror's reading of them, without a broker: Spring's
binary encodings, a record without a timestamp, a replay count carried over, older copies."""

from __future__ import annotations

import struct

from stats.consumer.dead_letters import dead_letter_copy
from stats.consumer.records import LOG_APPEND_TIME, DeadLetter, Record
from stats.dead_letter_services import mirror_row
from stats.dead_letter_topic import TopicRecord


def copy_of(record: Record, reason: str = "user_id: Expected `str`, got `int`") -> TopicRecord:
    value, headers = dead_letter_copy(DeadLetter(record, reason), group="stats-service")
    return TopicRecord(2, 7, 1_800_000_000_000, record.key, value, tuple(headers))


def test_the_copy_carries_springs_headers_and_the_mirror_decodes_them() -> None:
    record = Record("ad-impressions", 1, 4242, b"ad-1", b'{"x": 1}', 1_700_000_000_123)
    copy = copy_of(record)
    headers = dict(copy.headers)
    assert headers["kafka_dlt-original-partition"] == b"\x00\x00\x00\x01"
    assert headers["kafka_dlt-original-offset"] == struct.pack(">q", 4242)
    assert headers["kafka_dlt-original-timestamp"] == struct.pack(">q", 1_700_000_000_123)
    assert headers["kafka_dlt-original-consumer-group"] == b"stats-service"

    row = mirror_row("ad-impressions.dlq", copy)
    assert (row.dlq_partition, row.dlq_offset) == (2, 7)
    assert (row.source_topic, row.source_partition, row.source_offset) == (
        "ad-impressions",
        1,
        4242,
    )
    assert (
        row.source_timestamp is not None and row.source_timestamp.timestamp() == 1_700_000_000.123
    )
    assert row.reason_kind == "user_id" and row.consumer_group == "stats-service"
    assert ["kafka_dlt-original-offset", "4242"] in row.headers  # shown as a number
    assert row.replay_count == 0 and row.status == "new" and not row.truncated


def test_no_timestamp_is_minus_one_and_a_replay_count_is_carried_over() -> None:
    record = Record(
        "t", 0, 3, None, b"{", None, LOG_APPEND_TIME, headers=(("dlq.replay-count", b"2"),)
    )
    headers = dict(copy_of(record).headers)
    assert headers["kafka_dlt-original-timestamp"] == struct.pack(">q", -1)
    assert headers["kafka_dlt-original-timestamp-type"] == b"LOG_APPEND_TIME"
    row = mirror_row("t.dlq", copy_of(record))
    assert row.replay_count == 2 and row.source_timestamp is None


def test_a_copy_from_before_the_spring_headers_is_read_from_dlq_source() -> None:
    old = TopicRecord(
        0, 0, 1_800_000_000_000, b"k", b"v",
        (("dlq.reason", b"not valid JSON: x"), ("dlq.source", b"my.topic/2/99")),
    )  # fmt: skip
    row = mirror_row("my.topic.dlq", old)
    assert (row.source_topic, row.source_partition, row.source_offset) == ("my.topic", 2, 99)
    assert row.reason_kind == "not valid JSON"
