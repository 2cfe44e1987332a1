"""Completeness end to end on the real broker and database: `runconsumer` in its own process,
a second group member that holds a partition without reading it, and the pipeline and series
APIs. The watermark stops at the held partition's progress and moves on when it catches up."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from kafka import KafkaConsumer, KafkaProducer
from rest_framework.test import APIClient

from impressions.contract import AdImpressionEvent, encode_event
from stats.models import PartitionLagSample, PartitionOffset, TopicCompleteness
from tests.stats.topic_data import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def publish(producer: KafkaProducer, topic: str, partition: int, happened: datetime) -> None:
    event = AdImpressionEvent(1, uuid.uuid4(), f"ad-{partition}", "u", happened)
    producer.send(topic, encode_event(event), key=event.ad_id.encode(), partition=partition)


def pipeline(client: APIClient) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/api/stats/pipeline/").json()
    return body


def through(body: dict[str, Any]) -> dict[int, str | None]:
    return {p["partition"]: p["read_through"] for p in body["partitions"]}


def stored_watermark() -> datetime | None:
    row = TopicCompleteness.objects.values_list("complete_through", flat=True).first()
    return row


def caught_up(partitions: set[int], ends: dict[int, int]) -> bool:
    ledger = dict(PartitionOffset.objects.values_list("partition", "next_offset"))
    return all(ledger.get(p, -1) >= ends[p] for p in partitions)


def test_a_held_back_partition_holds_the_watermark_on_the_real_broker(
    topic: str,
    group: str,
    kafka_servers: list[str],
    raw_producer: KafkaProducer,
    consumer_process: Any,
    stats_client: APIClient,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    monkeypatch.setenv("STATS_ALLOWED_LATENESS_SECONDS", "0")
    monkeypatch.setenv("STATS_PROGRESS_INTERVAL_SECONDS", "0.5")
    settings.STATS_ALLOWED_LATENESS_SECONDS = 0
    settings.STATS_PROGRESS_INTERVAL_SECONDS = 0.5
    for partition in range(3):
        publish(raw_producer, topic, partition, datetime.now(UTC))
    raw_producer.flush()
    proc = consumer_process()
    wait_for(lambda: stored_watermark() is not None, "every partition caught up", proc=proc)

    holder = KafkaConsumer(
        topic, bootstrap_servers=kafka_servers, group_id=group, enable_auto_commit=False
    )
    try:
        deadline = time.monotonic() + 60
        while not holder.assignment() and time.monotonic() < deadline:
            holder.poll(timeout_ms=200)  # joins the group; records fetched are never recorded
        held = {tp.partition for tp in holder.assignment()}
        assert held and held != {0, 1, 2}
        read = {0, 1, 2} - held
        for partition in range(3):
            publish(raw_producer, topic, partition, datetime.now(UTC))
        raw_producer.flush()
        ends = {p: 2 for p in range(3)}
        wait_for(lambda: caught_up(read, ends), "the read partitions recorded", proc=proc)
        held_at = max(through(pipeline(stats_client))[p] or "" for p in held)
        time.sleep(1.5)  # a few progress marks of the read partitions
        body = pipeline(stats_client)
        assert not caught_up(held, ends)
        assert body["complete_through"] == min(through(body)[p] or "" for p in held)
        assert body["complete_through"] <= held_at
        assert all((through(body)[p] or "") > body["complete_through"] for p in read)
        minutes = stats_client.get(
            f"/api/stats/ads/ad-{min(read)}/series/", {"interval": "minute"}
        ).json()["buckets"]
        assert not minutes[-1]["final"]  # the current minute is after the watermark

        # Late: an event from an hour ago, on a partition that is read, counts and counts late.
        publish(raw_producer, topic, min(read), datetime.now(UTC) - timedelta(hours=1))
        raw_producer.flush()
        ends[min(read)] = 3
        wait_for(lambda: caught_up(read, ends), "the late event recorded", proc=proc)
        assert pipeline(stats_client)["late_events"] == 1
        stuck = stored_watermark()
        time.sleep(1.0)
        assert stored_watermark() == stuck  # still held
        for p in range(3):
            hourly = stats_client.get(f"/api/stats/ads/ad-{p}/", {"from": "2000-01-01"}).json()
            assert hourly["complete_through"] == body["complete_through"]
    finally:
        holder.close()  # leaves the group: the reader takes the held partitions and catches up

    wait_for(lambda: caught_up(held, ends), "the held partitions recorded", proc=proc)
    wait_for(
        lambda: (stored_watermark() or datetime.min.replace(tzinfo=UTC)) > (stuck or datetime.max),
        "the watermark to move on",
        proc=proc,
    )
    body = pipeline(stats_client)
    assert body["late_events"] == 1
    assert body["total_lag"] == 0
    assert body["verdict"] == "OK"
    counted = stats_client.get("/api/stats/ads/", {"from": "2000-01-01"}).json()
    assert sum(r["impressions"] for r in counted["results"]) == 7


def test_the_pipeline_judges_the_stored_samples_by_burrows_rules(
    topic: str, group: str, raw_producer: KafkaProducer, stats_client: APIClient, settings: Any
) -> None:
    settings.STATS_PROGRESS_INTERVAL_SECONDS = 5
    for partition, records in ((0, 5), (1, 10)):
        for _ in range(records):
            raw_producer.send(topic, b"{}", partition=partition)
    raw_producer.flush()
    now = timezone.now()
    history = {
        0: [(0, 5)] * 11,  # the offset never moves while there is lag: STALL
        1: [(0, 6), (1, 7), (2, 8)],  # it moves, but the lag only grows: WARN
    }
    for partition, samples in history.items():
        PartitionOffset.objects.create(
            consumer_group=group, topic=topic, partition=partition,
            next_offset=samples[-1][0], updated_at=now,
        )  # fmt: skip
        for slot, (offset, lag) in enumerate(samples):
            PartitionLagSample.objects.create(
                consumer_group=group, topic=topic, partition=partition, slot=slot,
                taken_at=now - timedelta(seconds=5 * (len(samples) - slot)),
                next_offset=offset, end_offset=offset + lag,
            )  # fmt: skip
    body = pipeline(stats_client)
    verdicts = {p["partition"]: (p["verdict"], p["samples"], p["lag"]) for p in body["partitions"]}
    assert verdicts == {0: ("STALL", 11, 5), 1: ("WARN", 3, 8), 2: ("OK", 0, 0)}
    assert body["verdict"] == "STALL"  # the worst partition's
