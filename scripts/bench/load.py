"""Events for the benchmark and writing them to a topic: uniform or Zipf-like ads (exponent 1,
as in bench_read), users uniform, event times over the last `days` days, and ids as the API
gives them (time-ordered, made as the events are) or as clients that send their own random
ones."""

from __future__ import annotations

import itertools
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.report import MEASURED
from impressions.contract import AdImpressionEvent, encode_event, event_key
from impressions.event_ids import new_event_id

ID_KINDS = ("time-ordered", "random")


@dataclass(frozen=True)
class Mix:
    """Who sees what: `ads` ads (Zipf-like when `skewed`), `users` users, `days` of event time;
    `ids`: "time-ordered" (what the API gives an event sent without an id: version 7, made
    now) or "random" (version-4-like, as from clients that send their own)."""

    ads: int = 1000
    users: int = 1_000_000
    skewed: bool = True
    days: int = 7
    ids: str = "time-ordered"


def events(n: int, mix: Mix, *, seed: int) -> Iterator[AdImpressionEvent]:
    rng = random.Random(seed)
    ads = [f"ad-{i}" for i in range(mix.ads)]
    weights = list(itertools.accumulate(1 / (i + 1) if mix.skewed else 1.0 for i in range(mix.ads)))
    now = datetime.now(UTC) - timedelta(minutes=10)
    span = mix.days * 86_400 - 600
    if mix.ids not in ID_KINDS:
        raise ValueError(f"ids must be one of {ID_KINDS}, not {mix.ids!r}")
    ordered = mix.ids == "time-ordered"
    for ad in rng.choices(ads, cum_weights=weights, k=n):
        yield AdImpressionEvent(
            1,
            new_event_id(datetime.now(UTC)) if ordered else uuid.UUID(int=rng.getrandbits(128)),
            ad,
            f"user-{rng.randrange(mix.users)}",
            now - timedelta(seconds=rng.randrange(span)),
        )


def produce(
    servers: Sequence[str], topic: str, batch: Iterator[AdImpressionEvent], *, buckets: int = 0
) -> Counter[int]:
    """Write the events (key: contract.event_key with `buckets`); return events per partition."""
    from kafka import KafkaProducer
    from kafka.producer.future import RecordMetadata

    producer = KafkaProducer(bootstrap_servers=list(servers), linger_ms=20, batch_size=512 * 1024)
    per_partition: Counter[int] = Counter()

    def landed(metadata: RecordMetadata) -> None:
        per_partition[metadata.partition] += 1

    started, n, size = time.monotonic(), 0, 0
    for event in batch:
        n += 1
        key, value = event_key(event, buckets=buckets), encode_event(event)
        size += len(key) + len(value)
        producer.send(topic, key=key, value=value).add_callback(landed)
    producer.flush()
    MEASURED["event_bytes"] = size / max(n, 1)  # key + value, before the broker's batching
    if sum(per_partition.values()) != n:
        raise RuntimeError(f"the broker acknowledged {sum(per_partition.values())} of {n} events")
    producer.close()
    seconds = time.monotonic() - started
    print(f"  produced {n:,} events to {topic} in {seconds:.1f}s", flush=True)
    return per_partition


def largest_share(per_partition: Counter[int], partitions: int) -> float:
    """The busiest partition's share of the events (1/partitions when perfectly even)."""
    total = sum(per_partition.values())
    return max((per_partition.get(p, 0) for p in range(partitions)), default=0) / max(total, 1)
