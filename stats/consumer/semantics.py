"""Delivery semantics of `runconsumer --semantics`, behind the core's ports (the loop is the
same for all three; what differs is the recorder and where a restart resumes):

- **exactly-once** (default): `build.build_consumer`, today's path: events, counters and offsets
  in one database transaction, event ids deduplicated, resume from the ledger.
- **at-least-once**: `LabCountRecorder` adds every event to `LabAdCount` (no event-id check,
  no ledger); the loop then commits the offsets to Kafka; a restart resumes from Kafka's
  committed offsets. A crash between the two commits counts that batch twice.
- **at-most-once**: the same recorder, but it commits the batch's offsets to Kafka *before* the
  database transaction. A crash between the two loses that batch. (A database failure is still
  retried in-process: the batch is in hand; only a crash loses it.)

The two lab modes write only `LabAdCount` rows keyed by (group, topic, ad): the statistics
tables, the dashboard and the API keep showing exactly-once numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal, cast

from impressions.contract import AdImpressionEvent
from stats.consumer.build import build_consumer
from stats.consumer.crash_points import CrashPoint, crashing, kafka_client
from stats.consumer.dead_letters import KafkaDeadLetterSink
from stats.consumer.kafka_client import KafkaConsumerClient
from stats.consumer.loop import ConsumerConfig, ImpressionConsumer
from stats.consumer.metrics import ConsumerMetrics
from stats.consumer.ports import LedgerReader
from stats.consumer.records import LedgerEntry, Partition
from stats.offset_update import OffsetUpdate
from stats.semantics_lab.counting import lab_counts_add

Semantics = Literal["exactly-once", "at-least-once", "at-most-once"]
EXACTLY_ONCE: Semantics = "exactly-once"
AT_LEAST_ONCE: Semantics = "at-least-once"
AT_MOST_ONCE: Semantics = "at-most-once"
SEMANTICS: tuple[Semantics, ...] = (EXACTLY_ONCE, AT_LEAST_ONCE, AT_MOST_ONCE)


def semantics_from(text: str) -> Semantics:
    """`text` as a Semantics; ValueError naming the choices otherwise."""
    if text not in SEMANTICS:
        raise ValueError(f"--semantics must be one of {', '.join(SEMANTICS)}, got {text!r}")
    return cast(Semantics, text)


def group_for(semantics: Semantics, base: str) -> str:
    """Each mode's own consumer group: `base` for exactly-once, `<base>-<mode>` otherwise."""
    return base if semantics == EXACTLY_ONCE else f"{base}-{semantics}"


class LabCountRecorder:
    """`ports.Recorder` of at-least-once and at-most-once (see the module docstring).

    `commit_first` (at-most-once) commits the batch's next offsets to Kafka before the
    transaction. `record` returns how many events it counted: all of them.
    """

    def __init__(
        self,
        *,
        group: str,
        topic: str,
        commit_first: Callable[[Mapping[Partition, int]], None] | None = None,
    ) -> None:
        self._group, self._topic, self._commit_first = group, topic, commit_first

    def record(
        self, *, events: Sequence[AdImpressionEvent], offsets: Sequence[OffsetUpdate] = ()
    ) -> int:
        if self._commit_first is not None and offsets:
            self._commit_first({Partition(o.topic, o.partition): o.next_offset for o in offsets})
        if not events:
            return 0
        return lab_counts_add(
            consumer_group=self._group, topic=self._topic, ad_ids=(e.ad_id for e in events)
        )

    def offsets_alone_accepted(self, offsets: Sequence[OffsetUpdate]) -> bool:
        return True  # no ledger here that could refuse them


def kafka_committed_ledger(client: KafkaConsumerClient) -> LedgerReader:
    """`ports.LedgerReader` over Kafka's committed offsets of the owned partitions (the lab
    modes keep no ledger in the database)."""

    def ledger() -> Mapping[int, LedgerEntry]:
        committed = client.committed(sorted(client.assignment()))
        return {p.index: LedgerEntry(o) for p, o in committed.items() if o is not None}

    return ledger


def build_semantics_consumer(
    config: ConsumerConfig,
    *,
    semantics: Semantics,
    bootstrap_servers: Sequence[str],
    crash: CrashPoint | None = None,
    metrics: ConsumerMetrics | None = None,
) -> ImpressionConsumer:
    """A consumer with the given semantics, crashing at `crash` when given.

    Raises records.BrokerFailure when the broker cannot be reached.
    """
    if semantics == EXACTLY_ONCE:
        return build_consumer(
            config, bootstrap_servers=bootstrap_servers, metrics=metrics, crash=crash
        )
    client = kafka_client(
        crash,
        bootstrap_servers=bootstrap_servers,
        topic=config.topic,
        group=config.group,
        max_records=config.batch_size,
        membership=config.membership,
    )
    recorder = LabCountRecorder(
        group=config.group,
        topic=config.topic,
        commit_first=client.commit if semantics == AT_MOST_ONCE else None,
    )
    return ImpressionConsumer(
        config,
        client=client,
        observer=metrics,
        recorder=crashing(recorder, crash),
        ledger=kafka_committed_ledger(client),
        dead_letters=KafkaDeadLetterSink(
            bootstrap_servers=bootstrap_servers, topic=config.topic, group=config.group
        ),
    )
