"""A lightly loaded consumer does not wait for a full batch: with a batch size of 5,000 and a
fetch minimum the topic never reaches, one event is still recorded, after at most
CONSUMER_FETCH_MAX_WAIT_MS at the broker."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from kafka import KafkaProducer

from tests.stats.topic_data import assert_counted_exactly, produce_events, wait_for_progress

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_one_event_is_recorded_without_a_full_batch(
    topic: str,
    raw_producer: KafkaProducer,
    consumer_process: Callable[..., subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONSUMER_FETCH_MIN_BYTES", str(50 * 1024 * 1024))  # never reached here
    monkeypatch.setenv("CONSUMER_FETCH_MAX_WAIT_MS", "300")
    proc = consumer_process("--batch-size", "5000", "--progress-interval", "60")
    expected = produce_events(raw_producer, topic, 1)
    wait_for_progress(proc, 1, timeout_s=60)  # generous: the machine is shared
    expected += produce_events(raw_producer, topic, 2)
    wait_for_progress(proc, 3, timeout_s=60)
    proc.terminate()
    assert proc.wait(timeout=30) == 0
    assert_counted_exactly(expected, 3)
