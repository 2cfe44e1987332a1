"""The ids the server gives events that arrive without one: time-ordered UUIDs (version 7).

    from impressions.event_ids import new_event_id
    new_event_id(now)  # UUID('019aefc2-...'), sorts after every id made a millisecond earlier

Every stored event is one row in the raw table, whose primary key (event_id, occurred_at) is
also the de-duplication key (docs/architecture.md). A random id (version 4) puts each new
entry on a random page of that index: as a day partition's index outgrows the cache, every
insert and every de-duplication probe reads a page from disk. A version-7 id begins with the
millisecond it was made (RFC 9562, section 5.7), so the ids of one day's traffic arrive in
order and land on the index's rightmost pages, which stay cached, and so do the probes for
them. The other 74 bits are random (os.urandom, as uuid4): ids made in the same millisecond,
in another process or on another machine, still do not collide.

What the key means does not change: an event is its id and its time within the duplicate
window, whatever kind of id it carries. Clients may still send their own id (any UUID, to
make their retries idempotent); those ids keep whatever order they have.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime

_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0b10 << 62
_MS_MASK = (1 << 48) - 1


def new_event_id(now: datetime) -> uuid.UUID:
    """A version-7 UUID whose first 48 bits are `now` in Unix milliseconds (aware datetime)."""
    ms = int(now.timestamp() * 1000) & _MS_MASK
    random_bits = int.from_bytes(os.urandom(10), "big")  # 80 bits, 74 of them used
    rand_a = (random_bits >> 62) & 0xFFF
    rand_b = random_bits & ((1 << 62) - 1)
    return uuid.UUID(int=ms << 80 | _VERSION_7 | rand_a << 64 | _VARIANT_RFC | rand_b)
