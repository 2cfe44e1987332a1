"""Kafka adapter of the to-be path: publish events and wait, within a bound, for the broker's ack.

One process-wide idempotent producer (acks=all), created lazily on first use and again in each
child after a fork (gunicorn --preload forks after import; a producer's I/O thread does not
survive a fork). Only the Kafka adapters import `kafka`: this one, stats.kafka_admin and
stats.consumer (its kafka_client, rebalance_listener and dead_letters modules).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence

from django.conf import settings
from kafka import KafkaProducer
from kafka.errors import KafkaError

from adsite.metrics import PUBLISH_DURATION, PUBLISH_UNAVAILABLE
from impressions.contract import AdImpressionEvent, encode_event, event_key

logger = logging.getLogger(__name__)

# After a failed attempt to reach the broker, requests fail fast for this long instead of each
# waiting the whole bound again.
_RECONNECT_COOLDOWN_SECONDS = 1.0


class PublishUnavailable(RuntimeError):
    """The broker did not acknowledge every event within the bound; the caller should retry."""


class _ProducerHolder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.producer: KafkaProducer | None = None
        self.servers: tuple[str, ...] = ()
        self.failed: tuple[tuple[str, ...], float] = ((), float("-inf"))

    def reset_after_fork(self) -> None:
        # The parent's producer belongs to the parent's threads; never use or close it here.
        self.lock = threading.Lock()
        self.producer = None
        self.failed = ((), float("-inf"))


_holder = _ProducerHolder()
os.register_at_fork(after_in_child=_holder.reset_after_fork)


def _producer(bound_seconds: float) -> KafkaProducer:
    servers = tuple(settings.KAFKA_BOOTSTRAP_SERVERS)
    with _holder.lock:
        if _holder.producer is not None and _holder.servers == servers:
            return _holder.producer
        failed_servers, failed_at = _holder.failed
        if failed_servers == servers and time.monotonic() - failed_at < _RECONNECT_COOLDOWN_SECONDS:
            raise PublishUnavailable(f"Kafka at {','.join(servers)} was unreachable a moment ago")
        if _holder.producer is not None:
            _holder.producer.close(timeout=0)
            _holder.producer = None
        try:
            _holder.producer = KafkaProducer(
                bootstrap_servers=list(servers),
                client_id=f"impressions-publisher-{os.getpid()}",
                enable_idempotence=True,
                acks="all",
                batch_size=128 * 1024,
                # Connecting and a send() waiting for metadata get half the bound each, so
                # a first request against a dead broker still answers within the bound.
                bootstrap_timeout_ms=int(bound_seconds * 500),
                max_block_ms=int(bound_seconds * 500),
            )
        except KafkaError as exc:
            _holder.failed = (servers, time.monotonic())
            raise PublishUnavailable(
                f"Kafka at {','.join(servers)} did not answer within {bound_seconds:g}s: {exc}"
            ) from exc
        _holder.servers = servers
        return _holder.producer


def publish_events(events: Sequence[AdImpressionEvent], *, topic: str | None = None) -> None:
    """Write every event to the topic (key: `event_key` with IMPRESSIONS_KEY_BUCKETS) and return
    once the broker acknowledged all.

    Raises PublishUnavailable when that does not happen within KAFKA_PUBLISH_TIMEOUT_SECONDS.
    Some of the events may still reach the topic later; a client that retries with the same
    event ids is counted once. The time it took, by outcome, goes to adsite.metrics.
    """
    started = time.monotonic()
    try:
        _publish(events, topic=topic or settings.IMPRESSIONS_TOPIC)
    except PublishUnavailable:
        PUBLISH_DURATION.labels("unavailable").observe(time.monotonic() - started)
        PUBLISH_UNAVAILABLE.inc()
        raise
    PUBLISH_DURATION.labels("acknowledged").observe(time.monotonic() - started)


def _publish(events: Sequence[AdImpressionEvent], *, topic: str) -> None:
    bound = settings.KAFKA_PUBLISH_TIMEOUT_SECONDS
    deadline = time.monotonic() + bound
    producer = _producer(bound)
    try:
        futures = [
            producer.send(
                topic,
                key=event_key(event, buckets=settings.IMPRESSIONS_KEY_BUCKETS),
                value=encode_event(event),
            )
            for event in events
        ]
        for future in futures:
            future.get(timeout=max(deadline - time.monotonic(), 0.001))
    except KafkaError as exc:
        logger.warning("publishing %d events to %s failed: %s", len(events), topic, exc)
        raise PublishUnavailable(
            f"the broker did not acknowledge within {bound:g}s: {exc}"
        ) from exc


def close_publisher(timeout: float = 5.0) -> None:
    """Flush and close the process-wide producer (tests and shutdown hooks)."""
    with _holder.lock:
        if _holder.producer is not None:
            _holder.producer.close(timeout=timeout)
            _holder.producer = None
