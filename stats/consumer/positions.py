"""Where a newly assigned partition resumes: the ledger, checked against what the topic holds."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


class LedgerAheadOfTopic(RuntimeError):
    """The database has read further than the topic holds: the topic was recreated or wiped."""


def resume_offset(*, topic: str, partition: int, stored: int | None, first: int, end: int) -> int:
    """The offset to seek to, given the ledger's `stored` offset and the partition's range.

    No ledger row: the first retained offset. Ledger before the first retained offset: the
    records between expired unrecorded; logged as an error, resume at `first`. Ledger past
    `end`: raises LedgerAheadOfTopic rather than skip or re-read anything.
    """
    if stored is None:
        return first
    if stored > end:
        raise LedgerAheadOfTopic(
            f"the database has recorded {topic}[{partition}] up to offset {stored} but the topic"
            f" ends at {end}: it was recreated or the broker's data was wiped. Rebuild into an"
            " empty database, or, if the topic was deliberately recreated, consume it with a"
            " new --group."
        )
    if stored < first:
        logger.error(
            "%s[%d]: offsets %d..%d expired (retention) before they were recorded",
            topic, partition, stored, first - 1,
        )  # fmt: skip
        return first
    return stored
