"""Recovery after a crash, on the real broker: a consumer killed with SIGKILL and restarted under
the same instance id records again within seconds; a crash loop ends in a replacement that
records everything; a group of three loses one and gains one with every event counted once.

The crash-to-recording figure is printed (`pytest -s tests/stats/test_recovery.py`).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from kafka import KafkaProducer
from rest_framework.test import APIClient

from impressions.models import Impression
from stats.kafka_admin import end_offsets, ensure_topics, group_members
from stats.models import PartitionOffset
from tests.stats.topic_data import (
    assert_counted_exactly,
    processed,
    produce_events,
    wait_for,
    wait_for_progress,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

Start = Callable[..., subprocess.Popen[bytes]]

# kafka-python's own default: without static membership a replacement would wait this long for
# the dead member's session to expire, so recording again sooner proves the id was taken over.
LONG_SESSION_MS = "45000"
# The bound asserted on a loaded 2-core machine; the target (docs/operations.md) is 5 s.
CRASH_TO_RECORDING_BOUND_S = 15.0


def kill_9(proc: subprocess.Popen[bytes]) -> float:
    """SIGKILL, reaped; the instant it was sent."""
    killed_at = time.monotonic()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    return killed_at


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0


def api_totals(client: APIClient) -> dict[str, int]:
    results = client.get("/api/stats/ads/", {"limit": 1000}).json()["results"]
    return {row["ad_id"]: row["impressions"] for row in results}


def assert_exact(client: APIClient, expected: Counter[str]) -> None:
    """Each produced event counted once: raw rows, counters, ledger and the API's totals."""
    total = sum(expected.values())
    assert_counted_exactly(expected, total)
    assert api_totals(client) == dict(expected)


def test_a_killed_consumer_restarted_under_its_id_records_again_within_seconds(
    raw_producer: KafkaProducer,
    topic: str,
    consumer_process: Start,
    stats_client: APIClient,
) -> None:
    member = ("--instance-id", f"recovery-{uuid.uuid4().hex[:6]}")
    options = (*member, "--session-timeout-ms", LONG_SESSION_MS, "--progress-interval", "60")
    expected = produce_events(raw_producer, topic, 3_000)
    first = consumer_process(*options)
    wait_for_progress(first, at_least=3_000)

    killed_at = kill_9(first)
    replacement = consumer_process(*options)
    expected += produce_events(raw_producer, topic, 300)
    wait_for(
        lambda: processed() == 3_300, "the replacement to record", proc=replacement, timeout_s=60
    )
    crash_to_recording = time.monotonic() - killed_at
    print(f"\ncrash-to-recording (kill -9 → replacement recorded new events): "
          f"{crash_to_recording:.2f} s")  # fmt: skip

    assert crash_to_recording <= CRASH_TO_RECORDING_BOUND_S
    stop(replacement)
    assert_exact(stats_client, expected)


def test_ten_kill_9s_in_quick_succession_then_one_replacement_records_everything(
    raw_producer: KafkaProducer,
    topic: str,
    consumer_process: Start,
    stats_client: APIClient,
) -> None:
    member = ("--instance-id", f"crashloop-{uuid.uuid4().hex[:6]}")
    options = (*member, "--session-timeout-ms", LONG_SESSION_MS, "--batch-size", "200")
    expected = produce_events(raw_producer, topic, 20_000)
    for attempt in range(10):  # a crash loop: some die starting, some mid-join, some mid-batch
        crashing = consumer_process(*options, "--progress-interval", "60")
        time.sleep(1.2 + 0.25 * attempt)
        killed_at = kill_9(crashing)
    recorded_in_the_loop = processed()

    replacement = consumer_process(*options, "--progress-interval", "60")
    expected += produce_events(raw_producer, topic, 500)
    wait_for(
        lambda: processed() == 20_500,
        "the replacement to record everything",
        proc=replacement,
        timeout_s=90,
    )
    last_kill_to_done = time.monotonic() - killed_at
    print(f"\nten kill -9s ({recorded_in_the_loop} recorded meanwhile), then one replacement: "
          f"everything recorded {last_kill_to_done:.2f} s after the last kill")  # fmt: skip

    assert last_kill_to_done <= 45.0  # nothing waits out a dead member's 45 s session
    stop(replacement)
    assert_exact(stats_client, expected)


def test_three_members_lose_one_to_sigkill_gain_a_fourth_and_count_every_event_once(
    raw_producer: KafkaProducer,
    consumer_process: Start,
    group: str,
    stats_client: APIClient,
) -> None:
    topic = f"test-scale-{uuid.uuid4().hex[:10]}"
    ensure_topics(topic=topic, partitions=6, replication_factor=1)
    # The broker's minimum: the killed static member's partitions move after 6 s.
    options = ("--topic", topic, "--session-timeout-ms", "6000", "--batch-size", "200",
               "--progress-interval", "60")  # fmt: skip
    expected: Counter[str] = Counter()
    max_chunks, chunk = 480, 400
    group_changed = threading.Event()

    def keep_producing() -> None:  # events keep arriving on every partition until the group
        for _ in range(max_chunks):  # has changed (at most ~2 minutes: then it proves nothing)
            expected.update(produce_events(raw_producer, topic, chunk, ads=36))
            if group_changed.wait(0.25):
                return

    producing = threading.Thread(target=keep_producing)
    producing.start()
    members = [consumer_process(*options, "--slot", str(slot)) for slot in range(3)]

    def owners() -> dict[str, list[int]]:
        return {m["client_id"]: m["partitions"] for m in group_members(group, topic)}

    def owned_by(procs: list[subprocess.Popen[bytes]]) -> bool:
        now = owners()
        pids = sorted(client.rsplit("-", 1)[-1] for client, parts in now.items() if parts)
        all_six = sorted(p for parts in now.values() for p in parts) == list(range(6))
        return all_six and pids == sorted(str(p.pid) for p in procs)

    wait_for(lambda: owned_by(members), "three members owning two partitions each", timeout_s=60)
    wait_for_progress(members[0], at_least=2_000)
    kill_9(members[1])
    fourth = consumer_process(*options, "--slot", "3")
    survivors = [members[0], members[2], fourth]
    wait_for(lambda: owned_by(survivors), "the survivors and the fourth owning all six",
             timeout_s=60)  # fmt: skip
    assert producing.is_alive(), "the group changed after the work: it proves nothing"
    group_changed.set()
    producing.join()
    produced = sum(expected.values())

    ends = end_offsets(topic)
    wait_for(
        lambda: (
            dict(
                PartitionOffset.objects.filter(topic=topic).values_list("partition", "next_offset")
            )
            == ends
        ),
        "the ledger to reach every partition's end offset",
        timeout_s=120,
    )
    assert owned_by(survivors), "a partition was left without an owner"
    assert sum(ends.values()) == produced
    for proc in survivors:
        stop(proc)
    assert_exact(stats_client, expected)
    assert Impression.objects.count() == produced


def test_sigterm_leaves_the_group_at_once_and_stay_on_stop_keeps_the_member(
    topic: str, group: str, consumer_process: Start
) -> None:
    """A static member's close() sends no LeaveGroup; runconsumer leaves explicitly, so a stop
    for good does not leave its partitions idle for the session timeout (here 45 s)."""
    options = ("--session-timeout-ms", LONG_SESSION_MS, "--progress-interval", "60")
    for extra, members_after_stop in (((), 0), (("--stay-on-stop",), 1)):
        member = consumer_process(*options, *extra, "--instance-id", f"stop-{len(extra)}")
        wait_for(lambda: bool(group_members(group, topic)), "the member to join", proc=member)
        stop(member)
        assert len(group_members(group, topic)) == members_after_stop, extra
