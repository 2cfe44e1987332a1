"""When an idle consumer may exit (`--exit-when-idle`): once caught up, or when no partition was
ever assigned to it."""

from __future__ import annotations

import logging
from typing import NamedTuple, Protocol

from stats.consumer.ports import ConsumerClient
from stats.consumer.positions import Positions
from stats.consumer.records import BrokerFailure

logger = logging.getLogger(__name__)


class IdleLimits(Protocol):
    @property
    def exit_when_idle(self) -> float | None: ...
    @property
    def max_wait_for_assignment(self) -> float: ...


class IdleVerdict(NamedTuple):
    exit_code: int | None  # 0: idle and caught up; 1: never given a partition; None: go on
    behind: bool = False  # idle but not caught up: the idle time starts again


def idle_verdict(
    *, idle_for: float, limits: IdleLimits, client: ConsumerClient, positions: Positions
) -> IdleVerdict:
    """0 once idle for `exit_when_idle` and caught up; 1 if never given a partition within
    `max_wait_for_assignment` more; otherwise go on."""
    if limits.exit_when_idle is None or idle_for < limits.exit_when_idle:
        return IdleVerdict(None)
    if client.assignment():
        behind = records_behind(client, positions)
        if behind == 0:
            logger.info("idle for %.1fs and caught up; exiting", idle_for)
            return IdleVerdict(0)
        logger.info("idle, but not caught up (%s records behind); waiting", behind)
        return IdleVerdict(None, behind=True)
    if idle_for >= limits.exit_when_idle + limits.max_wait_for_assignment:
        logger.error("no partitions were assigned; is another member holding them?")
        return IdleVerdict(1)
    return IdleVerdict(None)


def records_behind(client: ConsumerClient, positions: Positions) -> int | None:
    """Records between the ledger and the end of every owned partition; None if unknown."""
    owned = client.assignment()
    if not owned or not owned <= set(positions.next):
        return None  # a partition is still waiting for its seek
    try:
        return positions.behind(client.end_offsets(sorted(owned)))
    except BrokerFailure:
        return None  # the broker is away: we cannot know we drained it
