"""The process-wide producer: one per process, re-created in a forked worker, acks awaited."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import pytest

from impressions import publisher
from impressions.contract import AdImpressionEvent, decode_event
from tests.conftest import read_topic

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def an_event(user: str) -> AdImpressionEvent:
    return AdImpressionEvent(1, uuid.uuid4(), "ad-fork", user, NOW)


def test_one_producer_per_process_and_a_new_one_after_fork(
    topic: str, kafka_servers: list[str]
) -> None:
    publisher.publish_events([an_event("parent-1")])
    parent_producer = publisher._holder.producer
    publisher.publish_events([an_event("parent-2")])
    assert publisher._holder.producer is parent_producer  # reused, not one per request

    child = os.fork()
    if child == 0:  # a server worker forked after the parent had published
        code = 1
        try:
            inherited_cleared = publisher._holder.producer is None
            publisher.publish_events([an_event("child")])
            code = 0 if inherited_cleared and publisher._holder.producer is not None else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0

    publisher.publish_events([an_event("parent-3")])  # the parent's producer still works
    assert publisher._holder.producer is parent_producer
    records = read_topic(kafka_servers, topic, expect=4)
    users = sorted(decode_event(r.value, now=NOW).user_id for r in records)
    assert users == ["child", "parent-1", "parent-2", "parent-3"]
    assert {r.key for r in records} == {b"ad-fork"}
