"""The database in memory, behind the core's `Recorder` and `LedgerReader` ports. The core's
tests run against it and against the real recorder alike (tests/stats/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from django.db import OperationalError

from impressions.contract import AdImpressionEvent
from stats.consumer.records import LedgerEntry
from stats.offset_update import OffsetUpdate


class InMemoryStore:
    """`ports.Recorder` and `ports.LedgerReader` in memory, with record_impressions' contract:
    all or nothing, each event id once, a ledger that never moves back, an identity adopted
    once, expired records counted when the ledger moves past them. `failures` makes the next
    calls fail before anything is written; `while_recording` runs once, mid-transaction."""

    def __init__(self) -> None:
        self.events: dict[uuid.UUID, AdImpressionEvent] = {}
        self.ledger: dict[int, int] = {}
        self.identities: dict[int, str] = {}
        self.expired: dict[int, int] = {}
        self.duplicates = 0  # events offered again after they were stored
        self.failures = 0
        self.ledger_failures = 0
        self.while_recording: Callable[[], None] | None = None
        self.fail_while_writing: str | None = None  # "events" or "ledger": the next call fails

    def record(
        self, *, events: Sequence[AdImpressionEvent], offsets: Sequence[OffsetUpdate] = ()
    ) -> int:
        if self.failures:
            self.failures -= 1
            raise OperationalError("server closed the connection unexpectedly")
        if self.while_recording is not None:
            hook, self.while_recording = self.while_recording, None
            hook()
        if self.fail_while_writing is not None:  # one transaction: nothing was written yet
            what, self.fail_while_writing = self.fail_while_writing, None
            raise OperationalError(f"the server went away while writing the {what}")
        new = {e.event_id: e for e in reversed(events) if e.event_id not in self.events}
        self.duplicates += len({e.event_id for e in events}) - len(new)
        self.events.update(new)
        for o in offsets:
            if o.next_offset > self.ledger.get(o.partition, -1) and o.expired_unrecorded:
                self.expired[o.partition] = self.expired.get(o.partition, 0) + o.expired_unrecorded
            self.ledger[o.partition] = max(self.ledger.get(o.partition, 0), o.next_offset)
            if o.topic_identity is not None:
                self.identities.setdefault(o.partition, o.topic_identity)
        return len(new)

    def offsets_alone_accepted(self, offsets: Sequence[OffsetUpdate]) -> bool:
        return True  # this store refuses nothing

    def read_ledger(self) -> dict[int, LedgerEntry]:
        if self.ledger_failures:
            self.ledger_failures -= 1
            raise OperationalError("could not connect to server")
        return {
            p: LedgerEntry(o, self.identities.get(p), self.expired.get(p, 0))
            for p, o in self.ledger.items()
        }
